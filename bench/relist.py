"""`podslo bench relist`: what listing a large simulated cluster from scratch costs, the
collector (its own process) and the apiserver alike: the collector's peak memory, and
the requests and bytes the apiserver served, by verb and form; then, optionally, the
requests of a steady hour (measured over `steady_s` seconds of a moving cluster).

`collector_root` runs the collector of another checkout (a "before" figure)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import urllib3

from bench import ROOT
from podslo.webserver import free_port
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import FORMS, Clock, serve_in_thread


def run_relist_bench(
    pods: int,
    nodes: int = 5000,
    seed: int = 1,
    forms: tuple[str, ...] = FORMS,
    steady_s: float = 0.0,
    churn_per_minute: float = 600.0,
    collector_root: str | None = None,
    resources: str = "pods,nodes,events",
) -> dict:
    engine = Engine(load_profile("default"), seed=seed, nodes=nodes, pods_per_minute=6000, retain=50_000)
    while len(engine.objects["pods"]) < pods:
        engine.advance(engine.now_ms + 60_000)
    server, thread, url = serve_in_thread(engine, forms=forms)
    listen = f"127.0.0.1:{free_port()}"
    figures = {
        "pods_listed": len(engine.objects["pods"]),
        "events_listed": len(engine.objects["events"]),
        "nodes": nodes,
        "forms_served": ",".join(forms),
        "resources": resources,
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    _cli_module(collector_root or ROOT),
                    "collect",
                    "--cluster",
                    "bench",
                    "--server",
                    url,
                    "--dsn",
                    f"chdb://{tmp}/db",
                    "--listen",
                    listen,
                    "--spool-dir",
                    f"{tmp}/spool",
                    *(["--resources", resources] if resources != "pods,nodes,events" else []),
                ],
                cwd=collector_root or ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait_until_listed(listen, engine.rv, proc, len(resources.split(",")))
                figures.update(
                    wall_s=round(time.perf_counter() - started, 1), collector_peak_rss_mb=_peak_rss_mb(proc.pid)
                )
                listed = _served(url)
                figures.update(_per_form("restart", listed))
                if steady_s:
                    figures.update(_steady(engine, url, listed, steady_s, churn_per_minute))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
    finally:
        server.should_exit = True
        thread.join(10)
    return figures


def _steady(engine: Engine, url: str, before: dict, seconds: float, churn_per_minute: float) -> dict:
    """Requests while the cluster moves at wall speed for `seconds` (the measurement
    window itself, not a wait), as a rate an hour."""
    engine.pods_per_minute = churn_per_minute
    clock = Clock(engine, 1.0)
    clock.thread.start()
    time.sleep(seconds)
    clock.stop.set()
    after = _served(url)
    requests = sum(n.get("requests", 0) for n in after.values()) - sum(n.get("requests", 0) for n in before.values())
    read = sum(n.get("bytes", 0) for n in after.values()) - sum(n.get("bytes", 0) for n in before.values())
    return {
        "steady_s": seconds,
        "steady_churn_pods_per_minute": churn_per_minute,
        "steady_requests_per_hour": round(requests * 3600 / seconds),
        "steady_mb_per_hour": round(read * 3600 / seconds / 1e6, 1),
    }


def _served(url: str) -> dict:
    return orjson.loads(urllib3.request("GET", url + "/simulator/v1/served").data)["served"]


def _per_form(prefix: str, served: dict) -> dict:
    out = {}
    for what, counts in served.items():
        key = what.replace(" ", "_")
        out[f"{prefix}_{key}_requests"] = counts.get("requests", 0)
        out[f"{prefix}_{key}_mb"] = round(counts.get("bytes", 0) / 1e6, 1)
    return out


def _wait_until_listed(listen: str, rv: int, proc: subprocess.Popen, resources: int, timeout: float = 1800) -> None:
    """Until every resource's stored resume point has reached `rv` (the cluster stands still)."""
    http = urllib3.PoolManager()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            text = http.request("GET", f"http://{listen}/metrics", timeout=2, retries=False).data.decode()
        except urllib3.exceptions.HTTPError:
            text = ""
        points = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("podslo_collector_resume_resource_version{")
        ]
        if len(points) == resources and min(points) >= rv:
            return
        time.sleep(0.5)
    raise RuntimeError("the collector did not finish its lists")


def _peak_rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM")


def _cli_module(root: Path) -> str:
    """The command line's module in a checkout (older ones kept it in podslo/)."""
    return "app.cli" if (Path(root) / "app" / "cli.py").exists() else "podslo.cli"
