"""Analyze a cluster: facts from the store -> pod and node verdicts -> derived tables."""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass

from analyzer.lifecycle import pods, sli_minutes, verdict_rollups
from analyzer.lifecycle.facts import (
    NodeFacts,
    PodFacts,
    Signal,
    Slice,
    cluster_now,
    inserted_per_minute,
    inserted_until,
    kept_facts,
    late_minutes,
    load_nodes,
    load_not_created,
    load_pods,
    ready_daemonset_pods,
)
from analyzer.lifecycle.fleet import FleetIndex, load_fleet
from analyzer.lifecycle.nodes import node_verdicts
from analyzer.lifecycle.on_time import decide_on_time, decides_in_sql
from podslo.schema import POD_VERDICTS
from podslo.store import Store
from podslo.timeutil import now_ms
from slo_rules import Rules

log = logging.getLogger(__name__)
PHASES = ("scheduling_s", "sandbox_s", "image_pull_s", "container_start_s", "readiness_s")  # verdict columns
PODS_PER_SLICE = 50_000  # decided in Python at a time (their facts are Python objects)
PODS_PER_SQL_SLICE = 250_000  # decided in ClickHouse at a time (their facts kept in its memory)
# Re-read this much before the watermark: rows inserted while the last analysis ran.
OVERLAP_MS = 10_000
_DECIDED_SQL = "SELECT count() FROM pod_verdicts WHERE cluster = {cluster:String} AND version = {version:UInt64}"
_SYSTEM_FAILURES_SQL = """
SELECT node, count() FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND attribution = 'system' AND node != '' GROUP BY node"""


@dataclass
class Analysis:
    cluster: str
    now: int
    pods: int
    nodes: int
    incremental: bool = False
    outliers: int = 0  # timestamps left out of "now", far beyond the rest of the input


def analyze(
    store: Store,
    cluster: str,
    rules: Rules,
    full: bool = False,
    pods_per_slice: int = PODS_PER_SLICE,
    overlap_ms: int = OVERLAP_MS,
    on_time: bool = True,
) -> Analysis:
    """Bring `cluster`'s pod and node verdicts up to date with what is stored.

    Incremental by default: only pods touched since the last analysis, or whose
    verdict time can still change, are decided again. `full` decides every pod. Pods
    delivered on time are decided in ClickHouse (on_time.py) unless `on_time` is False.
    """
    now, outliers = cluster_now(store, cluster)
    if outliers:
        log.warning("cluster %s: %d timestamps far beyond the rest of its input do not count as now", cluster, outliers)
    if now is None:
        return Analysis(cluster, 0, 0, 0)
    high = inserted_until(store, cluster)
    low, interrupted, counted = (None, False, {}) if full else _watermark(store, cluster)
    counts = inserted_per_minute(store, cluster, high)
    late = late_minutes(counted, counts, low)
    if late:
        log.info("cluster %s: rows of %d minute(s) before the watermark became visible late", cluster, len(late))
    nodes = load_nodes(store, cluster)
    fleet = load_fleet(store, cluster, rules)
    version = now_ms()
    # Marked begun until it ends: a round cut short between writing verdicts and rebuilding
    # their SLI minutes and roll-ups cannot tell the next one which minutes it moved, so that
    # one rebuilds all.
    store.insert("analysis_watermarks", [[cluster, low or 0, version, 1, counted]])
    pending = Slice(cluster, low, late=late).found(store, version)
    minutes: set[int] = set()  # the SLI minutes the verdicts decided now count in, or counted in before
    if low is not None:
        minutes |= sli_minutes.counted_minutes(store, pending)
    in_sql = on_time and decides_in_sql(rules)
    for part in pending.split(store, PODS_PER_SQL_SLICE if in_sql else pods_per_slice):
        with kept_facts(store, part, version):
            if in_sql:
                decide_on_time(store, part, rules, now, version)
                part = part.left_by_sql(store, version)
            for piece in part.split(store, pods_per_slice) if in_sql else [part]:
                store.insert("pod_verdicts", _decided_in_python(store, piece, nodes, rules, now, version, fleet))
    refused = [not_created_row(cluster, event, rules, version) for event in load_not_created(store, cluster, low)]
    store.insert("pod_verdicts", refused)
    if low is not None:
        minutes |= sli_minutes.minutes_decided(store, cluster, version)
    failures = dict(store.rows(_SYSTEM_FAILURES_SQL, cluster=cluster))
    critical = list(rules.spec.nodes.critical_daemonsets)
    node_rows = node_verdicts(
        cluster, nodes, failures, ready_daemonset_pods(store, cluster, critical), rules, now, version
    )
    store.insert("node_verdicts", node_rows)
    _rebuild_derived(store, cluster, rules, nodes, now, version, None if low is None or interrupted else minutes)
    store.insert("analysis_watermarks", [[cluster, max(high - overlap_ms, 0), max(now_ms(), version + 1), 0, counts]])
    decided = store.scalar(_DECIDED_SQL, cluster=cluster, version=version)
    return Analysis(cluster, now, int(decided), len(node_rows), low is not None, outliers)


