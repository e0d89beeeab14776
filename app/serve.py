"""`podslo serve`, the composition root: the one always-on process. It owns the store (the
embedded engine admits one process) and runs the collectors or a simulated cluster, the
analysis loop, webhook delivery, the weekly report's schedule, and one HTTP listener:
/healthz, /metrics, POST /audit and the API under /api/v1."""

from __future__ import annotations

import threading

from analyzer.alerting.delivery import Outbox
from analyzer.alerting.outbox import reconcile
from analyzer.alerting.receivers import receivers_of
from app.analysis_loop import AnalysisLoop
from app.report_schedule import run_reports
from app.serve_metrics import ServeMetrics
from app.simulation import Simulation
from podslo.store import Store
from slo_rules import Rules


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
    audit_token: str | None = None,
    api_token: str | None = None,
    say=print,
    **collect_options,
) -> AnalysisLoop:
    """Run everything until `stop` is set, then flush: the collectors' rows, one last analysis
    round, and the notifications that can be delivered."""
    from collector.collect import SERVICE_CONNECTIONS, ClusterSpec, start_collectors
    from collector.service import make_service
    from podslo.webserver import serve_app_in_thread

    end_simulation = None
    if simulation:
        url, end_simulation = simulation.start()
        specs = [ClusterSpec(simulation.cluster, server=url)]
        say(
            f"simulated cluster {simulation.cluster!r} ({simulation.profile} profile, {simulation.nodes} nodes, "
            f"{simulation.pods_per_minute:g} pods/min, {simulation.speed:g}x) serving the Kubernetes API on {url}"
        )
    host, _, port = listen.rpartition(":")
    external_url = f"http://{host or '127.0.0.1'}:{port}"
    collectors = start_collectors(store, specs, say=say, **collect_options)
    receivers = receivers_of(rules, list(webhooks))
    analysis = AnalysisLoop(
        store, rules, [s.name for s in specs] if specs else None, receivers, external_url, analyze_every
    )
    outbox = Outbox(store, receivers)
    reconcile(store, receivers, external_url)
    threads = [
        threading.Thread(target=analysis.run, args=(stop,), name="analyst", daemon=True),
        threading.Thread(target=outbox.run, args=(stop,), name="webhooks", daemon=True),
    ]
    if rules.spec.report:
        threads.append(
            threading.Thread(
                target=run_reports, args=(store, rules, analysis, simulation, stop), name="report", daemon=True
            )
        )
    for thread in threads:
        thread.start()
    app = make_app(
        store,
        rules,
        analysis,
        make_service(collectors, audit_token, more_metrics=(ServeMetrics(analysis, outbox),)),
        api_token,
    )
    server, http_thread, _ = serve_app_in_thread(
        app, int(port), host or "127.0.0.1", limit_concurrency=SERVICE_CONNECTIONS
    )
    say(
        f"podslo serve: API {external_url}/api/v1 (docs: /api/v1/docs), /metrics, /healthz; "
        f"analyzing every {analyze_every:g}s; {len(receivers)} webhook receiver(s)"
    )
    stop.wait()
    say("stopping: flushing collectors, one last analysis, pending notifications")
    for collector in collectors:
        collector.shutdown()
    if end_simulation:
        end_simulation()
    for thread in threads:
        thread.join(60)
    analysis.run_round()
    outbox.deliver_due()
    server.should_exit = True
    http_thread.join(5)
    return analysis


def make_app(store: Store, rules: Rules, analysis: AnalysisLoop, service, api_token: str | None = None):
    """One listener: the API under /api/v1, the collector's service (/metrics, /healthz, /audit)."""
    from analyzer.api.app import make_api

    app = make_api(store, rules, analysis.clusters, api_token)
    app.mount("/", service)
    return app
