"""Analyze a cluster: facts from the store -> pod and node verdicts -> derived tables."""

from __future__ import annotations

from dataclasses import dataclass

from analyzer import pods as P
from analyzer.facts import (NodeFacts, PodFacts, Slice, cluster_now, count_pods, inserted_until, load_nodes,
                            load_not_created, load_pods, ready_daemonset_pods)
from analyzer.nodes import node_verdicts
from podslo.store import Store
from podslo.timeutil import now_ms
from slo_rules import Rules

VERDICT_COLUMNS = (
    "cluster", "uid", "namespace", "name", "kind", "created_at", "deadline_s", "outcome", "attribution",
    "reason", "evidence", "rule", "node", "delivery_s", "scheduling_s", "sandbox_s", "image_pull_s",
    "container_start_s", "readiness_s", "deletion_requested_at", "deletion_gone_at", "deletion_stuck",
    "deletion_reason", "deletion_evidence", "analyzed_at", "version",
)
NODE_COLUMNS = ("cluster", "name", "window_start", "window_end", "availability", "downtime_s", "faulty",
                "reasons", "needs_manual_repair", "evidence", "version")
PODS_PER_SLICE = 50_000
# Re-read this much before the watermark: rows inserted while the last analysis ran.
OVERLAP_MS = 10_000
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


