"""Component logs: parsed, stored once, shown in the trace, and evidence for the rules."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta

import pytest

from analyzer.trace import build_trace, render_trace
from analyzer.verdicts import analyze
from collector.klog import parse_line
from collector.logs import collect_logs, read_lines
from simulator.stories import Scene, _running_then_deleted
from tests.golden.generate import T0

UID = "5c1e0b7e-1d7c-4d52-9d45-2f0a5d3e8b11"


@pytest.mark.parametrize("line,expected", [
    ('I0302 10:00:01.250000    1234 kubelet.go:2187] "SyncLoop ADD" source="api" pods=["shop/web-1"]',
     ("info", "shop", "web-1", "")),
    (f'E0302 10:00:05.000000    1234 pod_workers.go:1298] "Error syncing pod, skipping" err="x" pod="shop/web-2" podUID="{UID}"',
     ("error", "shop", "web-2", UID)),
    (json.dumps({"ts": 1772445605.5, "caller": "kubelet/kubelet.go:1", "msg": "Error syncing pod", "err": "boom",
                 "pod": {"name": "web-3", "namespace": "shop"}, "podUID": UID}), ("error", "shop", "web-3", UID)),
    (f'time="2026-03-02T10:00:05.123456789Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{{Name:web-4,Uid:{UID},'
     'Namespace:shop,Attempt:0,} failed, error" error="failed to setup network for sandbox"', ("error", "shop", "web-4", UID)),
    (f'E0302 10:00:05.000000    1234 reconciler.go:200] UnmountVolume failed for volume "data" pod "web-5_shop({UID})" : x',
     ("error", "shop", "web-5", UID)),
])
def test_line_formats(line, expected):
    parsed = parse_line(line, 2026)
    assert (parsed.severity, parsed.namespace, parsed.name, parsed.uid) == expected
    assert parsed.at // 1000 in (1772445601, 1772445605, 1772445605)


def test_unknown_lines_are_skipped(store, cluster):
    counts = collect_logs(store, cluster, "kubelet", iter(["not a log line\n", "{\"json\": 1}\n", ""]))
    assert counts["taken"] == 0 and counts["skipped"] == 3


def test_a_teardown_failure_in_the_kubelet_log_decides_a_stuck_deletion(ingest, store):
    scene = Scene(T0)
    pod, _ = _running_then_deleted(scene, "web-0", T0)
    scene.heartbeat(T0 + timedelta(seconds=2400))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    before = ingest.pods()["web-0"]["deletion"]
    assert before["stuck"] and before["reason"] == "KubeletNotConfirming"  # nothing else to go on
    at = T0 + timedelta(seconds=pod.deleted_at + 35)
    line = (f'E{at:%m%d %H:%M:%S}.000000    2417 nestedpendingoperations.go:348] Operation for "{{volumeName:kubernetes.io/'
            f'csi/ebs.csi.aws.com^vol-0a podName:{pod.uid} nodeName:}}" failed. Error: UnmountVolume.TearDown failed for '
            f'volume "data" (UniqueName: "kubernetes.io/csi/ebs.csi.aws.com^vol-0a") pod "{pod.uid}" (UID: "{pod.uid}") : '
            f'rpc error: code = Internal desc = unmount failed: exit status 32 podUID="{pod.uid}"\n')
    lines = [line, f'I{at:%m%d %H:%M:%S}.100000    2417 kubelet.go:2187] "SyncLoop DELETE" source="api" pods=["default/web-0"]\n']
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
