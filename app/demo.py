"""`podslo demo`: the whole thing on one machine - a simulated cluster with an incident,
`serve` (collect, analyze, SLOs, alerts, API) and the board - and a terminal summary."""

from __future__ import annotations

import signal
import threading
import time

from analyzer import read
from analyzer.alerting.health import cluster_rows, slo_rows
from analyzer.alerting.state import alert_dicts
from analyzer.alerting.state import firing as firing_alerts
from analyzer.read.trace import build_trace
from app.board import start_board
from app.serve import run_serve
from app.simulation import Simulation
from app.terminal import slo_table, table
from podslo.config import SIMULATED_PROBE_EVERY_S
from podslo.store import Store
from podslo.timeutil import parse_ms
from podslo.webserver import next_free_port, wait_http
from simulator.accuracy import compare
from slo_rules import Rules

INCIDENT_SEEN_S = 15 * 60  # the demo profiles' incidents start at minute 5: by 15 they have paged
# ... and end at minute 20: the page clears once the short window has stayed calm for keep_firing_for,
# by minute 40 or so (later at a high --speed: serve evaluates every 5 s of wall time)
RECOVERY_BY_S = 75 * 60


def run_demo(
    store: Store,
    rules: Rules,
    *,
    minutes: float | None,
    speed: float,
    profile: str,
    seed: int,
    api_port: int,
    board_port: int,
    say=print,
) -> None:
    """With `minutes`, simulate that many cluster minutes, print the summary and return;
    without, also start the board and serve until Ctrl-C (KeyboardInterrupt)."""
    host = "127.0.0.1"
    api_port = next_free_port(host, api_port)
    cluster = time.strftime("demo-%Y%m%d-%H%M%S", time.gmtime())  # each run is a new simulated cluster
    simulation = Simulation(
        cluster, profile, speed, seed, nodes=20, pods_per_minute=120, for_s=minutes * 60 if minutes else None
    )
    stop = threading.Event()
    serving = threading.Thread(
        target=run_serve,
        args=(store, rules, [], stop),
        name="serve",
        kwargs=dict(
            simulation=simulation,
            listen=f"{host}:{api_port}",
            probe_every=SIMULATED_PROBE_EVERY_S,
            say=lambda text: say(f"  {text}"),
        ),
    )
    say(
        f"podslo demo: a simulated cluster {cluster!r} ({profile} profile, 20 nodes, 120 pods a minute, "
        f"{speed:g}x wall time), collected and analyzed into {store.dsn}"
    )
    serving.start()
    api = f"http://{host}:{api_port}"
    if not wait_http(f"{api}/healthz", serving.is_alive):
        raise SystemExit("podslo demo: serve did not come up (see the lines above)")
    board = None
    # SIGTERM ends the demo as Ctrl-C does, so the board it started is stopped with it
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if minutes is None:
            board = _start_board(api, host, board_port, say)
            say(f"\n  board: {board[1]}\n  API:   {api}/api/v1 (docs {api}/api/v1/docs)\n")
            say(
                f"the incident starts at cluster minute 5; a summary follows at minute {INCIDENT_SEEN_S // 60} "
                f"(in {INCIDENT_SEEN_S / speed:.0f} s)"
            )
            _wait_cluster_time(simulation, INCIDENT_SEEN_S)
            say(summary(store, rules, cluster, simulation))
            say(f"\nthe incident ends at cluster minute 20; how it recovers follows (in {RECOVERY_BY_S / speed:.0f} s)")
            _wait_recovery(store, cluster, simulation)
            say(alert_story(store, cluster, simulation.clock.sim0))
            say(f"\nserving until Ctrl-C - board {board[1]}, API {api}/api/v1")
            stop.wait()
        else:
            simulation.clock.ended.wait()
            time.sleep(2.0)  # the last watch events reach the collector
            stop.set()
            serving.join()
            say(summary(store, rules, cluster, simulation))
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        if board:
            board[0].terminate()
        serving.join(90)


