"""`podslo bench api --clients N --seconds S`: N clients at once against a live `podslo serve
--simulate`, for S seconds: latency percentiles, errors, and the analysis round meanwhile
against its figure at rest."""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time

import httpx

from bench.serve_process import ServeProcess

ROUTES = [
    ("/healthz", {}),
    ("/api/v1/clusters", {}),
    ("/api/v1/slos", {}),
    ("/api/v1/slos/pod-delivery/series", {"cluster": "sim", "step": 3600}),
    ("/api/v1/pods", {"limit": 100, "outcome": "failed"}),
    ("/api/v1/pods", {"limit": 100, "namespace": "shop"}),
    ("/api/v1/delivery", {"cluster": "sim"}),
    ("/api/v1/reasons", {"cluster": "sim", "step": 600}),
    ("/api/v1/alerts", {}),
    ("/api/v1/workloads", {"limit": 50}),
]


def _client(url: str, deadline: float, seed: int, times: list, errors: list) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline:
            path, params = rng.choice(ROUTES)
            started = time.perf_counter()
            try:
                status = client.get(path, params=params).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            times.append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{path}: {status}")


def _round_s(serve: ServeProcess, seconds: float) -> float:
    """The analysis round's mean over `seconds`, from serve's own counters."""
    rounds0, busy0 = serve.metric("podslo_analyzer_rounds_total"), serve.metric("podslo_analyzer_busy_seconds_total")
    time.sleep(seconds)
    rounds, busy = serve.metric("podslo_analyzer_rounds_total"), serve.metric("podslo_analyzer_busy_seconds_total")
    return round((busy - busy0) / max(rounds - rounds0, 1), 3)


def run_api_load(clients: int = 50, seconds: float = 60, speed: float = 10, idle_s: float = 30) -> dict:
    with tempfile.TemporaryDirectory(prefix="podslo-bench-load-") as tmp:
        serve = ServeProcess(tmp, "--speed", str(speed))
        try:
            serve.wait_ready()
            idle = _round_s(serve, idle_s)
            times: list[float] = []
            errors: list[str] = []
            deadline = time.monotonic() + seconds
            threads = [
                threading.Thread(target=_client, args=(serve.url, deadline, i, times, errors), daemon=True)
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            loaded = _round_s(serve, seconds * 0.9)
            for thread in threads:
                thread.join(120)
            rss = serve.rss_mb()
        finally:
            stop_s = serve.stop()
    times.sort()

    def q(p):
        return round(times[min(len(times) - 1, int(p * len(times)))] * 1000) if times else None

    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(times),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "p50_ms": q(0.5),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "mean_ms": round(statistics.fmean(times) * 1000) if times else None,
        "analysis_round_idle_s": idle,
        "analysis_round_under_load_s": loaded,
        "serve_rss_mb": round(rss),
        "sigterm_to_exit_s": round(stop_s, 1),
    }
