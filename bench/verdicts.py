"""`podslo bench verdicts`: ingest + analysis throughput on a generated stream."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyzer.lifecycle import sli_minutes
from analyzer.lifecycle.verdicts import analyze
from collector.replay import replay
from podslo.store import Store
from slo_rules import load_rules

PODS_PER_MINUTE = 2000


def run_verdict_bench(pods: int, seed: int = 1, data: str | None = None) -> dict:
    """Generate, ingest and analyze `pods` pods. With `data`, the ingested store is kept there
    (per pods and seed) and a later run analyzes a copy of it instead of generating again (the
    generate and ingest figures are then the kept run's)."""
    with tempfile.TemporaryDirectory(prefix="podslo-bench-") as tmp:
        kept = Path(data) / f"pods-{pods}-seed-{seed}" if data else None
        reused = kept is not None and (kept / "ingested.json").is_file()
        if reused:
            made = json.loads((kept / "ingested.json").read_text())
            shutil.copytree(kept / "db", f"{tmp}/db", symlinks=True)
        else:
            made = _generate_and_ingest(tmp, pods, seed)
            if kept is not None:
                shutil.rmtree(kept, ignore_errors=True)
                shutil.copytree(f"{tmp}/db", kept / "db", symlinks=True)
                (kept / "ingested.json").write_text(json.dumps(made))
        store = Store(f"chdb://{tmp}/db")
        rules = load_rules()
        started = time.perf_counter()
        _merged(store)
        settle_s = time.perf_counter() - started
        cpu0 = time.process_time()
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
            **made,
            "settle_s": round(settle_s, 2),  # the ingested parts' background merges, waited out
            "analyze_s": round(analyze_s, 2),
            "verdicts": result.pods,
            "verdicts_per_s": round(result.pods / analyze_s),
            "end_to_end_pods_per_s": round(pods / (made["ingest_s"] + settle_s + analyze_s)),
            "reanalyze_s": round(reanalyze_s, 2),
            "reanalyzed_pods": again.pods,
            "sli_rebuild_s": round(sli_rebuild_s, 2),  # every SLI minute of the pod SLIs, from the verdicts
            "cpu_s": round(cpu_s, 2),  # the analysis's CPU time (this process's: embedded ClickHouse's is in it)
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "reused": str(kept) if reused else "",
        }


def _generate_and_ingest(tmp: str, pods: int, seed: int) -> dict:
    """A simulated cluster's recording of `pods` pods replayed into a new store at tmp/db."""
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
    started = time.perf_counter()
    with open(stream_path, "rb") as stream:
        tally = replay(store, stream, "bench", lambda line, message: None)
    ingest_s = time.perf_counter() - started
    store.close()  # its parts' merges go on when it is opened again (settle_s waits them out)
    objects = sum(tally.taken.values())
    stream_mb = round(os.path.getsize(stream_path) / 1e6, 1)
    os.remove(stream_path)
    return {
        "stream_mb": stream_mb,
        "objects": objects,
        "generate_s": round(generate_s, 2),
        "ingest_s": round(ingest_s, 2),
        "objects_per_s": round(objects / ingest_s),
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
