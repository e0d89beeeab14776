"""Benchmarks of the always-on loop: alert latency (`podslo bench alert`) and the analysis
round under a steady pod rate (`podslo bench tick`)."""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
import time
from functools import partial

from analyzer.alerting.delivery import Outbox
from analyzer.alerting.receivers import Receiver
from analyzer.slo.budget import burn_rate
from app.analysis_loop import AnalysisLoop
from app.simulation import clock_start
from collector.collect import Collector
from collector.source import KubeSource
from podslo.store import Store
from podslo.supervisor import Supervisor
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import Clock, serve_in_thread
from slo_rules import load_rules

CLUSTER = "bench"
# delivery SLI over (t - w, t] straight from the verdicts, to the millisecond
_WINDOW = """SELECT countIf(outcome = 'success'), countIf(outcome = 'success' OR ifNull(attribution, '') = 'system')
FROM pod_verdicts FINAL WHERE cluster = {cluster:String} AND decided_at > {since:DateTime64(3)}
  AND decided_at <= {until:DateTime64(3)} AND outcome IN ('success', 'failed', 'timeout')"""


class _Arrivals(http.server.BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.got.append((time.monotonic(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _running(profile: str, speed: float, pods_per_minute: float, every_s: float, receivers: list):
    """A simulated cluster served, collected and analyzed in this process."""
    engine = Engine(load_profile(profile), seed=1, nodes=20, pods_per_minute=pods_per_minute, start=clock_start(speed))
    server, thread, url = serve_in_thread(engine)
    store = Store(f"chdb://{tempfile.mkdtemp(prefix='podslo-bench-')}")
    rules = load_rules()
    collector = Collector(store, KubeSource(server=url), CLUSTER, flush_s=0.5).start()
    clock = Clock(engine, speed)
    clock.thread.start()
    analysis = AnalysisLoop(store, rules, [CLUSTER], receivers, "http://bench", every_s)
    return engine, server, store, rules, collector, clock, analysis


def run_alert_bench(
    speed: float = 10.0, pods_per_minute: float = 120.0, every_s: float = 1.0, timeout_s: float = 600.0
) -> dict:
    """A CNI outage from minute 5: from the moment the page condition first held (recomputed
    afterwards from the stored verdicts, to the second) to the page's arrival at a webhook
    receiver, in cluster seconds."""
    _Arrivals.got = []
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Arrivals)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    receiver = Receiver("bench", f"http://127.0.0.1:{hook.server_address[1]}/", ("page",))
    engine, server, store, rules, collector, clock, analysis = _running(
        "cni-outage", speed, pods_per_minute, every_s, [receiver]
    )
    stop = threading.Event()
    outbox = Outbox(store, [receiver])
    supervisor = Supervisor(stop)
    supervisor.every("analysis", analysis.run_round, every_s)
    supervisor.every("webhook", partial(outbox.drain, receiver.name), 0.2)
    deadline = time.monotonic() + timeout_s
    while not _Arrivals.got and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    clock.stop.set()
    collector.shutdown()
    server.should_exit = True
    if not _Arrivals.got:
        raise RuntimeError(f"no page within {timeout_s:g}s")
    arrived = clock.sim0 + int((_Arrivals.got[0][0] - clock.wall0) * 1000 * speed)
    crossed = _first_crossing(store, rules, clock.sim0 + 5 * 60_000, arrived)
    return {
        "speed": speed,
        "pods_per_minute": pods_per_minute,
        "analyze_every_s": every_s,
        "page_condition_first_held_cluster_s": round((crossed - clock.sim0) / 1000, 1) if crossed else None,
        "page_arrived_cluster_s": round((arrived - clock.sim0) / 1000, 1),
        "alert_latency_cluster_s": round((arrived - crossed) / 1000, 1) if crossed else None,
        "analysis_round_s_mean": round(analysis.busy_s / max(analysis.rounds, 1), 3),
    }


def _first_crossing(store: Store, rules, since: int, until: int) -> int | None:
    """The first cluster millisecond (1 s steps) at which both windows of a page pair of the
    delivery SLO burned above their factor, on enough events."""
    slo = next(s for s in rules.spec.slos if s.sli == "delivery")
    alerting = rules.alerting(slo)
    pairs = [p for p in alerting.windows if p.severity == "page"]
    for t in range(since, until + 1, 1000):
        for pair in pairs:
            burns = []
            for window in (pair.long, pair.short):
                good, total = store.rows(_WINDOW, cluster=CLUSTER, since=(t - window.s * 1000) / 1000, until=t / 1000)[
                    0
                ]
                burns.append(burn_rate(good, total, slo.objective) or 0.0)
                if window is pair.long and total < alerting.min_events:
                    burns.append(0.0)
            if min(burns) > pair.factor:
                return t
    return None


def run_tick_bench(pods_per_minute: float = 2000.0, minutes: float = 3.0, every_s: float = 5.0) -> dict:
    """Serve's analysis loop on a cluster creating `pods_per_minute` in real time: seconds a
    round takes, and the share of one CPU the whole process used meanwhile."""
    engine, server, store, rules, collector, clock, analysis = _running("default", 1.0, pods_per_minute, every_s, [])
    stop = threading.Event()
    warm = time.monotonic() + 60  # the first minute fills the cluster
    Supervisor(stop).every("analysis", analysis.run_round, every_s)
    while time.monotonic() < warm:
        time.sleep(0.5)
    ticks0, busy0, cpu0, wall0 = analysis.rounds, analysis.busy_s, _cpu(), time.monotonic()
    time.sleep(minutes * 60)
    ticks, busy, cpu, wall = analysis.rounds - ticks0, analysis.busy_s - busy0, _cpu() - cpu0, time.monotonic() - wall0
    stop.set()
    clock.stop.set()
    collector.shutdown()
    server.should_exit = True
    pods = int(store.scalar("SELECT count() FROM pod_verdicts FINAL WHERE cluster = {c:String}", c=CLUSTER))
    return {
        "pods_per_minute": pods_per_minute,
        "measured_s": round(wall, 1),
        "rounds": ticks,
        "round_s_mean": round(busy / max(ticks, 1), 3),
        "analysis_busy_share": round(busy / wall, 3),
        "process_cpu_share_of_one_core": round(cpu / wall, 3),
        "pods_decided": pods,
    }


def _cpu() -> float:
    times = os.times()
    return times.user + times.system
