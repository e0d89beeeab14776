"""Component logs: parsed, stored once, shown in the trace, and evidence for the rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from analyzer.lifecycle.verdicts import analyze
from analyzer.read.trace import build_trace, render_trace
from collector.klog import parse_line
from collector.logs import collect_logs, read_lines
from simulator.stories import Scene, _running_then_deleted
from tests.golden.generate import T0

UID = "5c1e0b7e-1d7c-4d52-9d45-2f0a5d3e8b11"


@pytest.mark.parametrize(
    "line,expected",
    [
        (
            'I0302 10:00:01.250000    1234 kubelet.go:2187] "SyncLoop ADD" source="api" pods=["shop/web-1"]',
            ("info", "shop", "web-1", ""),
        ),
        (
            f'E0302 10:00:05.000000    1234 pod_workers.go:1298] "Error syncing pod, skipping" err="x" pod="shop/web-2" podUID="{UID}"',
            ("error", "shop", "web-2", UID),
        ),
        (
            json.dumps(
                {
                    "ts": 1772445605.5,
                    "caller": "kubelet/kubelet.go:1",
                    "msg": "Error syncing pod",
                    "err": "boom",
                    "pod": {"name": "web-3", "namespace": "shop"},
                    "podUID": UID,
                }
            ),
            ("error", "shop", "web-3", UID),
        ),
        (
            f'time="2026-03-02T10:00:05.123456789Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{{Name:web-4,Uid:{UID},'
            'Namespace:shop,Attempt:0,} failed, error" error="failed to setup network for sandbox"',
            ("error", "shop", "web-4", UID),
        ),
        (
            f'E0302 10:00:05.000000    1234 reconciler.go:200] UnmountVolume failed for volume "data" pod "web-5_shop({UID})" : x',
            ("error", "shop", "web-5", UID),
        ),
    ],
)
def test_line_formats(line, expected):
    parsed = parse_line(line, 2026)
    assert (parsed.severity, parsed.namespace, parsed.name, parsed.uid) == expected
    assert parsed.at // 1000 in (1772445601, 1772445605, 1772445605)


def test_unknown_lines_are_skipped(store, cluster):
    counts = collect_logs(store, cluster, "kubelet", iter(["not a log line\n", '{"json": 1}\n', ""]))
    assert counts["taken"] == 0 and counts["skipped"] == 3


def test_a_teardown_failure_in_the_kubelet_log_decides_a_stuck_deletion(ingest, store):
    scene = Scene(T0)
    pod, _ = _running_then_deleted(scene, "web-0", T0)
    scene.heartbeat(T0 + timedelta(seconds=2400))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    before = ingest.pods()["web-0"]["deletion"]
    assert before["stuck"] and before["reason"] == "KubeletNotConfirming"  # nothing else to go on
    at = T0 + timedelta(seconds=pod.deleted_at + 35)
    line = (
        f'E{at:%m%d %H:%M:%S}.000000    2417 nestedpendingoperations.go:348] Operation for "{{volumeName:kubernetes.io/'
        f'csi/ebs.csi.aws.com^vol-0a podName:{pod.uid} nodeName:}}" failed. Error: UnmountVolume.TearDown failed for '
        f'volume "data" (UniqueName: "kubernetes.io/csi/ebs.csi.aws.com^vol-0a") pod "{pod.uid}" (UID: "{pod.uid}") : '
        f'rpc error: code = Internal desc = unmount failed: exit status 32 podUID="{pod.uid}"\n'
    )
    lines = [
        line,
        f'I{at:%m%d %H:%M:%S}.100000    2417 kubelet.go:2187] "SyncLoop DELETE" source="api" pods=["default/web-0"]\n',
    ]
    for _ in range(2):  # reading the same log twice stores it once
        counts = collect_logs(store, ingest.cluster, "kubelet", iter(lines), node="node-1", year=T0.year)
    assert counts["taken"] == 2 and counts["about a pod"] == 2
    assert store.scalar("SELECT count() FROM raw_logs FINAL WHERE cluster = {c:String}", c=ingest.cluster) == 2
    analyze(store, ingest.cluster, ingest.rules)
    after = ingest.pods()["web-0"]["deletion"]
    assert after["reason"] == "VolumeDetach" and "UnmountVolume.TearDown failed" in after["evidence"]
    text = render_trace(build_trace(store, "web-0", ingest.cluster))
    assert "log    kubelet@node-1 error" in text and "SyncLoop DELETE" in text


def test_follow_reads_across_rotation(tmp_path):
    path = tmp_path / "kubelet.log"
    path.write_text("one\n")
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=lambda: seen.extend(read_lines([str(path)], follow=True, poll_s=0.05, stop=stop)))
    reader.start()
    time.sleep(0.2)
    with path.open("a") as handle:
        handle.write("two\n")
    time.sleep(0.2)
    with path.open("a") as handle:
        handle.write("three\n")  # written just before the rotation...
    os.rename(path, tmp_path / "kubelet.log.1")
    path.write_text("four\n")  # ...and the new file
    time.sleep(0.4)
    stop.set()
    reader.join(5)
    assert [s.strip() for s in seen] == ["one", "two", "three", "four"]


GOOD = 'I0302 10:00:{s:02d}.250000    1234 kubelet.go:2187] "SyncLoop ADD" source="api" pods=["shop/web-{s}"]\n'


def test_a_bad_time_is_counted_and_its_neighbours_kept(store, cluster):
    lines = [
        GOOD.format(s=1),
        "E1399 10:00:00.000000 1 x.go:1] month 13\n",
        GOOD.format(s=2),
        '{"ts": "garbage", "msg": "x"}\n',
        GOOD.format(s=3),
    ]
    problems = []
    counts = collect_logs(store, cluster, "kubelet", iter(lines), "n1", 2026, problem=lambda n, m: problems.append(n))
    assert (counts["taken"], counts["bad"]) == (3, 2) and problems == [2, 4]
    assert store.scalar("SELECT count() FROM raw_logs WHERE cluster = {c:String}", c=cluster) == 3


def test_sigterm_writes_what_is_held_and_a_missing_file_is_one_line(tmp_path):
    from tests.conftest import ROOT, run_podslo

    log = tmp_path / "kubelet.log"
    log.write_text("".join(GOOD.format(s=s) for s in range(40)))
    dsn = f"chdb://{tmp_path}/db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "collect-logs",
            "--cluster",
            "c",
            "--component",
            "kubelet",
            "--node",
            "n1",
            "--follow",
            "--dsn",
            dsn,
            str(log),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline, idle = time.monotonic() + 60, 0
    while idle < 2:  # the whole file read and the main thread waiting for more: its rows held
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        idle = idle + 1 if _read_to_end(proc.pid, log) and _sleeping(proc.pid) else 0
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from podslo.store import Store; "
            "print(Store(sys.argv[1]).scalar('SELECT count() FROM raw_logs'))",
            dsn,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert count == "40"
    missing = run_podslo(
        "collect-logs", "--cluster", "c", "--component", "kubelet", "--dsn", dsn, str(tmp_path / "nope.log"), cwd=ROOT
    )
    assert missing.returncode == 1 and b"Traceback" not in missing.stderr
    assert missing.stderr.decode().strip().splitlines() == [f"Error: no such file: {tmp_path / 'nope.log'}"]


def _sleeping(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "S"


def _read_to_end(pid: int, path) -> bool:
    """Has process `pid` read its open `path` to the end? (its file position, from /proc)"""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                pos = int(open(f"/proc/{pid}/fdinfo/{fd}").read().split()[1])
                return pos >= path.stat().st_size
        except OSError:
            continue
    return False