def analyze(store: Store, cluster: str, rules: Rules, full: bool = False,
            pods_per_slice: int = PODS_PER_SLICE, overlap_ms: int = OVERLAP_MS) -> Analysis:
    """Bring `cluster`'s pod and node verdicts up to date with what is stored.

    Incremental by default: only pods touched since the last analysis, or whose
    verdict time can still change, are decided again. `full` decides every pod.
    """
    now = cluster_now(store, cluster)
    if now is None:
        return Analysis(cluster, 0, 0, 0)
    high = inserted_until(store, cluster)
    low = None if full else _watermark(store, cluster)
    nodes = load_nodes(store, cluster)
    version = now_ms()
    probe = Slice(cluster, low)
    buckets = max(1, -(-count_pods(store, probe) // pods_per_slice))
    decided = 0
    for bucket in range(buckets):
        pods = load_pods(store, Slice(cluster, low, buckets, bucket))
        rows = [pod_verdict_row(cluster, pod, nodes, rules, now, version) for pod in pods.values()]
        store.insert("pod_verdicts", rows, VERDICT_COLUMNS)
        decided += len(rows)
    refused = [not_created_row(cluster, event, rules, version) for event in load_not_created(store, cluster, low)]
    store.insert("pod_verdicts", refused, VERDICT_COLUMNS)
    failures = dict(store.rows(_SYSTEM_FAILURES_SQL, cluster=cluster))
    critical = list(rules.spec.nodes.critical_daemonsets)
    node_rows = node_verdicts(cluster, nodes, failures, ready_daemonset_pods(store, cluster, critical), rules,
                              now, version)
    store.insert("node_verdicts", node_rows, NODE_COLUMNS)
    store.insert("analysis_watermarks", [[cluster, max(high - overlap_ms, 0), version]],
                 ("cluster", "inserted_until", "version"))
    return Analysis(cluster, now, decided + len(refused), len(node_rows), low is not None)


def _watermark(store: Store, cluster: str) -> int | None:
    value = store.scalar("SELECT toUnixTimestamp64Milli(argMax(inserted_until, version)) FROM analysis_watermarks "
                         "WHERE cluster = {cluster:String}", cluster=cluster)
    return int(value) if value else None


def decide(pod: PodFacts, nodes: dict[str, NodeFacts], rules: Rules, now: int) -> dict:
    """The verdict fields of one pod (outcome, attribution, reason, evidence, rule)."""
    kind = P.pod_kind(pod)
    deadline_s = rules.deadline_s(pod.namespace, pod.labels, kind)
    deadline_at = pod.created + int(deadline_s * 1000)
    delivered = P.delivered_at(pod, kind)
    verdict = {"kind": kind, "deadline_s": deadline_s, "delivered": delivered,
               "outcome": "success", "decision": None}
    if delivered is not None and delivered <= deadline_at:
        return verdict
    signals = P.all_signals(pod) + P.delivery_signals(pod, kind, nodes, deadline_at, now)
    fits = P.fits_some_node(pod, nodes)
    requested = pod.deletion_requested
    if requested is not None and requested < deadline_at and (delivered is None or requested < delivered):
        before = [s for s in signals if s[3] <= requested]
        found = P.first_match(rules.reasons, before, fits)
        if found is None or found.rule.slow:
            verdict["outcome"] = "cancelled"
            return verdict
        verdict.update(outcome="failed", decision=found)
        return verdict
    if delivered is None and now < deadline_at:
        verdict["outcome"] = "pending"
        return verdict
    cutoff = delivered if delivered is not None else deadline_at
    late = delivered is not None
    # Late but delivered: if one slow phase alone made it late, that phase is the cause
    # (contract 3's ImagePullSlow), not a transient error the pod got past.
    found = (late and P.first_match(rules.slow_reasons, [s for s in signals if s[0] == "derived"], fits)) \
        or P.first_match(rules.reasons, [s for s in signals if s[3] <= cutoff], fits) \
        or P.first_match(rules.reasons, signals, fits)
    if found is None:
        verdict.update(outcome="timeout" if late else "failed", decision=P.Decision(None, _fallback(signals)))
    else:
        verdict.update(outcome="timeout" if late or found.rule.slow else "failed", decision=found)
    return verdict


def _fallback(signals: list[tuple]) -> tuple:
    """Evidence for an Unknown verdict: the latest non-derived signal, if any."""
    real = [s for s in signals if s[0] != "derived"]
    return max(real, key=lambda s: s[3]) if real else ("derived", "NoSignal", "nothing explains the delay", 0)


def deletion(pod: PodFacts, nodes: dict, rules: Rules, now: int) -> dict | None:
    if pod.deletion_deadline is None:
        return None
    limit = pod.deletion_deadline + int(rules.spec.deletion.slack_s * 1000)
    gone_at = max(pod.gone_at, pod.deletion_requested or 0) if pod.gone else None  # never before it was asked
    stuck = (gone_at if gone_at is not None else now) > limit
    result = {"requested_at": pod.deletion_requested, "gone_at": gone_at, "stuck": stuck,
              "reason": None, "evidence": ""}
    if stuck:
        since = pod.deletion_requested or 0
        signals = [s for s in P.all_signals(pod) if s[3] >= since] + P.deletion_signals(pod, nodes, limit)
        found = P.first_match(rules.stuck, signals, True)
        result["reason"] = found.rule.code if found else "Unknown"
        result["evidence"] = found.evidence if found else P.Decision(None, _fallback(signals)).evidence
    return result


def pod_verdict_row(cluster: str, pod: PodFacts, nodes: dict, rules: Rules, now: int, version: int) -> list:
    verdict = decide(pod, nodes, rules, now)
    phase = P.phases(pod, verdict["kind"])
    found = verdict["decision"]
    outcome = verdict["outcome"]
    if outcome in ("success", "pending", "cancelled"):
        attribution = reason = None
        evidence = rule_id = ""
    else:
        reason = found.rule.code if found and found.rule else "Unknown"
        attribution = rules.attribution(reason)
        evidence, rule_id = (found.evidence, found.rule.id if found and found.rule else "fallback")
    gone = deletion(pod, nodes, rules, now)
    delivered = verdict["delivered"]
    return [
        cluster, pod.uid, pod.namespace, pod.name, verdict["kind"], pod.created, verdict["deadline_s"], outcome,
        attribution, reason, evidence, rule_id, pod.node,
        None if delivered is None else round(max(delivered - pod.created, 0) / 1000, 3),
        phase["scheduling_s"], phase["sandbox_s"], phase["image_pull_s"], phase["container_start_s"],
        phase["readiness_s"],
        gone["requested_at"] if gone else None, gone["gone_at"] if gone else None,
        int(gone["stuck"]) if gone else None, gone["reason"] if gone else None,
        gone["evidence"] if gone else "", version, version,
    ]


def not_created_row(cluster: str, event: tuple, rules: Rules, version: int) -> list:
    """A pod its controller asked for but the apiserver refused (quota, webhook)."""
    uid, owner_kind, namespace, owner, reason, message, first, _last, _count = event
    signal = ("event", reason, message, int(first))
    found = P.first_match(rules.reasons, [signal], True)
    code = found.rule.code if found else "Unknown"
    kind = "job" if owner_kind in P.JOB_OWNERS else "service"
    return [
        cluster, f"event:{uid}", namespace, f"{owner_kind.lower()}/{owner}", kind, int(first),
        rules.deadline_s(namespace, {}, kind), "failed", rules.attribution(code), code,
        P.Decision(found.rule if found else None, signal).evidence, found.rule.id if found else "fallback", "",
        None, None, None, None, None, None, None, None, None, None, "", version, version,
    ]
