"""The collector's HTTP side: Prometheus /metrics, /healthz, and the apiserver's audit
webhook (`--audit-webhook-config-file` pointing at POST /audit).

/audit takes a body only with the configured bearer token (the webhook kubeconfig's
`user.token`), up to a size limit, and for a named cluster: anyone who can reach it
could otherwise write what podslo reads as the cluster's history.
"""

from __future__ import annotations

import asyncio
import hmac
import time

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
            "gone_while_away": ("gone_while_away", "Objects found deleted on relist, by resource."),
        }
        for name, (attr, help_text) in counters.items():
            family = CounterMetricFamily(f"podslo_collector_{name}", help_text, labels=["cluster", "resource"])
            for c in self.collectors:
                for resource, value in getattr(c.stats, attr).items():
                    family.add_metric([c.sink.cluster, resource], value)
            yield family
        relists = CounterMetricFamily(
            "podslo_collector_relists",
            "Full lists, by resource and cause (start, "
            "expired: 410 Gone, too-large: a resourceVersion the cluster has not reached).",
            labels=["cluster", "resource", "cause"],
        )
        for c in self.collectors:
            for (resource, cause), value in c.stats.relist_causes.items():
                relists.add_metric([c.sink.cluster, resource, cause], value)
        yield relists
        written = CounterMetricFamily(
            "podslo_collector_rows_written", "Rows written to the store, by table.", labels=["cluster", "table"]
        )
        pending = GaugeMetricFamily(
            "podslo_collector_pending_rows", "Rows waiting for the next write.", labels=["cluster"]
        )
        resume = GaugeMetricFamily(
            "podslo_collector_resume_resource_version",
            "resourceVersion of the stored resume point.",
            labels=["cluster", "resource"],
        )
        silence = GaugeMetricFamily(
            "podslo_collector_seconds_since_heard",
            "Seconds since the last watch event or bookmark (lag).",
            labels=["cluster", "resource"],
        )
        quarantined = CounterMetricFamily(
            "podslo_collector_rows_quarantined",
            "Rows the store refused for their content, kept in the quarantine table, by table.",
            labels=["cluster", "table"],
        )
        for c in self.collectors:
            for table, value in c.sink.writer.written.items():
                written.add_metric([c.sink.cluster, table], value)
            for table, value in c.sink.writer.quarantined.items():
                quarantined.add_metric([c.sink.cluster, table], value)
            pending.add_metric([c.sink.cluster], c.sink.writer.held)
            for resource, rv in c.stats.resume_at.items():
                if str(rv).isdigit():
                    resume.add_metric([c.sink.cluster, resource], int(rv))
            for resource, heard in c.stats.last_heard.items():
                silence.add_metric([c.sink.cluster, resource], time.monotonic() - heard)
        yield written
        yield quarantined
        spool = GaugeMetricFamily("podslo_collector_spool_bytes", "Bytes waiting in the spool.", labels=["cluster"])
        for c in self.collectors:
            if c.sink.spool is not None:
                spool.add_metric([c.sink.cluster], c.sink.spool.size())
        yield pending
        yield spool
        yield resume
        yield silence


AUDIT_MAX_BYTES = 16 << 20  # the apiserver batches up to 400 events (--audit-webhook-batch-max-size)
AUDIT_BODY_S = 30.0  # a body that trickles in slower than this is cut off (408)


def make_service(
    collectors: list,
    audit_token: str | None = None,
    audit_max_bytes: int = AUDIT_MAX_BYTES,
    more_metrics: tuple = (),
    health=None,
) -> Starlette:
    """`more_metrics`: further Prometheus collectors /metrics reads (serve's SLO gauges).
    `health()`: the supervisor's view (podslo.supervisor); /healthz is 503 with it as JSON
    while anything is unhealthy or the process is stopping."""
    registry = CollectorRegistry()
    for source in (StatsCollector(collectors), *more_metrics):
        registry.register(source)
    by_cluster = {c.sink.cluster: c for c in collectors}

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        stopped = [c.sink.cluster for c in collectors if c.stop.is_set()]
        state = health() if health is not None else {"status": "ok", "unhealthy": {}}
        if stopped:
            state = {**state, "status": "stopping"}
        return JSONResponse(state, status_code=200 if state["status"] == "ok" else 503)

    async def audit(request: Request) -> Response:
        """An audit.k8s.io/v1 EventList from the apiserver's webhook backend."""
        refused = _refuse_audit(request, audit_token)
        if refused:
            return refused
        cluster = request.query_params.get("cluster", "")
        target = by_cluster.get(cluster)
        if target is None:
            known = ", ".join(sorted(by_cluster))
            return PlainTextResponse(
                f"unknown cluster {cluster!r}: post to /audit?cluster=NAME, one of {known}", status_code=404
            )
        try:
            body = await asyncio.wait_for(_body_within(request, audit_max_bytes), AUDIT_BODY_S)
        except TimeoutError:
            return PlainTextResponse(f"body not received within {AUDIT_BODY_S:g}s", status_code=408)
        if body is None:
            return PlainTextResponse(f"body over {audit_max_bytes} bytes", status_code=413)
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return PlainTextResponse(f"invalid JSON: {exc}", status_code=400)
        items = _audit_events(body)
        if isinstance(items, str):
            return PlainTextResponse(items, status_code=400)
        observed = now_ms()
        for item in items:
            target.sink.add("audit", item, observed)
        target.stats.received["audit"] += len(items)
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/audit", audit, methods=["POST"])]
    )


def _audit_events(body) -> list[dict] | str:
    """The audit.k8s.io Events of an Event or EventList body, or why it is not one."""
    if not isinstance(body, dict) or not str(body.get("apiVersion", "")).startswith("audit.k8s.io/"):
        return "expected an audit.k8s.io/v1 Event or EventList"
    if body.get("kind") == "Event":
        return [body]
    items = body.get("items")
    if body.get("kind") != "EventList" or not isinstance(items, list):
        return "expected an audit.k8s.io/v1 Event or EventList"
    if not all(isinstance(item, dict) and item.get("kind") == "Event" for item in items):
        return "EventList.items: expected audit Events"
    return [{"apiVersion": body["apiVersion"], **item} for item in items]


def _refuse_audit(request: Request, token: str | None) -> Response | None:
    """401 without credentials, 403 with wrong ones (or when no token is configured)."""
    if not token:
        return PlainTextResponse(
            "the audit webhook is off: start podslo with --audit-token-file or PODSLO_AUDIT_TOKEN", status_code=403
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return PlainTextResponse(
            "bearer token required", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="podslo-audit"'}
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return PlainTextResponse("wrong token", status_code=403)
    return None


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, read no further than `limit` bytes (None past it, whatever the client declared)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
