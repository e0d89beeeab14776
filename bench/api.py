"""`podslo bench api`: the API's latency over real HTTP on a store holding a week of N pods
(a simulated cluster's 20 minutes, replayed for pods with a full story, and N verdicts made
in ClickHouse over the week before)."""

from __future__ import annotations

import random
import statistics
import tempfile
import time

import httpx

from analyzer.api.app import make_api
from analyzer.lifecycle.facts import cluster_now
from analyzer.lifecycle.verdicts import analyze
from bench.week_data import NAMESPACES, SYSTEM_REASONS, fill_week
from podslo.store import Store
from podslo.webserver import serve_app_in_thread
from slo_rules import load_rules

CLUSTER = "bench"


def _story_store(store: Store, rules) -> None:
    """20 minutes of a simulated cluster with an outage, replayed and analyzed."""
    import io

    from collector.replay import replay
    from simulator.run import recording

    data = recording("cni-outage", 1200, seed=3, nodes=50, pods_per_minute=300)[1]
    replay(store, io.BufferedReader(io.BytesIO(data)), CLUSTER, lambda line, message: None)
    analyze(store, CLUSTER, rules)


def _requests(store: Store, now_s: int, rng: random.Random, each: int) -> dict[str, list[tuple[str, dict]]]:
    """The requests to time, by route: filters a person would set, pods with and without a story."""
    day = 86400
    few = max(each // 5, 3)
    uids = [
        r[0]
        for r in store.rows(
            "SELECT uid FROM pod_verdicts FINAL WHERE cluster = {c:String} ORDER BY cityHash64(uid) LIMIT {n:UInt32}",
            c=CLUSTER,
            n=each,
        )
    ]
    pods = []
    for _ in range(each):
        since = now_s - rng.randrange(1, 7) * day
        pods.append(
            rng.choice(
                [
                    {
                        "cluster": CLUSTER,
                        "namespace": rng.choice(NAMESPACES),
                        "outcome": "failed",
                        "attribution": "system",
                    },
                    {"cluster": CLUSTER, "reason": rng.choice(SYSTEM_REASONS), "since": since, "until": since + day},
                    {"cluster": CLUSTER, "node": f"node-{rng.randrange(5000)}"},
                    {"cluster": CLUSTER, "stuck": "true"},
                    {"cluster": CLUSTER, "namespace": rng.choice(NAMESPACES), "since": since},
                ]
            )
            | {"limit": 100}
        )
    series = [
        ({"cluster": CLUSTER, "from": now_s - 7 * day, "to": now_s, "step": 3600}, "pod-delivery"),
        ({"cluster": CLUSTER, "from": now_s - day, "to": now_s, "step": 300}, "pod-startup-latency"),
        ({"cluster": CLUSTER, "from": now_s - 7 * day, "to": now_s, "step": 3600}, "pod-deletion"),
    ]
    return {
        "/pods (filters)": [("/pods", p) for p in pods],
        "/pods/{uid}/trace": [(f"/pods/{uid}/trace", {"cluster": CLUSTER}) for uid in uids],
        "/slos/*/series": [
            (f"/slos/{name}/series", params) for i in range(each) for params, name in [series[i % len(series)]]
        ],
        "/slos": [("/slos", {"cluster": CLUSTER})] * few,
        "/slos/{name}": [("/slos/pod-delivery", {"cluster": CLUSTER})] * few,
        "/delivery (week)": [("/delivery", {"cluster": CLUSTER})] * few,
        "/workloads (week)": [("/workloads", {"cluster": CLUSTER, "since": now_s - 7 * day, "limit": 100})] * few,
        "/reasons (week, hourly)": [
            ("/reasons", {"cluster": CLUSTER, "since": now_s - 7 * day, "until": now_s, "step": 3600})
        ]
        * few,
        "/nodes (week)": [("/nodes", {"cluster": CLUSTER, "since": now_s - 7 * day})] * few,
        "/terminating": [("/terminating", {"cluster": CLUSTER})] * few,
        "/startup-latency": [("/startup-latency", {"cluster": CLUSTER, "days": 7})] * few,
        "/alerts": [("/alerts", {})] * few,
        "/unknowns": [("/unknowns", {"cluster": CLUSTER})] * few,
        "/clusters": [("/clusters", {})] * few,
    }


def _timed(client: httpx.Client, path: str, params: dict) -> float:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    took = time.perf_counter() - started
    answer.raise_for_status()
    return took


def run_api_bench(pods: int = 1_000_000, each: int = 40, seed: int = 1) -> dict:
    rng = random.Random(seed)
    rules = load_rules()
    with tempfile.TemporaryDirectory(prefix="podslo-bench-api-") as tmp:
        store = Store(f"chdb://{tmp}/db")
        started = time.perf_counter()
        _story_store(store, rules)
        story_s = time.perf_counter() - started
        now_s = cluster_now(store, CLUSTER)[0] // 1000
        filled = fill_week(store, rules, CLUSTER, pods, now_s - 1200, seed=seed)
        held = store.scalar("SELECT count() FROM pod_verdicts FINAL WHERE cluster = {c:String}", c=CLUSTER)
        server, thread, url = serve_app_in_thread(make_api(store, rules, lambda: [CLUSTER]))
        figures = {"pods": held, "story_s": round(story_s, 1), **filled}
        with httpx.Client(base_url=f"{url}/api/v1", timeout=60) as client:
            for route, calls in _requests(store, now_s, rng, each).items():
                _timed(client, *calls[0])  # warm: the first query of a kind compiles
                times = sorted(_timed(client, path, params) for path, params in calls)
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                figures[route] = (
                    f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                    f"max {times[-1] * 1000:.0f} ms ({len(times)} requests)"
                )
        server.should_exit = True
        thread.join(5)
        store.close()
    return figures
