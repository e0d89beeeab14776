"""`podslo bench relist`: peak memory of the real collector (its own process) listing a
large simulated cluster from scratch, page by page, until its resume point is stored."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import urllib3

from podslo.webserver import free_port
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]


def run_relist_bench(pods: int, nodes: int = 5000, seed: int = 1) -> dict:
    engine = Engine(load_profile("default"), seed=seed, nodes=nodes, pods_per_minute=6000, retain=50_000)
    while len(engine.objects["pods"]) < pods:
        engine.advance(engine.now_ms + 60_000)
    server, thread, url = serve_in_thread(engine)
    listen = f"127.0.0.1:{free_port()}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "podslo.cli", "collect", "--cluster", "bench", "--server",
                                     url, "--dsn", f"chdb://{tmp}/db", "--listen", listen,
                                     "--spool-dir", f"{tmp}/spool"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_until_listed(listen, engine.rv, proc)
                wall = time.perf_counter() - started
                peak = _peak_rss_mb(proc.pid)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    finally:
        server.should_exit = True
        thread.join(10)
    return {"pods_listed": len(engine.objects["pods"]), "events_listed": len(engine.objects["events"]),
            "nodes": nodes, "wall_s": round(wall, 1), "collector_peak_rss_mb": peak}


def _wait_until_listed(listen: str, rv: int, proc: subprocess.Popen, timeout: float = 1800) -> None:
    """Until every resource's stored resume point has reached `rv` (the cluster stands still)."""
    http = urllib3.PoolManager()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            text = http.request("GET", f"http://{listen}/metrics", timeout=2).data.decode()
        except urllib3.exceptions.HTTPError:
            text = ""
        points = [float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith("podslo_collector_resume_resource_version{")]
        if len(points) == 3 and min(points) >= rv:
            return
        time.sleep(0.5)
    raise RuntimeError("the collector did not finish its lists")


def _peak_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM")
