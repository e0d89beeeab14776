"""`podslo serve`, the composition root: the one always-on process. It owns the store (the
embedded engine admits one process) and runs the collectors or a simulated cluster, the
analysis loop, webhook delivery (a loop per receiver), the weekly report's schedule, and one
HTTP listener: /healthz, /metrics, POST /audit and the API under /api/v1. Every loop runs
under one supervisor (podslo.supervisor), which /healthz reports."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from analyzer.alerting.alertmanager import AlertmanagerPush, alertmanagers_of
from analyzer.alerting.delivery import Outbox
from analyzer.alerting.outbox import drop_removed
from analyzer.alerting.receivers import receivers_of
from app.analysis_loop import AnalysisLoop
from app.report_schedule import ReportSchedule, report_round
from app.serve_metrics import ServeMetrics
from app.simulation import Simulation
from podslo.store import Store
from podslo.supervisor import Supervisor
from slo_rules import Rules

log = logging.getLogger(__name__)
STOP_S = 25.0  # SIGTERM to exit, at any speed: what is not done by then is done by the next start
DELIVER_EVERY_S = 1.0
PUSH_EVERY_S = 1.0  # how often each Alertmanager loop looks for a change to push


def run_serve(
    store: Store,
    rules: Rules,
    specs: list,
    stop: threading.Event,
    *,
    simulation: Simulation | None = None,
    listen: str = "127.0.0.1:8080",
    analyze_every: float = 5.0,
    webhooks: tuple[str, ...] = (),
    alertmanagers: tuple[str, ...] = (),
    audit_token: str | None = None,
    api_token: str | None = None,
    say=print,
    **collect_options,
) -> AnalysisLoop:
    """Run everything until `stop` is set, then flush within STOP_S: the collectors' rows, one
    last analysis round, and the notifications that can be delivered. An address that cannot
    be listened on ends it before anything starts (ListenError)."""
    from collector.collect import SERVICE_CONNECTIONS, ClusterSpec, start_collectors
    from collector.service import make_service
    from podslo.webserver import listen_on, serve_app_in_thread

    host, _, port = listen.rpartition(":")
    sock = listen_on(host or "127.0.0.1", int(port))
    external_url = f"http://{host or '127.0.0.1'}:{port}"
    supervisor = Supervisor(stop)
    end_simulation = None
    if simulation:
        url, end_simulation = simulation.start()
        specs = [ClusterSpec(simulation.cluster, server=url)]
        say(
            f"simulated cluster {simulation.cluster!r} ({simulation.profile} profile, {simulation.nodes} nodes, "
            f"{simulation.pods_per_minute:g} pods/min, {simulation.speed:g}x) serving the Kubernetes API on {url}"
        )
    collectors = start_collectors(store, specs, say=say, supervisor=supervisor, **collect_options)
    receivers = receivers_of(rules, list(webhooks))
    analysis = AnalysisLoop(
        store, rules, [s.name for s in specs] if specs else None, receivers, external_url, analyze_every
    )
    outbox = Outbox(store, receivers)
    outbox.dropped["receiver-removed"] += drop_removed(store, receivers)
    supervisor.every("analysis", analysis.run_round, analyze_every, stale_after_s=max(300.0, 10 * analyze_every))
    supervisor.watch("analysis of clusters", analysis.unwell)
    for receiver in receivers:
        supervisor.every(f"webhook {receiver.name}", partial(outbox.drain, receiver.name), DELIVER_EVERY_S)
    pushes = [
        AlertmanagerPush(store, target, analyze_every, external_url, rules.spec.board_url, lambda: analysis.offsets)
        for target in alertmanagers_of(rules.spec.alertmanagers, list(alertmanagers))
    ]
    for push in pushes:
        supervisor.every(f"alertmanager {push.target.name}", push.run, PUSH_EVERY_S)
    if rules.spec.report:
        schedule = ReportSchedule(store, rules, analysis.clusters)
        supervisor.every("report", partial(report_round, schedule, simulation), analyze_every)
    metrics = ServeMetrics(analysis, outbox, supervisor, pushes)
    service = make_service(collectors, audit_token, more_metrics=(metrics,), health=supervisor.health)
    app = make_app(store, rules, analysis, service, api_token)
    server, http_thread, _ = serve_app_in_thread(app, sock=sock, limit_concurrency=SERVICE_CONNECTIONS)
    say(
        f"podslo serve: API {external_url}/api/v1 (docs: /api/v1/docs), /metrics, /healthz; "
        f"analyzing every {analyze_every:g}s; {len(receivers)} webhook receiver(s), {len(pushes)} Alertmanager(s)"
    )
    stop.wait()
    _shut_down(say, collectors, end_simulation, supervisor, analysis, outbox, pushes)
    server.should_exit = True
    http_thread.join(2)
    return analysis


def _shut_down(
    say, collectors, end_simulation, supervisor: Supervisor, analysis: AnalysisLoop, outbox: Outbox, pushes: list
) -> None:
    """Within STOP_S: collectors write what they hold, the loops end, one last analysis round
    and delivery run if there is time (in a thread: a round cut short is redone by the next start)."""
    deadline = time.monotonic() + STOP_S
    say("stopping: flushing collectors, one last analysis, pending notifications")
    for collector in collectors:
        collector.shutdown(timeout=max(0.5, min(5.0, (deadline - time.monotonic()) / 3)))
    if end_simulation:
        end_simulation()
    supervisor.join(max(0.0, min(10.0, deadline - time.monotonic() - 5)))

    def last_round() -> None:
        analysis.run_round()
        outbox.deliver_due()
        for push in pushes:
            push.run()

    final = threading.Thread(target=last_round, name="last-round", daemon=True)
    final.start()
    final.join(max(0.0, deadline - time.monotonic()))
    if final.is_alive():
        log.warning("the last analysis round did not end within %.0fs; the next start takes it up", STOP_S)


def make_app(store: Store, rules: Rules, analysis: AnalysisLoop, service, api_token: str | None = None):
    """One listener: the API under /api/v1, the collector's service (/metrics, /healthz, /audit)."""
    from analyzer.api.app import make_api

    app = make_api(store, rules, analysis.clusters, api_token, generation=lambda: analysis.rounds)
    app.mount("/", service)
    return app
