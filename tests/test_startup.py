"""SIG-Scalability's pod startup latency, exactly: stateless and schedulable pods only, image
pulls and init containers left out, to when all containers started as observed via watch; the
stateful variant apart; clusterloader2's phases per cluster-day."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from analyzer.lifecycle import pods
from analyzer.lifecycle.facts import Slice, kept_facts, load_pods
from simulator.objects import PodStory
from simulator.stories import Scene, _to_running
from tests.golden.generate import T0


def _record(scene: Scene) -> bytes:
    scene.heartbeat(T0 + timedelta(seconds=600))
    return b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream())


def _stateless_with_init(scene: Scene) -> PodStory:
    """Scheduled at 1 s; an init container runs 2-12 s; the image pull takes 4 s; the app
    starts at 18 s: 18 s from creation, 4 s of pull and 10 s of init left out = 4 s."""
    pod = PodStory(scene.rec, T0, "web-init-6b9c7d5f4-abcde")
    pod.obj["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "web"}}, {"name": "tmp", "emptyDir": {}}]
    pod.add_init("setup")
    pod.schedule(1, "node-1")
    pod.sandbox_ready(2)
    started = {"running": {"startedAt": (T0 + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    pod.init_state(2, "setup", started)
    done = {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": started["running"]["startedAt"],
            "finishedAt": (T0 + timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }
    pod.init_state(12, "setup", done, initialized=True)
    pulled = pod.pull(13, 4)
    pod.start(pulled + 1, ready_at=pulled + 3)
    return pod


@pytest.fixture
def decided(ingest):
    scene = Scene(T0)
    _stateless_with_init(scene)
    stateful = PodStory(scene.rec, T0, "db-0", owner=("StatefulSet", "db"))
    stateful.add_claim("data", "data-db-0")
    _to_running(scene, stateful, "node-2", after=30)  # bound at 31 s (its volume provisioned before)
    preempting = PodStory(scene.rec, T0, "urgent-5f6d8c7b9-zzzzz")
    preempting.obj["status"]["nominatedNodeName"] = "node-3"
    _to_running(scene, preempting, "node-3")
    ingest(_record(scene))
    return ingest


def test_the_sli_leaves_out_pulls_and_init_and_keeps_stateful_and_preempting_pods_apart(decided):
    got = decided.pods()
    web, db, urgent = got["web-init-6b9c7d5f4-abcde"], got["db-0"], got["urgent-5f6d8c7b9-zzzzz"]
    rows = {
        r["name"]: r
        for r in decided.store.dicts(
            "SELECT name, startup_s, startup_stateful_s, create_to_schedule_s, schedule_to_run_s, run_to_watch_s "
            "FROM pod_verdicts FINAL WHERE cluster = {c:String}",
            c=decided.cluster,
        )
    }
    assert web["outcome"] == "success" and rows[web["name"]]["startup_s"] == 4.0
    assert rows[web["name"]]["create_to_schedule_s"] == 1.0 and rows[web["name"]]["schedule_to_run_s"] == 17.0
    assert rows[web["name"]]["run_to_watch_s"] == 0.0, "a recording without receive times: watched when it ran"
    assert rows[db["name"]]["startup_s"] is None, "a pod with a claim is not stateless"
    # bound at 31 s; sandbox 1 s, pull 4 s, start 1 s: ran at 37 s, 6 s after binding less 4 s of pull
    assert rows[db["name"]]["startup_stateful_s"] == 2.0
    assert rows[urgent["name"]]["startup_s"] is None and rows[urgent["name"]]["startup_stateful_s"] is None


def _pod_facts(decided) -> dict:
    part = Slice(decided.cluster, None)
    with kept_facts(decided.store, part, version=1):
        return load_pods(decided.store, part, decided.rules, version=1)


def test_observed_via_watch_is_the_receive_time(decided):
    facts = _pod_facts(decided)
    web = next(p for p in facts.values() if p.name.startswith("web-init"))
    assert pods.startup(web)["startup_s"] == 4.0
    late = dataclasses.replace(web, watch=web.run + 1500)  # the watch delivered it 1.5 s after it ran
    figures = pods.startup(late)
    assert figures["startup_s"] == 5.5 and figures["run_to_watch_s"] == 1.5


def test_startup_latency_per_cluster_day_has_clusterloader2_phases(decided):
    from analyzer import read

    (day,) = read.startup_latency(decided.store, decided.cluster)
    assert day["pods"] == 1 and day["p99_s"] == 4.0
    assert day["phases"]["create_to_schedule"]["p50_s"] == 1.0 and day["phases"]["pod_startup"]["p99_s"] == 4.0
    assert day["stateful"] == {"pods": 1, "p50_s": 2.0, "p90_s": 2.0, "p99_s": 2.0}


def _observed(pod: str, slo_s: float, node_log_at_s: float) -> str:
    at = T0 + timedelta(seconds=node_log_at_s)
    return (
        f'I{at:%m%d %H:%M:%S}.000000    2417 pod_startup_latency_tracker.go:104] "Observed pod startup duration" '
        f'pod="default/{pod}" podStartSLOduration={slo_s} podStartE2EDuration="{slo_s + 4}s" '
        'podCreationTimestamp="2026-03-02 10:00:00 +0000 UTC"\n'
    )


def test_the_kubelets_own_figures_are_cross_checked_per_node(decided, tmp_path):
    from analyzer import read
    from app.terminal import node_table
    from collector.logs import collect_logs

    # web: 18 s to running less 4 s of pull = 14 s, as its kubelet says; db-0's kubelet says 43 s, podslo 33 s
    collect_logs(
        decided.store,
        decided.cluster,
        "kubelet",
        iter([_observed("web-init-6b9c7d5f4-abcde", 14.0, 19)]),
        "node-1",
        2026,
    )
    collect_logs(decided.store, decided.cluster, "kubelet", iter([_observed("db-0", 43.0, 38)]), "node-2", 2026)
    checked = read.kubelet_startup_check(decided.store, decided.cluster)
    assert checked[(decided.cluster, "node-1")] == {"pods": 1, "disagreeing": 0, "median_diff_s": 0.0}
    assert checked[(decided.cluster, "node-2")] == {"pods": 1, "disagreeing": 1, "median_diff_s": -10.0}
    nodes = {n["name"]: n for n in read.nodes(decided.store, decided.cluster)}
    assert nodes["node-2"]["kubelet_startup"]["disagreeing"] == 1 and nodes["node-3"]["kubelet_startup"] is None
    assert "1 pods, 1 differ (median -10.0s)" in node_table(list(nodes.values()))


def test_a_receive_time_far_from_the_run_is_not_the_watch(decided):
    facts = _pod_facts(decided)
    web = next(p for p in facts.values() if p.name.startswith("web-init"))
    for watch in (web.run - 2000, web.run + 3_600_000):  # before it ran; an hour later (a relist, another clock)
        figures = pods.startup(dataclasses.replace(web, watch=watch))
        assert figures["startup_s"] == 4.0 and figures["run_to_watch_s"] == 0.0
