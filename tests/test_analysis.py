"""Incremental and sliced analysis give the verdicts a full rebuild gives; node rules."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from analyzer import read
from analyzer.lifecycle import verdicts
from analyzer.lifecycle.facts import Slice
from analyzer.lifecycle.verdicts import analyze
from podslo.errors import StoreError
from podslo.timeutil import now_ms
from simulator.objects import PodStory
from simulator.stories import Scene, sandbox_create_failed
from slo_rules import load_rules
from tests.conftest import simulate
from tests.golden.generate import T0


def _verdicts(store, cluster):
    return [{k: v for k, v in p.items() if k != "cluster"} for p in read.pods(store, cluster)]


def test_incremental_equals_full(ingest, store, rules, cluster, monkeypatch):
    _, served = simulate("busy", seconds=600, seed=3, nodes=10)
    lines = served.splitlines(keepends=True)
    half = len(lines) // 2
    ingest(b"".join(lines[:half]), analyze_after=False)
    first = analyze(store, cluster, rules, overlap_ms=0)
    ingest(b"".join(lines[half:]), analyze_after=False)
    monkeypatch.setattr(verdicts, "PODS_PER_SQL_SLICE", 41)  # the round's pods cut at a sample of them
    second = analyze(store, cluster, rules, overlap_ms=0, pods_per_slice=13)
    assert not first.incremental and second.incremental
    total = len(read.pods(store, cluster))
    assert 0 < second.pods < total, "the second pass must skip pods whose verdict cannot change"
    kept = store.scalar("SELECT count() FROM analysis_uids WHERE cluster = {c:String}", c=cluster)
    assert 0 < kept < total, "the second round's pods found once (not all of them), kept for its queries"

    whole = cluster + "-full"
    ingest.cluster = whole
    ingest(served, analyze_after=False)
    monkeypatch.setattr(verdicts, "PODS_PER_SQL_SLICE", 53)  # the on-time SQL in uid ranges too
    analyze(store, whole, rules, full=True, pods_per_slice=37)  # 7 uid ranges
    assert _verdicts(store, cluster) == _verdicts(store, whole)
    assert _rolled_up(store, cluster) == _rolled_up(store, whole), "the roll-ups kept round by round"
    outcomes = {p["outcome"] for p in _verdicts(store, whole)}
    assert {"success", "failed", "timeout"} <= outcomes
    assert store.scalar("SELECT count() FROM analysis_facts") == 0, "each slice's facts deleted once it is decided"


def _rolled_up(store, cluster: str) -> tuple:
    """What /delivery and /workloads answer over everything, without the cluster's name."""
    delivery = read.delivery(store, cluster, 0, 2**31, limit=100)
    delivery["namespaces"] = [{**n, "cluster": None} for n in delivery.pop("namespaces")]
    workloads = [{**w, "cluster": None} for w in read.workloads(store, cluster, limit=10_000)]
    return {**delivery, "cluster": None}, workloads


