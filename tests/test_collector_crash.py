"""kill -9 the collector at random moments: after restarts nothing is missing, nothing doubled."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import urllib3

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
    return subprocess.Popen([sys.executable, "-m", "podslo.cli", "collect", "--cluster", "crash", "--server", url,
                             "--dsn", dsn, "--flush-s", "0.2", "--listen", listen], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_resume_point(listen: str, rv: int, timeout: float = 60) -> None:
    """Until the collector has stored a resume point at or past `rv` (it has caught up)."""
    http = urllib3.PoolManager()
    key = 'podslo_collector_resume_resource_version{cluster="crash",resource="pods"} '
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = http.request("GET", f"http://{listen}/metrics", timeout=1).data.decode()
            line = next((l for l in text.splitlines() if l.startswith(key)), None)
            if line and float(line.split()[-1]) >= rv:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the collector did not catch up to resourceVersion {rv}")


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
    dumped = json.loads(subprocess.run([sys.executable, "-c", DUMP, dsn], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    stored = {(uid, rv) for uid, rv, _ in dumped["rows"]}
    assert len(dumped["rows"]) == dumped["final_count"] == len({(u, r, t) for u, r, t in dumped["rows"]})
    latest = {uid: max(rv for u, rv in stored if u == uid) for uid, _ in stored}
    for obj in engine.objects["pods"].values():
        assert latest.get(obj["metadata"]["uid"]) == int(obj["metadata"]["resourceVersion"]), "latest state stored"
    served = {(o["metadata"]["uid"], rv) for rv, res, _, o in engine.log if res == "pods" and rv > first_list_rv}
    missing = served - stored
    # every change served after the first list is stored (a kill may only cost a re-read, never a gap)
    assert not missing, f"{len(missing)} changes lost, e.g. {sorted(missing)[:3]}"


def test_several_clusters_in_one_process(tmp_path):
    engines = [Engine(load_profile("default"), seed=s, nodes=3, pods_per_minute=120) for s in (31, 32)]
    served = [serve_in_thread(e) for e in engines]
    config = tmp_path / "clusters.yaml"
    config.write_text("clusters:\n" + "".join(f"  - {{name: c{i}, server: {url}}}\n" for i, (_, _, url) in enumerate(served)))
    dsn = f"chdb://{tmp_path}/db"
    proc = subprocess.Popen([sys.executable, "-m", "podslo.cli", "collect", "--clusters", str(config), "--dsn", dsn,
                             "--listen", "", "--flush-s", "0.2", "--spool-dir", str(tmp_path / "spool")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    script = ("import json, sys\nfrom podslo.store import Store\n"
              "print(json.dumps(Store(sys.argv[1]).rows('SELECT cluster, uniqExact(uid) FROM raw_pods GROUP BY cluster ORDER BY cluster')))")
    counts = json.loads(subprocess.run([sys.executable, "-c", script, dsn], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    live = [len(e.objects["pods"]) for e in engines]
    assert [c for c, _ in counts] == ["c0", "c1"]
    assert all(n >= want for (_, n), want in zip(counts, live)), (counts, live)
