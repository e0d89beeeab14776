"""kill -9 the collector at random moments: after restarts nothing is missing, nothing doubled."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import urllib3
from prometheus_client.parser import text_string_to_metric_families

from podslo.webserver import free_port
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import serve_in_thread
from tests.conftest import ROOT

DUMP = r"""
import json, sys
from podslo.store import Store
store = Store(sys.argv[1])
rows = store.rows("SELECT uid, rv, event_type FROM raw_pods FINAL WHERE cluster = 'crash'")
raw = store.scalar("SELECT count() FROM raw_pods FINAL WHERE cluster = 'crash'")
print(json.dumps({"rows": rows, "final_count": raw}))
"""


def _collector(url: str, dsn: str, listen: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "collect",
            "--cluster",
            "crash",
            "--server",
            url,
            "--dsn",
            dsn,
            "--flush-s",
            "0.2",
            "--listen",
            listen,
            "--qps",
            "1000",
            "--burst",
            "1000",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _metric(listen: str, series: tuple) -> float | None:
    """The sum of the collector's /metrics samples named `series[0]` whose labels include
    `series[1]` (None: none there, or not answering)."""
    name, labels = series
    try:
        text = urllib3.PoolManager().request("GET", f"http://{listen}/metrics", timeout=1).data.decode()
    except urllib3.exceptions.HTTPError:
        return None
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return sum(values) if values else None


RESUME = ("podslo_collector_resume_resource_version", {"cluster": "crash", "resource": "pods"})
WRITTEN = ("podslo_collector_rows_written_total", {"cluster": "crash", "table": "raw_pods"})
RELISTS = ("podslo_collector_relists_total", {"cluster": "crash", "resource": "pods"})  # any cause


def _wait_for_resume_point(listen: str, rv: int, timeout: float = 60) -> None:
    """Until the collector has stored a resume point at or past `rv` (it has caught up)."""
    _wait_for_metric(listen, RESUME, at_least=rv, timeout=timeout)


def _dump(dsn: str) -> dict:
    return json.loads(
        subprocess.run([sys.executable, "-c", DUMP, dsn], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )


def test_kill_9_loses_and_doubles_nothing(tmp_path):
    engine = Engine(load_profile("default"), seed=21, nodes=5, pods_per_minute=300)
    server, thread, url = serve_in_thread(engine)
    dsn = f"chdb://{tmp_path}/db"
    rng = random.Random(7)
    try:
        listen = f"127.0.0.1:{free_port()}"
        first = _collector(url, dsn, listen)
        # the cluster is held still until the first list's resume point is stored: a kill
        # before that makes the restart list again, which records state, not history
        _wait_for_resume_point(listen, 0)
        first_list_rv = engine.rv  # nothing moved since the list
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        for _ in range(5):  # run, let the cluster move, kill -9 at a random moment
            proc = _collector(url, dsn)
            end = time.monotonic() + rng.uniform(1.5, 3.5)
            while time.monotonic() < end:
                engine.advance(engine.now_ms + 3000)
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        listen = f"127.0.0.1:{free_port()}"
        proc = _collector(url, dsn, listen)  # the last run ends cleanly once caught up
        newest = max(int(o["metadata"]["resourceVersion"]) for o in engine.objects["pods"].values())
        _wait_for_resume_point(listen, newest)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        server.should_exit = True
        thread.join(5)
    dumped = _dump(dsn)
    stored = {(uid, rv) for uid, rv, _ in dumped["rows"]}
    assert len(dumped["rows"]) == dumped["final_count"] == len({(u, r, t) for u, r, t in dumped["rows"]})
    latest = {uid: max(rv for u, rv in stored if u == uid) for uid, _ in stored}
    for obj in engine.objects["pods"].values():
        assert latest.get(obj["metadata"]["uid"]) == int(obj["metadata"]["resourceVersion"]), "latest state stored"
    served = {(o["metadata"]["uid"], rv) for rv, res, _, o in engine.log if res == "pods" and rv > first_list_rv}
    missing = served - stored
    # every change served after the first list is stored (a kill may only cost a re-read, never a gap)
    assert not missing, f"{len(missing)} changes lost, e.g. {sorted(missing)[:3]}"


@pytest.mark.parametrize("forms", [("paged",), ("streaming",)], ids=["paged", "streaming"])
def test_kill_9_during_relists_loses_nothing(tmp_path, forms):
    """Lists of 20,000 pods (40 pages, or one streaming list) killed at random moments
    while the cluster moves; then a restart on a still cluster, run until caught up and
    killed too. After each such round every live pod is stored at its current version,
    every pod deleted while the collector was down is recorded as gone, and no state is
    stored twice. (An apiserver serving paged lists only makes the collector fall back
    from the streaming and the cached forms.)"""
    engine = Engine(load_profile("default"), seed=5, nodes=60, pods_per_minute=4000)
    while len(engine.objects["pods"]) < 20_000:
        engine.advance(engine.now_ms + 60_000)
    server, thread, url = serve_in_thread(engine, forms=forms)
    dsn = f"chdb://{tmp_path}/db"
    rng = random.Random(11)
    victims, during = [], 0
    try:
        for round_ in range(3):
            if round_:  # the stored resume point expires: this run must list (the first has none)
                engine.advance(engine.now_ms + 5000)
                engine.compact()
            listen = f"127.0.0.1:{free_port()}"
            proc = _collector(url, dsn, listen)
            _wait_for_metric(listen, RELISTS)  # this run has begun to list
            if round_ == 0:  # part of the list written: a random point of its progress
                _wait_for_metric(listen, WRITTEN, at_least=rng.randint(2000, 15_000))
            else:
                end = time.monotonic() + rng.uniform(0.3, 3.0)
                while time.monotonic() < end:  # the cluster moves on meanwhile
                    engine.advance(engine.now_ms + 1000)
                    time.sleep(0.05)
            during += _metric(listen, RESUME) is None  # its list not yet complete
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            with engine.lock:  # while it is down: pods deleted, and new ones
                names = rng.sample(sorted(engine.objects["pods"]), 20)
            for namespace, name in names:
                victims.append(engine.objects["pods"][(namespace, name)]["metadata"]["uid"])
                engine.delete_pod(namespace, name, grace=0)
            engine.advance(engine.now_ms + 20_000)
            listen = f"127.0.0.1:{free_port()}"
            proc = _collector(url, dsn, listen)
            _wait_for_resume_point(listen, engine.rv, timeout=120)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            _assert_stored_as_served(engine, _dump(dsn)["rows"], victims)
    finally:
        server.should_exit = True
        thread.join(5)
    assert during >= 2, f"only {during} of 3 kills fell inside a list"


def _wait_for_metric(listen: str, series: tuple, at_least: float = 0, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (value := _metric(listen, series)) is None or value < at_least:
        assert time.monotonic() < deadline, f"no {series} within {timeout}s"
        time.sleep(0.05)


def _assert_stored_as_served(engine: Engine, rows: list, victims: list[str]) -> None:
    last: dict[str, tuple[int, bool]] = {}  # uid -> (newest rv, gone)
    for uid, rv, kind in rows:
        last[uid] = max(last.get(uid, (0, False)), (rv, kind == "DELETED"))
    live = {o["metadata"]["uid"]: int(o["metadata"]["resourceVersion"]) for o in engine.objects["pods"].values()}
    missing = [uid for uid, rv in live.items() if last.get(uid) != (rv, False)]
    assert not missing, f"{len(missing)} live pods not stored at their current version, e.g. {missing[:3]}"
    not_gone = [uid for uid in set(last) - set(live) if not last[uid][1]]
    assert not not_gone, f"{len(not_gone)} pods deleted while away not recorded as gone, e.g. {not_gone[:3]}"
    assert all(last[uid][1] for uid in victims if uid in last)
    states = Counter((uid, rv) for uid, rv, kind in rows if kind != "DELETED")
    doubled = [key for key, n in states.items() if n > 1]
    assert not doubled, f"{len(doubled)} states stored twice (as ADDED and MODIFIED), e.g. {doubled[:3]}"


def test_several_clusters_in_one_process(tmp_path):
    engines = [Engine(load_profile("default"), seed=s, nodes=3, pods_per_minute=120) for s in (31, 32)]
    served = [serve_in_thread(e) for e in engines]
    config = tmp_path / "clusters.yaml"
    config.write_text(
        "clusters:\n" + "".join(f"  - {{name: c{i}, server: {url}}}\n" for i, (_, _, url) in enumerate(served))
    )
    dsn = f"chdb://{tmp_path}/db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "collect",
            "--clusters",
            str(config),
            "--dsn",
            dsn,
            "--listen",
            "",
            "--flush-s",
            "0.2",
            "--spool-dir",
            str(tmp_path / "spool"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(40):
            for engine in engines:
                engine.advance(engine.now_ms + 3000)
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read().decode()
    finally:
        for server, thread, _ in served:
            server.should_exit = True
            thread.join(5)
    script = (
        "import json, sys\nfrom podslo.store import Store\n"
        "print(json.dumps(Store(sys.argv[1]).rows('SELECT cluster, uniqExact(uid) FROM raw_pods GROUP BY cluster ORDER BY cluster')))"
    )
    counts = json.loads(
        subprocess.run([sys.executable, "-c", script, dsn], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    live = [len(e.objects["pods"]) for e in engines]
    assert [c for c, _ in counts] == ["c0", "c1"]
    assert all(n >= want for (_, n), want in zip(counts, live)), (counts, live)
