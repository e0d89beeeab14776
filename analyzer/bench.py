"""`podslo bench verdicts`: ingest + analysis throughput on a generated stream."""

from __future__ import annotations

import os
import resource
import tempfile
import time

from analyzer.verdicts import analyze
from collector.replay import replay
from podslo.store import Store
from simulator.mix import write_mix
from slo_rules import load_rules


def run_verdict_bench(pods: int, seed: int = 1) -> dict:
    with tempfile.TemporaryDirectory(prefix="podslo-bench-") as tmp:
        stream_path = os.path.join(tmp, "stream.jsonl")
        started = time.perf_counter()
        with open(stream_path, "wb") as out:
            write_mix(out, pods, seed)
        generate_s = time.perf_counter() - started
        store = Store(f"chdb://{tmp}/db")
        rules = load_rules()
        started = time.perf_counter()
        cpu0 = time.process_time()
        with open(stream_path, "rb") as stream:
            tally = replay(store, stream, "bench", lambda line, message: None)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        result = analyze(store, "bench", rules)
        analyze_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu0
        started = time.perf_counter()
        again = analyze(store, "bench", rules)
        reanalyze_s = time.perf_counter() - started
        store.close()
        return {
            "pods": pods,
            "stream_mb": round(os.path.getsize(stream_path) / 1e6, 1),
            "objects": sum(tally.taken.values()),
            "generate_s": round(generate_s, 2),
            "ingest_s": round(ingest_s, 2),
            "objects_per_s": round(sum(tally.taken.values()) / ingest_s),
            "analyze_s": round(analyze_s, 2),
            "verdicts": result.pods,
            "verdicts_per_s": round(result.pods / analyze_s),
            "end_to_end_pods_per_s": round(pods / (ingest_s + analyze_s)),
            "reanalyze_s": round(reanalyze_s, 2),
            "reanalyzed_pods": again.pods,
            "cpu_s": round(cpu_s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
