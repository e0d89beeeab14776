"""The collector's HTTP side: Prometheus /metrics, /healthz, and the apiserver's audit
webhook (`--audit-webhook-config-file` pointing at POST /audit)."""

from __future__ import annotations

import time

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from podslo.timeutil import now_ms

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatsCollector:
    """Reads the collectors' counters at scrape time (the hot path only bumps counters)."""

    def __init__(self, collectors: list):
        self.collectors = collectors

    def collect(self):
        counters = {
            "events_received": ("received", "Watch events received, by resource."),
            "malformed": ("malformed", "Objects skipped as malformed, by resource."),
            "watch_restarts": ("restarts", "Watches restarted after an error, by resource."),
            "relists": ("relists", "Full lists (start, or after 410 Gone), by resource."),
            "gone_while_away": ("gone_while_away", "Objects found deleted on relist, by resource."),
        }
        for name, (attr, help_text) in counters.items():
            family = CounterMetricFamily(f"podslo_collector_{name}", help_text, labels=["cluster", "resource"])
            for c in self.collectors:
                for resource, value in getattr(c.stats, attr).items():
                    family.add_metric([c.sink.cluster, resource], value)
            yield family
        written = CounterMetricFamily("podslo_collector_rows_written", "Rows written to the store, by table.",
                                      labels=["cluster", "table"])
        pending = GaugeMetricFamily("podslo_collector_pending_rows", "Rows waiting for the next write.",
                                    labels=["cluster"])
        resume = GaugeMetricFamily("podslo_collector_resume_resource_version",
                                   "resourceVersion of the stored resume point.", labels=["cluster", "resource"])
        silence = GaugeMetricFamily("podslo_collector_seconds_since_heard",
                                    "Seconds since the last watch event or bookmark (lag).", labels=["cluster", "resource"])
        for c in self.collectors:
            for table, value in c.sink.writer.written.items():
                written.add_metric([c.sink.cluster, table], value)
            pending.add_metric([c.sink.cluster], c.sink.writer.held)
            for resource, rv in c.stats.resume_at.items():
                if str(rv).isdigit():
                    resume.add_metric([c.sink.cluster, resource], int(rv))
            for resource, heard in c.stats.last_heard.items():
                silence.add_metric([c.sink.cluster, resource], time.monotonic() - heard)
        yield written
        spool = GaugeMetricFamily("podslo_collector_spool_bytes", "Bytes waiting in the spool.", labels=["cluster"])
        for c in self.collectors:
            if c.sink.spool is not None:
                spool.add_metric([c.sink.cluster], c.sink.spool.size())
        yield pending
        yield spool
        yield resume
        yield silence


def make_service(collectors: list) -> Starlette:
    registry = CollectorRegistry()
    registry.register(StatsCollector(collectors))
    by_cluster = {c.sink.cluster: c for c in collectors}

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        stopped = [c.sink.cluster for c in collectors if c.stop.is_set()]
        return PlainTextResponse("stopping" if stopped else "ok", status_code=503 if stopped else 200)

    async def audit(request: Request) -> Response:
        """An audit.k8s.io/v1 EventList from the apiserver's webhook backend."""
        cluster = request.query_params.get("cluster") or next(iter(by_cluster))
        target = by_cluster.get(cluster)
        if target is None:
            return PlainTextResponse(f"unknown cluster {cluster!r}", status_code=404)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return PlainTextResponse(f"invalid JSON: {exc}", status_code=400)
        items = body.get("items") if isinstance(body, dict) and body.get("kind") == "EventList" else [body]
        observed = now_ms()
        for item in items or []:
            target.sink.add("audit", item, observed)
        target.stats.received["audit"] += len(items or [])
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz),
                             Route("/audit", audit, methods=["POST"])])
