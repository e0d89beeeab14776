"""Per-node availability over the window and whether a person must repair it."""

from __future__ import annotations

from collections import Counter, defaultdict

from analyzer.lifecycle.facts import BAD_STATUS, NodeFacts
from podslo.schema import NODE_VERDICTS
from podslo.timeutil import iso
from slo_rules import Rules

# What a bad condition is called in a node verdict's reasons.
CONDITION_CODES = {
    ("Ready", "False"): "NodeNotReady",
    ("Ready", "Unknown"): "NodeUnreachable",
    ("MemoryPressure", "True"): "MemoryPressure",
    ("DiskPressure", "True"): "DiskPressure",
    ("PIDPressure", "True"): "PIDPressure",
    ("NetworkUnavailable", "True"): "NetworkUnavailable",
}


def node_verdicts(
    cluster: str,
    nodes: dict[str, NodeFacts],
    failures: dict[str, int],
    daemonset_pods: list[tuple[str, str]],
    rules: Rules,
    now: int,
    version: int,
) -> list[list]:
    """`failures`: system-attributed pod failures per node; `daemonset_pods`: (node, daemonset)
    of each live Ready pod of a critical DaemonSet."""
    spec = rules.spec.nodes
    window_start = now - int(spec.window_s * 1000)
    failures = Counter(failures)
    # clustered: at least the threshold, and well above what chance spreads over every node
    clustered_at = max(spec.system_failures_threshold, 3 * sum(failures.values()) / max(len(nodes), 1))
    missing = _missing_daemonsets(nodes, daemonset_pods)
    rows = []
    for node in nodes.values():
        start = max(window_start, node.first_seen)
        end = min(now, node.deleted_at) if node.deleted_at else now
        spans, reasons, evidence = [], [], []
        for ctype in BAD_STATUS:
            for lo, hi, (since, status, reason, message) in node.bad_spans(ctype, start, end):
                spans.append((lo, hi))
                code = CONDITION_CODES[(ctype, status)]
                if code not in reasons:
                    reasons.append(code)
                    evidence.append(f"{ctype}={status} since {iso(since)} ({reason}) {message}".strip())
        downtime_ms = _union_length(spans)
        bad_now = [c for c in BAD_STATUS if getattr(node.status_at(c, end), "status", "") in BAD_STATUS[c]]
        if node.name in missing:
            reasons.append("CriticalDaemonSetMissing")
            evidence.append("critical DaemonSet pods missing: " + ", ".join(sorted(missing[node.name])))
        if failures[node.name] >= clustered_at:
            reasons.append("SystemFailures")
            evidence.append(f"{failures[node.name]} pods failed by the platform on this node")
        faulty = bool(bad_now) or node.name in missing or failures[node.name] >= clustered_at
        bad_since = min((node.status_at(c, end).since for c in bad_now), default=None)
        repair = bad_since is not None and end - bad_since >= spec.manual_repair_after_s * 1000 and not node.deleted_at
        length = max(end - start, 1)
        rows.append(
            NODE_VERDICTS.Row(
                cluster=cluster,
                name=node.name,
                window_start=start,
                window_end=end,
                availability=round(1 - downtime_ms / length, 6),
                downtime_s=round(downtime_ms / 1000, 3),
                faulty=int(faulty),
                reasons=reasons,
                needs_manual_repair=int(repair),
                evidence="; ".join(evidence)[:2000],
                version=version,
            )
        )
    return rows


def _union_length(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total


def _missing_daemonsets(nodes: dict, daemonset_pods: list[tuple[str, str]]) -> dict[str, set]:
    """Critical DaemonSets running Ready elsewhere but not on a Ready node."""
    ready_on: dict[str, set] = defaultdict(set)
    for node, daemonset in daemonset_pods:
        ready_on[daemonset].add(node)
    missing: dict[str, set] = {}
    for name, node in nodes.items():
        if node.deleted_at:
            continue
        current = node.status_at("Ready", 2**62)
        if not current or current.status != "True":
            continue  # a NotReady node is already faulty for that
        lacking = {ds for ds, where in ready_on.items() if name not in where}
        if lacking:
            missing[name] = lacking
    return missing