def test_uid_ranges_cover_every_pod_once(ingest, store, cluster):
    ingest(simulate("busy", seconds=300, seed=5, nodes=6)[1], analyze_after=False)
    uids = {r[0] for r in store.rows("SELECT DISTINCT uid FROM raw_pods WHERE cluster = {c:String}", c=cluster)}
    parts = Slice(cluster, None).split(store, len(uids) // 5)
    assert len(parts) >= 4 and parts[0].first is None and parts[-1].upto is None
    found = [
        {
            r[0]
            for r in store.rows(
                f"SELECT DISTINCT uid FROM raw_pods WHERE cluster = {{cluster:String}} AND {p.where()}", **p.params()
            )
        }
        for p in parts
    ]
    assert sum(map(len, found)) == len(uids) and set().union(*found) == uids  # disjoint, and all of them
    assert max(map(len, found)) < 3 * len(uids) // len(parts)  # about even


def test_missing_critical_daemonset_makes_a_node_faulty(ingest):
    scene = Scene(T0)
    for node in ("node-1", "node-2"):
        pod = PodStory(scene.rec, T0, f"kube-proxy-{node}", namespace="kube-system", owner=("DaemonSet", "kube-proxy"))
        pod.schedule(1, node)
        pod.creating(1)
        pod.start(2, ready_at=3)
    scene.heartbeat(T0 + timedelta(seconds=600))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    nodes = ingest.nodes()
    assert nodes["node-3"]["faulty"] and nodes["node-3"]["reasons"] == ["CriticalDaemonSetMissing"]
    assert "kube-proxy" in nodes["node-3"]["evidence"]
    assert not nodes["node-1"]["faulty"] and not nodes["node-2"]["faulty"]


def test_platform_failures_clustered_on_a_node(ingest):
    scene = Scene(T0)
    for i in range(3):
        sandbox_create_failed(scene, f"web-{i}", T0)
    scene.heartbeat(T0 + timedelta(seconds=600))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    nodes = ingest.nodes()
    assert nodes["node-1"]["faulty"] and "SystemFailures" in nodes["node-1"]["reasons"]
    assert nodes["node-1"]["availability"] == 1.0  # the node itself never reported a bad condition
    assert not nodes["node-2"]["faulty"]


def test_unknown_failures_are_mined_into_patterns(ingest, store):
    from analyzer.read.patterns import unknown_patterns
    from simulator.stories import unknown_failure

    scene = Scene(T0)
    for i in range(4):
        pod = PodStory(scene.rec, T0, f"odd-{i}")
        pod.schedule(1, "node-1")
        pod.creating(1)
        pod.event(5, "FailedWeirdly", f"widget {i * 7} of 10.0.0.{i}:80 refused handshake {i}", "Warning")
    unknown_failure(scene, "flux-0", T0)
    scene.heartbeat(T0 + timedelta(seconds=600))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    assert {p["reason"] for p in ingest.pods().values()} == {"Unknown"}
    found = unknown_patterns(store, ingest.cluster)
    assert [(p["count"], p["pattern"]) for p in found] == [
        (4, "event FailedWeirdly: widget <NUM> of <IP> refused handshake <NUM>"),
        (1, "event FailedPostStartCheck: flux capacitor did not reach <NUM> mph"),
    ]


def test_a_rule_change_re_decides_stored_pods_without_re_ingesting(ingest, store, rules, cluster, tmp_path):
    """The raw rows hold what the pod said (every condition); which of it is a signal is
    decided by the analyzer under the rules, so `analyze --full` after a rule change
    re-decides what is stored."""
    scene = Scene(T0)
    pod = PodStory(scene.rec, T0, "web-behind-lb")
    pod.schedule(1, "node-1")
    pod.creating(1)
    pod.start(3)
    pod._condition(
        4, "example.com/lb-registered", "False", "TargetNotHealthy", "target 10.244.1.17:8080 failing health checks"
    )
    pod._emit(4)
    scene.heartbeat(T0 + timedelta(seconds=600))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    assert ingest.pods()["web-behind-lb"]["reason"] == "Unknown"
    stored = store.row_counts(cluster)

    spec = yaml.safe_load(Path(rules.source).read_text())
    spec["signals"]["conditions_when_false"].append("example.com/lb-registered")
    spec["codes"]["LoadBalancerNotReady"] = {"attribution": "system"}
    spec["reasons"].insert(
        0,
        {"code": "LoadBalancerNotReady", "when": [{"source": "condition", "reason": r"example\.com/lb-registered/.*"}]},
    )
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    analyze(store, cluster, load_rules(tmp_path / "rules.yaml"), full=True)
    verdict = ingest.pods()["web-behind-lb"]
    assert (verdict["reason"], verdict["attribution"]) == ("LoadBalancerNotReady", "system")
    assert "failing health checks" in verdict["evidence"]
    assert store.row_counts(cluster) == stored


def test_a_row_visible_after_the_watermark_passed_it_is_still_analysed(ingest, store, rules):
    """On a replicated or distributed table a row can become visible after rows inserted later
    than it: the incremental round must not skip it because its insert time is behind the mark."""
    from datetime import UTC, datetime

    from collector.pods import pod_row
    from podslo.schema import RAW_PODS

    scene = Scene(T0)
    early = PodStory(scene.rec, T0, "early-6c9d7f5b4-aaaaa")
    early.schedule(1, "node-1")
    scene.heartbeat(T0 + timedelta(seconds=600))
    ingest(b"".join(json.dumps(v).encode() + b"\n" for v in scene.rec.stream()))
    analyze(store, ingest.cluster, rules)  # the watermark moves past now
    assert set(ingest.pods()) == {"early-6c9d7f5b4-aaaaa"}

    late_scene = Scene(T0)
    late = PodStory(late_scene.rec, T0, "late-6c9d7f5b4-bbbbb")
    late.schedule(1, "node-2")
    inserted = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 1200, UTC)  # 20 minutes behind the mark
    row = pod_row(ingest.cluster, late.obj, "ADDED", None)
    store.client.insert("raw_pods", [[*row, inserted]], column_names=[*RAW_PODS.columns, "inserted_at"])
    result = analyze(store, ingest.cluster, rules)
    assert result.incremental and "late-6c9d7f5b4-bbbbb" in ingest.pods(), "the late row's pod was analysed"


