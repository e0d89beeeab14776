"""`podslo demo`: the whole pipeline on one machine, against a simulated cluster."""

from __future__ import annotations

import time

from analyzer import read
from analyzer.sli import delivery_success_rate
from analyzer.trace import build_trace, render_trace
from analyzer.verdicts import analyze
from collector.collect import Collector
from collector.source import KubeSource
from podslo.store import Store
from podslo.tables import node_table, pod_table, reason_table
from simulator.accuracy import compare
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import Clock, serve_in_thread
from slo_rules import Rules

def run_demo(store: Store, rules: Rules, minutes: float, speed: float, profile: str, seed: int, say=print) -> None:
    # each run is a new simulated cluster, so its verdicts get a cluster name of their own
    cluster = time.strftime("demo-%Y%m%d-%H%M%S", time.gmtime())
    engine = Engine(load_profile(profile), seed=seed, nodes=20, pods_per_minute=120)
    server, thread, url = serve_in_thread(engine)
    say(f"simulated cluster ({profile} profile, 20 nodes, 120 pods/min) serving the Kubernetes API on {url}")
    say(f"  try meanwhile: kubectl --server {url} get pods -A")
    collector = Collector(store, KubeSource(server=url), cluster, flush_s=0.5).start()
    clock = Clock(engine, speed)
    clock.thread.start()
    wall = minutes * 60 / speed
    say(f"collecting {minutes:g} cluster minutes ({wall:.0f} s at {speed:g}x) into {store.dsn} ...")
    deadline = time.monotonic() + wall
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(deadline - time.monotonic(), 0)))
        say(f"  {collector.stats.received['pods']} pod and {collector.stats.received['events']} event changes so far")
    clock.stop.set()
    time.sleep(1.5)  # let the last changes arrive
    collector.shutdown()
    server.should_exit = True
    thread.join(5)
    result = analyze(store, cluster, rules)
    say(f"analyzed cluster {cluster!r}: {result.pods} pod verdicts, {result.nodes} node verdicts")
    _report(store, engine, cluster, rules, say)


def _report(store: Store, engine: Engine, cluster: str, rules: Rules, say) -> None:
    verdicts = read.pods(store, cluster)
    trouble = [p for p in verdicts if p["outcome"] in ("failed", "timeout") or (p.get("deletion") or {}).get("stuck")]
    say("\nwhy pods were not delivered, or will not go away:\n" + reason_table(trouble))
    say(f"\nsome of them (all: podslo pods --cluster {cluster}):\n" + pod_table(trouble[:12]))
    say("\nnodes:\n" + node_table(read.nodes(store, cluster)))
    if trouble:
        one = build_trace(store, trouble[0]["uid"], cluster, rules)
        say("\none of them in detail (podslo trace):\n" + render_trace(one))
    delivered, due = delivery_success_rate(verdicts)
    say(f"\ndelivery success rate: {delivered}/{due} = {delivered / max(due, 1):.2%} (delivered / (all due - user failures))")
    truth = [p for p in engine.truth()["pods"]]
    agreement = compare(truth, verdicts)
    say(f"verdicts agreeing with what the simulator injected: {agreement['agree']}/{agreement['pods'] - agreement['missing']}"
        f" = {agreement['accuracy']:.2%}")

