"""`podslo bench simulator`: memory for a large cluster, and watch events served per second."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

from simulator.engine import Engine
from simulator.profile import load_profile

# Runs in a separate process: one watch from the oldest retained change, counted.
_CLIENT = r"""
import sys, time, urllib3
url, expected = sys.argv[1], int(sys.argv[2])
http = urllib3.PoolManager()
start = time.perf_counter()
resp = http.request("GET", url, preload_content=False, timeout=urllib3.Timeout(connect=5, read=60))
events = 0
for chunk in resp.stream(1 << 20, decode_content=False):
    events += chunk.count(b"\n")
    if events >= expected:
        break
print(events, time.perf_counter() - start)
"""


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_simulator_bench(nodes: int, pods: int, seed: int = 1, watch_s: float = 10.0) -> dict:
    rss_before = _rss_mb()
    engine = Engine(load_profile("default"), seed=seed, nodes=nodes, pods_per_minute=3000, retain=400_000)
    started = time.perf_counter()
    while len(engine.pods) - nodes < pods:
        engine.advance(engine.now_ms + 60_000)
    build_s = time.perf_counter() - started
    live = len(engine.objects["pods"])
    result = {
        "nodes": nodes,
        "pods_created": len(engine.pods) - nodes,
        "pods_live": live,
        "events_live": len(engine.objects["events"]),
        "changes_applied": engine.rv - 1000,
        "build_s": round(build_s, 1),
        "changes_per_s_built": round((engine.rv - 1000) / build_s),
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss_before,
    }
    result.update(_serve_and_watch(engine, watch_s))
    return result


def _serve_and_watch(engine: Engine, watch_s: float) -> dict:
    from simulator.server import serve_in_thread

    server, thread, base = serve_in_thread(engine)
    url = f"{base}/api/v1/pods?watch=true&resourceVersion={engine.log_first_rv - 1}&timeoutSeconds={int(watch_s)}"
    with engine.lock:
        expected = sum(1 for entry in engine.log if entry[1] == "pods")
    cpu0 = time.process_time()
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, url, str(expected)], capture_output=True, text=True, timeout=watch_s + 120
    )
    server_cpu = time.process_time() - cpu0
    server.should_exit = True
    thread.join(10)
    events, wall = done.stdout.split()
    events, wall = int(events), float(wall)
    return {
        "watch_events": events,
        "watch_wall_s": round(wall, 2),
        "server_cpu_s": round(server_cpu, 2),
        "events_per_server_cpu_s": round(events / max(server_cpu, 1e-9)),
        "events_per_wall_s": round(events / wall),
    }
