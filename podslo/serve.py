"""`podslo serve`: the one always-on process. It owns the store (the embedded engine admits
one process) and runs the collectors or a simulated cluster, the analyzer every few seconds,
SLO evaluation and alerting, webhook delivery, and one HTTP listener: /healthz, /metrics,
POST /audit and the API under /api/v1."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from analyzer import alerts as A
from analyzer.slo import SloStatus, evaluate
from analyzer.status import healths
from analyzer.verdicts import analyze
from analyzer.webhooks import Outbox
from podslo.store import Store
from slo_rules import Rules

log = logging.getLogger(__name__)
WEBHOOK_SECRET_ENV = "PODSLO_WEBHOOK_SECRET"

_VERDICT_COUNTS = """SELECT cluster, outcome, ifNull(attribution, ''), ifNull(reason, ''), count()
FROM pod_verdicts FINAL GROUP BY cluster, outcome, attribution, reason"""


@dataclass
class Tick:
    """What the last analysis round found, kept for /metrics."""
    seconds: float = 0.0
    statuses: list[SloStatus] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)


def receivers_of(rules: Rules, webhook_urls: list[str]) -> list[A.Receiver]:
    """The rule file's receivers, and one per --webhook URL (every severity, its secret from
    PODSLO_WEBHOOK_SECRET)."""
    return [A.Receiver.of(spec) for spec in rules.spec.receivers] + [
        A.Receiver(f"webhook-{i + 1}", url, secret=os.environ.get(WEBHOOK_SECRET_ENV) or None)
        for i, url in enumerate(webhook_urls)]


class Analyst:
    """The analysis loop: verdicts, SLIs, SLOs and alerts for each cluster (None: every cluster
    the store holds, looked up each round), every `every_s`."""

    def __init__(self, store: Store, rules: Rules, clusters: list[str] | None, receivers: list[A.Receiver],
                 external_url: str, every_s: float = 5.0):
        self.store, self.rules, self.names = store, rules, clusters
        self.receivers, self.external_url, self.every_s = receivers, external_url, every_s
        self.board_url = rules.spec.board_url
        self.last = Tick()
        self.ticks = 0
        self.busy_s = 0.0

    def clusters(self) -> list[str]:
        return list(self.names) if self.names is not None else self.store.clusters()

    def tick(self) -> Tick:
        started = time.monotonic()
        statuses, analyzed = [], []
        for cluster in self.clusters():
            result = analyze(self.store, cluster, self.rules)
            if not result.now:
                continue
            found = evaluate(self.store, self.rules, cluster, result.now)
            firing = {(a["slo"], a["severity"]) for a in A.firing(self.store, cluster)}
            conditions = [c for s in found
                          for c in A.burn_conditions(self.store, self.rules, s, self.board_url, firing)]
            conditions += A.guard_conditions(self.store, self.rules, cluster, result.now, self.board_url)
            for change in A.step(self.store, self.rules, cluster, result.now, conditions, self.receivers,
                                 self.external_url):
                log.warning("cluster %s: alert %s", cluster, change)
            statuses += found
            analyzed.append(cluster)
        self.last = Tick(time.monotonic() - started, statuses, healths(self.store, analyzed))
        self.ticks += 1
        self.busy_s += self.last.seconds
        return self.last

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad round must not end the service; the next one retries
                log.exception("analysis round failed")
            stop.wait(max(0.0, self.every_s - self.last.seconds))


class ServeMetrics:
    """SLO gauges and verdict counts for /metrics, from the last analysis round."""

    def __init__(self, analyst: Analyst, outbox: Outbox):
        self.analyst, self.outbox = analyst, outbox

    def collect(self):
        tick = self.analyst.last
        slo = {name: GaugeMetricFamily(f"podslo_slo_{name}", text, labels=labels) for name, text, labels in (
            ("objective", "The SLO's objective (0..1).", ["slo", "cluster"]),
            ("sli", "The SLI over a window (good / counted).", ["slo", "cluster", "window"]),
            ("budget_remaining", "Share of the error budget left over the SLO window (negative: overspent).",
             ["slo", "cluster"]),
            ("burn_rate", "Error budget burn rate over a window (1: spent exactly by the window's end).",
             ["slo", "cluster", "window"]),
            ("alert_firing", "1 while the SLO's alert of this severity fires.", ["slo", "cluster", "severity"]))}
        for s in tick.statuses:
            slo["objective"].add_metric([s.slo, s.cluster], s.objective)
            slo["budget_remaining"].add_metric([s.slo, s.cluster], s.budget_left)
            slo["sli"].add_metric([s.slo, s.cluster, s.window], s.current if s.current is not None else float("nan"))
            for window, value in s.sli_by_window.items():
                if window != s.window:
                    slo["sli"].add_metric([s.slo, s.cluster, window], value if value is not None else float("nan"))
            for window, burn in s.burn.items():
                slo["burn_rate"].add_metric([s.slo, s.cluster, window], burn if burn is not None else 0.0)
        for a in A.firing(self.analyst.store):
            slo["alert_firing"].add_metric([a["slo"], a["cluster"], a["severity"]], 1)
        yield from slo.values()
        verdicts = GaugeMetricFamily("podslo_pod_verdicts", "Pods by verdict (a verdict can still change while "
                                     "its pod lives, so this is a gauge).",
                                     labels=["cluster", "outcome", "attribution", "reason"])
        for cluster, outcome, attribution, reason, count in self.analyst.store.rows(_VERDICT_COUNTS):  # at scrape time
            verdicts.add_metric([cluster, outcome, attribution, reason], count)
        yield verdicts
        health_family = GaugeMetricFamily("podslo_cluster_health", "1 for the cluster's health (Healthy, Warning, "
                                          "Fatal: from the firing alerts' severities).", labels=["cluster", "health"])
        for cluster, value in tick.health.items():
            health_family.add_metric([cluster, value], 1)
        yield health_family
        yield GaugeMetricFamily("podslo_analyzer_round_seconds", "Seconds the last analysis round took.",
                                value=tick.seconds)
        yield GaugeMetricFamily("podslo_webhook_pending", "Notifications not delivered yet.",
                                value=self.outbox.pending())
        posts = CounterMetricFamily("podslo_webhook_posts", "Webhook posts since start, by result.", labels=["result"])
        posts.add_metric(["delivered"], self.outbox.delivered)
        posts.add_metric(["failed"], self.outbox.failed)
        yield posts


@dataclass
class Simulation:
    """An in-process simulated cluster (`serve --simulate`)."""
    cluster: str = "sim"
    profile: str = "default"
    speed: float = 1.0
    seed: int = 1
    nodes: int = 20
    pods_per_minute: float = 60.0
    for_s: float | None = None  # cluster seconds after which its clock stops
    engine: object = None  # once started
    clock: object = None

    def start(self):
        """Serve it over the Kubernetes API with its clock running; returns (url, stop)."""
        from simulator.engine import Engine
        from simulator.profile import load_profile
        from simulator.server import Clock, serve_in_thread
        engine = Engine(load_profile(self.profile), seed=self.seed, nodes=self.nodes,
                        pods_per_minute=self.pods_per_minute, start=clock_start(self.speed))
        server, thread, url = serve_in_thread(engine)
        self.engine = engine
        clock = self.clock = Clock(engine, self.speed, self.for_s)
        clock.thread.start()

        def stop() -> None:
            clock.stop.set()
            server.should_exit = True
            thread.join(5)
        return url, stop


def clock_start(speed: float):
    """Where a simulated cluster's clock starts: now, or, faster than wall time, in the past,
    so its timestamps never run ahead of the receive times (which bound "now": analyzer.facts)."""
    from datetime import datetime, timezone

    from simulator.engine import START
    return datetime.now(timezone.utc).replace(microsecond=0) if speed <= 1 else START


def run_serve(store: Store, rules: Rules, specs: list, stop: threading.Event, *, simulation: Simulation | None = None,
              listen: str = "127.0.0.1:8080", analyze_every: float = 5.0, webhooks: tuple[str, ...] = (),
              audit_token: str | None = None, api_token: str | None = None, say=print,
              **collect_options) -> Analyst:
    """Run everything until `stop` is set, then flush: the collectors' rows, one last analysis
    round, and the notifications that can be delivered."""
    from collector.collect import SERVICE_CONNECTIONS, ClusterSpec, start_collectors
    from collector.service import make_service
    from podslo.webserver import serve_app_in_thread
    end_simulation = None
    if simulation:
        url, end_simulation = simulation.start()
        specs = [ClusterSpec(simulation.cluster, server=url)]
        say(f"simulated cluster {simulation.cluster!r} ({simulation.profile} profile, {simulation.nodes} nodes, "
            f"{simulation.pods_per_minute:g} pods/min, {simulation.speed:g}x) serving the Kubernetes API on {url}")
    host, _, port = listen.rpartition(":")
    external_url = f"http://{host or '127.0.0.1'}:{port}"
    collectors = start_collectors(store, specs, say=say, **collect_options)
    receivers = receivers_of(rules, list(webhooks))
    analyst = Analyst(store, rules, [s.name for s in specs] if specs else None, receivers, external_url, analyze_every)
    outbox = Outbox(store, receivers)
    A.reconcile(store, receivers, external_url)
    threads = [threading.Thread(target=analyst.run, args=(stop,), name="analyst", daemon=True),
               threading.Thread(target=outbox.run, args=(stop,), name="webhooks", daemon=True)]
    if rules.spec.report:
        threads.append(threading.Thread(target=run_reports, args=(store, rules, analyst, simulation, stop),
                                        name="report", daemon=True))
    for thread in threads:
        thread.start()
    app = make_app(store, rules, analyst, make_service(collectors, audit_token,
                                                      more_metrics=(ServeMetrics(analyst, outbox),)), api_token)
    server, http_thread, _ = serve_app_in_thread(app, int(port), host or "127.0.0.1",
                                                 limit_concurrency=SERVICE_CONNECTIONS)
    say(f"podslo serve: API {external_url}/api/v1 (docs: /api/v1/docs), /metrics, /healthz; "
        f"analyzing every {analyze_every:g}s; {len(receivers)} webhook receiver(s)")
    stop.wait()
    say("stopping: flushing collectors, one last analysis, pending notifications")
    for collector in collectors:
        collector.shutdown()
    if end_simulation:
        end_simulation()
    for thread in threads:
        thread.join(60)
    analyst.tick()
    outbox.deliver_due()
    server.should_exit = True
    http_thread.join(5)
    return analyst


def run_reports(store: Store, rules: Rules, analyst: Analyst, simulation, stop: threading.Event) -> None:
    """The weekly report on its schedule, by the wall clock (a simulated cluster faster than
    the wall: by its own clock, so its weeks pass)."""
    from podslo.report_schedule import ReportSchedule
    schedule = ReportSchedule(store, rules, analyst.clusters)
    fast = simulation is not None and simulation.speed > 1
    while not stop.is_set():
        try:
            schedule.tick(simulation.engine.now_ms // 1000 if fast else int(time.time()))
        except Exception:  # the store away for a moment: the next round tries again
            log.exception("weekly report round failed")
        stop.wait(analyst.every_s)


def make_app(store: Store, rules: Rules, analyst: Analyst, service, api_token: str | None = None):
    """One listener: the API under /api/v1, the collector's service (/metrics, /healthz, /audit)."""
    from analyzer.api import make_api
    app = make_api(store, rules, analyst.clusters, api_token)
    app.mount("/", service)
    return app