def _node(name: str, first_seen: int, statuses: dict[str, list[tuple[int, str]]]):
    from analyzer.lifecycle.facts import NodeFacts, NodeStatus

    node = NodeFacts(name, first_seen)
    for ctype, changes in statuses.items():
        node.timeline[ctype] = [NodeStatus(at, status, "r", "m") for at, status in changes]
    return node


def test_node_minutes_add_up_to_the_node_slis_bad_time(store, cluster):
    """Per node and minute, the down time (and why) sums to the node-time SLI's bad time; a
    rebuild that reads a node's span shorter leaves no stale minutes behind."""
    from analyzer.lifecycle.sli_minutes import rebuild_node_minutes

    t0 = 1_780_000_000_000 // 60_000 * 60_000
    minute = 60_000
    steady = _node("node-1", t0, {"Ready": [(t0, "True")]})
    first = {
        "node-1": steady,
        "node-2": _node("node-2", t0, {"Ready": [(t0, "True"), (t0 + 5 * minute, "False")]}),  # still down
        "node-3": _node(
            "node-3",
            t0,
            {"Ready": [(t0, "True")], "DiskPressure": [(t0 + 90_000, "True"), (t0 + 4 * minute, "False")]},
        ),
    }
    written = now_ms()  # a derived row's version is when it was written (its TTL ages by it)
    rebuild_node_minutes(store, cluster, first, t0, t0 + 20 * minute, version=written)
    # node-2's Ready=True at minute 8 arrives late: its minutes 8-20 were not down after all
    second = dict(
        first,
        **{
            "node-2": _node(
                "node-2", t0, {"Ready": [(t0, "True"), (t0 + 5 * minute, "False"), (t0 + 8 * minute, "True")]}
            )
        },
    )
    rebuild_node_minutes(store, cluster, second, t0, t0 + 20 * minute, version=written + 1)

    by_node = dict(
        store.rows(
            "SELECT node, sum(down_s) FROM node_minutes FINAL WHERE cluster = {c:String} GROUP BY node", c=cluster
        )
    )
    assert by_node == {"node-2": 180.0, "node-3": 150.0}
    bad = store.rows(
        "SELECT sum(events) FROM sli_minutes FINAL WHERE cluster = {c:String} AND sli = 'node_time' AND result = 'bad'",
        c=cluster,
    )[0][0]
    assert bad == sum(by_node.values())
    reasons = read.down_nodes(store, cluster, t0, t0 + 20 * minute)
    assert reasons == [("node-2", 180.0, ["NodeNotReady"]), ("node-3", 150.0, ["DiskPressure"])]
    assert read.down_nodes(store, cluster, t0 + 6 * minute, t0 + 20 * minute) == [("node-2", 120.0, ["NodeNotReady"])]


def test_facts_lost_mid_round_fail_the_round(ingest, store, rules, cluster, monkeypatch):
    _, served = simulate("default", seconds=300, seed=5, nodes=6)
    ingest(served, analyze_after=False)
    decide_on_time = verdicts.decide_on_time

    def then_restarted(store, *args):  # a ClickHouse restart empties its in-memory tables
        decide_on_time(store, *args)
        store.command("TRUNCATE TABLE analysis_facts")

    monkeypatch.setattr(verdicts, "decide_on_time", then_restarted)
    with pytest.raises(StoreError, match="lost"):
        analyze(store, cluster, rules)
    monkeypatch.undo()
    analyze(store, cluster, rules)  # repeats the round: every pod decided
    pods = "SELECT uniqExact(uid) FROM raw_pods WHERE cluster = {c:String}"
    decided = "SELECT uniqExact(uid) FROM pod_verdicts WHERE cluster = {c:String} AND NOT startsWith(uid, 'event:')"
    assert store.scalar(decided, c=cluster) == store.scalar(pods, c=cluster) > 0
