"""`podslo bench verdicts`: ingest + analysis throughput on a generated stream."""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tempfile
import time

from analyzer.lifecycle import sli_minutes
from analyzer.lifecycle.verdicts import analyze
from collector.replay import replay
from podslo.store import Store
from slo_rules import load_rules

PODS_PER_MINUTE = 2000


def run_verdict_bench(pods: int, seed: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="podslo-bench-") as tmp:
        stream_path = os.path.join(tmp, "stream.jsonl")
        started = time.perf_counter()
        # the simulated cluster runs in its own process: its memory is not the analyzer's
        minutes = math.ceil(pods / PODS_PER_MINUTE)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "simulate",
                "--until",
                f"{minutes}m",
                "--seed",
                str(seed),
                "--nodes",
                "200",
                "--pods-per-minute",
                str(PODS_PER_MINUTE),
                "--record",
                stream_path,
            ],
            check=True,
            capture_output=True,
        )
        generate_s = time.perf_counter() - started
        store = Store(f"chdb://{tmp}/db")
        rules = load_rules()
        started = time.perf_counter()
        cpu0 = time.process_time()
        with open(stream_path, "rb") as stream:
            tally = replay(store, stream, "bench", lambda line, message: None)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        _merged(store)
        settle_s = time.perf_counter() - started
        started = time.perf_counter()
        result = analyze(store, "bench", rules)
        analyze_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu0
        started = time.perf_counter()
        again = analyze(store, "bench", rules)
        reanalyze_s = time.perf_counter() - started
        started = time.perf_counter()
        sli_minutes.rebuild_pod_minutes(store, "bench", sli_minutes.scopes(rules), time.time_ns() // 1_000_000, None)
        sli_rebuild_s = time.perf_counter() - started
        store.close()
        return {
            "pods": result.pods,
            "stream_mb": round(os.path.getsize(stream_path) / 1e6, 1),
            "objects": sum(tally.taken.values()),
            "generate_s": round(generate_s, 2),
            "ingest_s": round(ingest_s, 2),
            "settle_s": round(settle_s, 2),  # the ingested parts' background merges, waited out
            "objects_per_s": round(sum(tally.taken.values()) / ingest_s),
            "analyze_s": round(analyze_s, 2),
            "verdicts": result.pods,
            "verdicts_per_s": round(result.pods / analyze_s),
            "end_to_end_pods_per_s": round(pods / (ingest_s + settle_s + analyze_s)),
            "reanalyze_s": round(reanalyze_s, 2),
            "reanalyzed_pods": again.pods,
            "sli_rebuild_s": round(sli_rebuild_s, 2),  # every SLI minute of the pod SLIs, from the verdicts
            "cpu_s": round(cpu_s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }


def _merged(store: Store, timeout_s: float = 600) -> None:
    """Wait until ClickHouse has run no merge for two seconds: a bulk ingest leaves many small
    parts, and merging them is the ingest's cost, not the analysis's (in a live store they run
    between rounds). Polls with a deadline; a store still merging past it is measured as is."""
    deadline, quiet = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and quiet < 4:
        running = store.scalar("SELECT count() FROM system.merges WHERE database = currentDatabase()")
        quiet = 0 if running else quiet + 1
        time.sleep(0.5)