def _start_board(api: str, host: str, port: int, say) -> tuple:
    port = next_free_port(host, port)
    process = start_board(api, port, address=host)
    url = f"http://{host}:{port}"
    if not wait_http(f"{url}/_stcore/health", lambda: process.poll() is None, timeout_s=90):
        say("  the board did not come up (run `podslo board` by hand to see why); the API serves on")
    return process, url


def _wait_recovery(store: Store, cluster: str, simulation: Simulation) -> None:
    """Until no alert fires in the cluster any more (past the incident), or RECOVERY_BY_S."""
    clock = simulation.clock
    while (simulation.engine.now_ms - clock.sim0) / 1000 < RECOVERY_BY_S and not clock.ended.is_set():
        past_incident = (simulation.engine.now_ms - clock.sim0) / 1000 > INCIDENT_SEEN_S + 5 * 60
        if past_incident and not firing_alerts(store, cluster):
            return
        time.sleep(1.0)


def alert_story(store: Store, cluster: str, start_ms: int) -> str:
    """Each alert of the run: when it fired and resolved, in cluster minutes."""
    minute = lambda at: f"minute {(at - start_ms) / 60000:.0f}"
    lines = []
    for a in sorted(alert_dicts(store, cluster, None, 50), key=lambda a: a["starts_at"]):
        fired, ended = parse_ms(a["starts_at"]), parse_ms(a["ends_at"]) if a["ends_at"] else None
        lines.append(
            f"  {a['severity']} {a['alertname']} {a['slo']}: fired at {minute(fired)}, "
            + (f"resolved at {minute(ended)}" if ended else "still firing")
        )
    health = cluster_rows(store, [cluster])[0]["health"]
    return "\nalerts of the run:\n" + ("\n".join(lines) or "  none") + f"\ncluster {cluster} now: {health}"


def _wait_cluster_time(simulation: Simulation, seconds: float) -> None:
    clock = simulation.clock
    while (simulation.engine.now_ms - clock.sim0) / 1000 < seconds and not clock.ended.is_set():
        time.sleep(0.5)
    time.sleep(6.0)  # one analysis round past it


def summary(store: Store, rules: Rules, cluster: str, simulation: Simulation) -> str:
    """What the demo showed, for the terminal: health, each SLO, the incident's top reasons
    in plain language, one pod's story, and how well the verdicts agree with the simulator."""
    lines = []
    row = cluster_rows(store, [cluster])[0]
    lines.append(
        f"\ncluster {cluster}: {row['health']} ({row['pods_seen']} pods seen, newest data {row['last_data_at']})"
    )
    lines.append(slo_table(slo_rows(store, rules, [cluster])))
    top = list(read.platform_reasons(store, cluster, None, None).items())[:5]
    if top:
        lines.append("\nwhy the platform failed pods (the incident):")
        lines.append(
            table(
                ["PODS", "REASON", "WHAT IT MEANS"],
                [[n, reason, (rules.explain(reason) or {}).get("means", "")] for reason, n in top],
                {2: 90},
            )
        )
        # the newest such pod: one from the incident, not from the hours before it
        example = read.pod_page(store, cluster, 1, reason=top[0][0], attribution="system", newest_first=True)[0]
        if example:
            found = build_trace(store, example[0]["uid"], cluster, rules)
            check = (found.get("explanation") or {}).get("check", "")
            lines.append(
                f"\ne.g. {example[0]['namespace']}/{example[0]['name']}: {example[0]['evidence']}"
                f"\n  first check: {check}\n  its whole story: podslo trace --cluster {cluster} "
                f"{example[0]['uid']} (after the demo), or the board's Pod trace page"
            )
    stuck = read.terminating(store, cluster)
    if stuck:
        lines.append("leftover Terminating pods: " + ", ".join(f"{r['pods']} {r['reason']}" for r in stuck))
    agreement = compare(simulation.engine.truth()["pods"], read.pods(store, cluster))
    lines.append(
        f"verdicts agreeing with what the simulator injected: {agreement['agree']}/"
        f"{agreement['pods'] - agreement['missing']} = {agreement['accuracy']:.2%}"
    )
    return "\n".join(lines)