def _decided_in_python(
    store: Store, part: Slice, nodes: dict, rules: Rules, now: int, version: int, fleet: FleetIndex
) -> list[tuple]:
    """The verdict rows of the slice's pods, their facts loaded (kept under `version`) and decided here."""
    with _collector_paused():
        by_uid = load_pods(store, part, rules, version)
        return [pod_verdict_row(part.cluster, pod, nodes, rules, now, version, fleet) for pod in by_uid.values()]


@contextmanager
def _collector_paused():
    """A slice's facts are hundreds of thousands of small objects that reference counting frees;
    Python's cycle collector would walk them all again and again for nothing (the whole
    analysis's gain measured within the run-to-run spread: README, Performance)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _rebuild_derived(
    store: Store, cluster: str, rules: Rules, nodes: dict, now: int, version: int, minutes: set[int] | None
) -> None:
    """Rewrite the SLI minutes and roll-ups the verdicts changed (all of them when `minutes`
    is None)."""
    full = minutes is None
    sli_minutes.rebuild_pod_minutes(store, cluster, sli_minutes.scopes(rules), version, minutes)
    verdict_rollups.rebuild(store, cluster, version, minutes)
    sli_minutes.rebuild_probe_minutes(
        store, cluster, version, None if full else now // 1000 - sli_minutes.PROBE_REBUILD_S
    )
    start = (
        min((n.first_seen for n in nodes.values()), default=now) if full else now - sli_minutes.NODE_REBUILD_S * 1000
    )
    sli_minutes.rebuild_node_minutes(
        store, cluster, nodes, max(start, now - sli_minutes.NODE_HISTORY_S * 1000), now, version
    )


def _watermark(store: Store, cluster: str) -> tuple[int | None, bool, dict[int, int]]:
    """Where the last round left off (None: never analyzed), whether it was cut short, and the
    rows per minute of insert time it had counted."""
    row = store.rows(
        "SELECT toUnixTimestamp64Milli(argMax(inserted_until, version)), argMax(begun, version), "
        "argMax(inserted_per_minute, version) FROM analysis_watermarks WHERE cluster = {cluster:String}",
        cluster=cluster,
    )
    value, begun, counted = row[0] if row else (None, 0, {})
    return (int(value) if value else None), bool(begun), {int(k): int(v) for k, v in (counted or {}).items()}


def decide(pod: PodFacts, nodes: dict[str, NodeFacts], rules: Rules, now: int) -> dict:
    """The verdict fields of one pod (outcome, attribution, reason, evidence, rule)."""
    kind = pods.pod_kind(pod)
    deadline_s = rules.deadline_s(pod.namespace, pod.labels, kind)
    delivered = pods.delivered_at(pod, kind)
    verdict = {
        "kind": kind,
        "deadline_s": deadline_s,
        "delivered": delivered,
        "outcome": "success",
        "decision": None,
        "decided_at": delivered,
    }
    if pod.gated and pod.ungated is None and delivered is None:  # held by its gates: not due yet
        cancelled = pod.deletion_requested is not None
        verdict.update(outcome="cancelled" if cancelled else "pending", decided_at=pod.deletion_requested)
        return verdict
    deadline_at = pods.due_from(pod) + int(deadline_s * 1000)
    if delivered is not None and delivered <= deadline_at:
        return verdict
    signals = pods.all_signals(pod) + pods.delivery_signals(pod, kind, nodes, deadline_at, now)
    fits = pods.fits_some_node(pod, nodes)
    requested = pod.deletion_requested
    if requested is not None and requested < deadline_at and (delivered is None or requested < delivered):
        verdict["decided_at"] = requested
        before = [s for s in signals if s.at <= requested]
        found = pods.first_match(rules.reasons, before, fits)
        if found is None or found.rule.slow:
            verdict["outcome"] = "cancelled"
            return verdict
        verdict.update(outcome="failed", decision=found)
        return verdict
    if delivered is None and now < deadline_at:
        verdict.update(outcome="pending", decided_at=None)
        return verdict
    verdict["decided_at"] = deadline_at  # late or failed: known once the deadline passed
    cutoff = delivered if delivered is not None else deadline_at
    late = delivered is not None
    # Late but delivered: if one slow phase alone made it late, that phase is the cause
    # (contract 3's ImagePullSlow), not a transient error the pod got past.
    found = (
        (late and pods.first_match(rules.slow_reasons, [s for s in signals if s.source == "derived"], fits))
        or pods.first_match(rules.reasons, [s for s in signals if s.at <= cutoff], fits)
        or pods.first_match(rules.reasons, signals, fits)
    )
    if found is None:
        verdict.update(outcome="timeout" if late else "failed", decision=pods.Decision(None, _fallback(signals)))
    else:
        verdict.update(outcome="timeout" if late or found.rule.slow else "failed", decision=found)
    return verdict


def _fallback(signals: list[Signal]) -> Signal:
    """Evidence for an Unknown verdict: the latest non-derived signal, if any (of signals at the
    same time, the same one whatever order the store returned them in)."""
    real = [s for s in signals if s.source != "derived"]
    return (
        max(real, key=lambda s: (s.at, s.source, s.reason, s.message))
        if real
        else Signal("derived", "NoSignal", "nothing explains the delay", 0)
    )


def deletion(pod: PodFacts, nodes: dict, rules: Rules, now: int) -> dict | None:
    if pod.deletion_deadline is None:
        return None
    limit = pod.deletion_deadline + int(rules.spec.deletion.slack_s * 1000)
    gone_at = max(pod.gone_at, pod.deletion_requested or 0) if pod.gone else None  # never before it was asked
    stuck = (gone_at if gone_at is not None else now) > limit
    result = {
        "requested_at": pod.deletion_requested,
        "gone_at": gone_at,
        "stuck": stuck,
        "reason": None,
        "evidence": "",
        "decided_at": limit if stuck else gone_at,
    }  # None: still within its time
    if stuck:
        since = pod.deletion_requested or 0
        signals = [s for s in pods.all_signals(pod) if s.at >= since] + pods.deletion_signals(pod, nodes, limit)
        found = pods.first_match(rules.stuck, signals, True)
        result["reason"] = found.rule.code if found else "Unknown"
        result["evidence"] = found.evidence if found else pods.Decision(None, _fallback(signals)).evidence
    return result


def upgrade(pod: PodFacts, rules: Rules, deadline_s: float, now: int) -> dict:
    """The pod's latest in-place image change: was it Ready again within its deadline?
    (None fields when its images never changed; outcome pending until the deadline.)"""
    changed = None
    for i, (before, after) in enumerate(zip(pod.snapshots, pod.snapshots[1:]), 1):
        if before[2] and before[2] != after[2]:
            changed = _written_at(pod.snapshots, i)
    if changed is None:
        return {}
    limit = changed + int(deadline_s * 1000)
    ready_again = min(
        (since for *_, ready, since in pod.snapshots if ready == "True" and since is not None and since >= changed),
        default=None,
    )
    result = {
        "upgrade_at": changed,
        "upgrade_ready_s": None if ready_again is None else pods.rounded((ready_again - changed) / 1000),
    }
    if ready_again is not None and ready_again <= limit:
        return {**result, "upgrade_outcome": "success", "upgrade_decided_at": ready_again}
    if (pod.deletion_requested or limit + 1) <= limit:
        return {**result, "upgrade_outcome": "cancelled", "upgrade_decided_at": None}
    if now < limit:
        return {**result, "upgrade_outcome": "pending", "upgrade_decided_at": None}
    found = pods.first_match(rules.reasons, [s for s in pods.all_signals(pod) if s.at >= changed], True)
    code = found.rule.code if found else "Unknown"
    return {
        **result,
        "upgrade_outcome": "failed",
        "upgrade_decided_at": limit,
        "upgrade_reason": code,
        "upgrade_attribution": rules.attribution(code),
    }


def _written_at(snapshots: list, i: int) -> int:
    """When snapshot `i` was written. A spec change carries no timestamp of its own: its
    receive time when known, else the next time the pod shows (the kubelet reacting)."""
    seen, received = snapshots[i][0], snapshots[i][1]
    if received is not None:
        return received
    return next((later[0] for later in snapshots[i + 1 :] if later[0] > seen), seen)


def pod_verdict_row(
    cluster: str, pod: PodFacts, nodes: dict, rules: Rules, now: int, version: int, fleet: FleetIndex | None = None
) -> tuple:
    verdict = decide(pod, nodes, rules, now)
    phase = pods.phases(pod, verdict["kind"])
    found = verdict["decision"] if fleet is None else fleet.judge(verdict["decision"], pod.namespace)
    outcome = verdict["outcome"]
    if outcome in ("success", "pending", "cancelled"):
        attribution = reason = None
        evidence = rule_id = ""
    else:
        reason = found.rule.code if found and found.rule else "Unknown"
        attribution = rules.attribution(reason)
        evidence, rule_id = (found.evidence, found.rule.id if found and found.rule else "fallback")
    gone = deletion(pod, nodes, rules, now) or {}
    delivered = verdict["delivered"]
    return POD_VERDICTS.Row(
        cluster=cluster,
        uid=pod.uid,
        namespace=pod.namespace,
        name=pod.name,
        kind=verdict["kind"],
        created_at=pod.created,
        deadline_s=verdict["deadline_s"],
        outcome=outcome,
        attribution=attribution,
        reason=reason,
        evidence=evidence,
        rule=rule_id,
        node=pod.node,
        delivery_s=None if delivered is None else pods.rounded(max(delivered - pods.due_from(pod), 0) / 1000),
        **phase,
        deletion_requested_at=gone.get("requested_at"),
        deletion_gone_at=gone.get("gone_at"),
        deletion_stuck=int(gone["stuck"]) if gone else None,
        deletion_reason=gone.get("reason"),
        deletion_evidence=gone.get("evidence", ""),
        analyzed_at=version,
        version=version,
        decided_at=verdict["decided_at"],
        deletion_decided_at=gone.get("decided_at"),
        labels=pod.labels,
        **dict(zip(("workload_kind", "workload"), pods.workload(pod.owner_kind, pod.owner_name, pod.name))),
        **{**_NO_UPGRADE, **upgrade(pod, rules, verdict["deadline_s"], now)},
        **pods.startup(pod),
    )


def not_created_row(cluster: str, event: tuple, rules: Rules, version: int) -> tuple:
    """A pod its controller asked for but the apiserver refused (quota, webhook)."""
    uid, owner_kind, namespace, owner, reason, message, first, _last, _count = event
    signal = Signal("event", reason, message, int(first))
    found = pods.first_match(rules.reasons, [signal], True)
    code = found.rule.code if found else "Unknown"
    kind = "job" if owner_kind in pods.JOB_OWNERS else "service"
    return POD_VERDICTS.Row(
        cluster=cluster,
        uid=f"event:{uid}",
        namespace=namespace,
        name=f"{owner_kind.lower()}/{owner}",
        kind=kind,
        created_at=int(first),
        deadline_s=rules.deadline_s(namespace, {}, kind),
        outcome="failed",
        attribution=rules.attribution(code),
        reason=code,
        evidence=pods.Decision(found.rule if found else None, signal).evidence,
        rule=found.rule.id if found else "fallback",
        node="",
        delivery_s=None,
        **dict.fromkeys(PHASES),
        deletion_requested_at=None,
        deletion_gone_at=None,
        deletion_stuck=None,
        deletion_reason=None,
        deletion_evidence="",
        analyzed_at=version,
        version=version,
        decided_at=int(first),
        deletion_decided_at=None,
        **dict.fromkeys(
            ("startup_s", "startup_stateful_s", "create_to_schedule_s", "schedule_to_run_s", "run_to_watch_s")
        ),
        labels={},
        **_NO_UPGRADE,
        **dict(zip(("workload_kind", "workload"), pods.workload(owner_kind, owner, ""))),
    )


_NO_UPGRADE = {
    "upgrade_at": None,
    "upgrade_outcome": "",
    "upgrade_ready_s": None,
    "upgrade_decided_at": None,
    "upgrade_reason": None,
    "upgrade_attribution": None,
}
