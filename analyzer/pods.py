"""One verdict per pod (contract 2): delivered on time or not, why, whose fault.

The code here computes facts (phases, derived signals); which fact means which
reason code is decided by the rules in slo_rules/, tried in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.facts import NodeFacts, PodFacts
from podslo.timeutil import iso
from slo_rules import Rule

JOB_OWNERS = {"Job", "CronJob"}
KUBELET = "kubelet"
EVIDENCE_CHARS = 500


@dataclass(slots=True)
class Decision:
    rule: Rule | None
    signal: tuple | None  # (source, reason, message, at)

    @property
    def evidence(self) -> str:
        if not self.signal:
            return ""
        source, reason, message, _ = self.signal
        text = f"{source} {reason}: {message}" if message else f"{source} {reason}"
        return text[:EVIDENCE_CHARS]


def first_match(rules: tuple[Rule, ...], signals: list[tuple], fits_node: bool) -> Decision | None:
    """The highest-priority rule any signal satisfies, with the signal that did."""
    for rule in rules:
        for signal in signals:
            if rule.matcher.matches(signal[0], signal[1], signal[2], fits_node):
                return Decision(rule, signal)
    return None


def pod_kind(pod: PodFacts) -> str:
    """job = owned by a Job/CronJob, or a restartPolicy other than Always."""
    return "job" if pod.owner_kind in JOB_OWNERS or pod.restart_policy != "Always" else "service"


def phases(pod: PodFacts, kind: str) -> dict:
    """Phase durations in seconds (None where the pod never got there)."""
    created, scheduled, started, pull_s = pod.created, pod.scheduled, pod.started, pod.pull_s
    pulls = [e for e in pod.events if e[0] in ("Pulling", "Pulled")]
    sandbox = pod.sandbox_ready or (min(e[4] for e in pulls) if pulls else None)
    ready = pod.ready if kind == "service" else None

    def span(later, earlier):
        return None if later is None or earlier is None else round(max(later - earlier, 0) / 1000, 3)

    start_from = sandbox or scheduled
    container_start = span(started, start_from)
    if container_start is not None and pull_s:
        container_start = round(max(container_start - pull_s, 0.0), 3)
    return {
        "scheduling_s": span(scheduled, created),
        "sandbox_s": span(sandbox, scheduled),
        "image_pull_s": None if pull_s is None else round(pull_s, 9),
        "container_start_s": container_start,
        "readiness_s": span(ready, started),
    }


def delivered_at(pod: PodFacts, kind: str) -> int | None:
    """Service pods are delivered when Ready; job pods when a container has run."""
    return pod.ready if kind == "service" else pod.started


def fits_some_node(pod: PodFacts, nodes: dict[str, NodeFacts]) -> bool:
    """Does the pod's request fit the allocatable of at least one node? (unknown -> yes)"""
    sized = [n for n in nodes.values() if n.alloc_cpu_m or n.alloc_memory_b]
    if not sized:
        return True
    return any(pod.cpu_m <= n.alloc_cpu_m and pod.memory_b <= n.alloc_memory_b for n in sized)


def all_signals(pod: PodFacts) -> list[tuple]:
    """Status-derived signals and the pod's events, as (source, reason, message, at)."""
    return pod.signals + [("event", e[0], e[1], e[4]) for e in pod.events]


def node_not_ready(pod: PodFacts, nodes: dict[str, NodeFacts], start: int, end: int) -> tuple | None:
    node = nodes.get(pod.node)
    if node is None or not pod.node:
        return None
    spans = node.bad_spans("Ready", start, end)
    if not spans:
        return None
    lo, _, (since, status, reason, message) = spans[0]
    text = f"node {pod.node} Ready={status} since {iso(since)} ({reason}): {message}"
    return ("derived", "NodeNotReady", text, lo)


def delivery_signals(pod: PodFacts, kind: str, nodes: dict, deadline_at: int, now: int) -> list[tuple]:
    """Facts the rules need that no single object states: slowness, no progress, node."""
    delivered = delivered_at(pod, kind)
    end = min(delivered or now, now)
    derived = []
    start = pod.scheduled or pod.created
    lost = node_not_ready(pod, nodes, start, min(end, max(deadline_at, start)))
    if lost:
        derived.append(lost)
    pull_s = pod.pull_s
    if pull_s and delivered and delivered - pull_s * 1000 <= deadline_at:
        derived.append(("derived", "SlowImagePull", f"image pull took {pull_s:.3f}s of a {(delivered - pod.created) / 1000:.3f}s delivery", delivered))
    elif _pulling_at(pod, deadline_at):
        derived.append(("derived", "SlowImagePull", "image still pulling at the deadline", deadline_at))
    scheduled = pod.scheduled
    if scheduled is None and now >= deadline_at:
        derived.append(("derived", "NotScheduled", "not scheduled by the deadline", deadline_at))
    elif scheduled and delivered and delivered - (scheduled - pod.created) <= deadline_at:
        derived.append(("derived", "SlowScheduling", f"scheduling took {(scheduled - pod.created) / 1000:.3f}s", scheduled))
    elif scheduled and scheduled > deadline_at:
        derived.append(("derived", "SlowScheduling", f"scheduled {(scheduled - deadline_at) / 1000:.3f}s after the deadline", scheduled))
    if scheduled and scheduled <= deadline_at and not delivered and not _kubelet_acted(pod, scheduled):
        derived.append(("derived", "NoKubeletProgress", f"bound to {pod.node or '?'}; no kubelet activity since", scheduled))
    return derived


def _pulling_at(pod: PodFacts, moment: int) -> bool:
    """A pull started before `moment` that had not finished or failed by then."""
    pulling = [e[4] for e in pod.events if e[0] == "Pulling" and e[4] <= moment]
    if not pulling:
        return False
    begun = max(pulling)
    return not any(e[0] in ("Pulled", "Failed", "BackOff") and begun <= e[4] <= moment for e in pod.events)


def _kubelet_acted(pod: PodFacts, since: int) -> bool:
    return bool(pod.sandbox_ready or pod.started or any(
        e[3] == KUBELET and e[5] >= since for e in pod.events))


def deletion_signals(pod: PodFacts, nodes: dict, limit: int) -> list[tuple]:
    """Why a deleted pod might still be there: facts for the `stuck` rules."""
    derived = []
    requested = pod.deletion_requested or pod.deletion_deadline or limit
    lost = node_not_ready(pod, nodes, requested, limit)
    if lost:
        derived.append(lost)
    confirmed = pod.last_grace_s == 0 or pod.phase in ("Succeeded", "Failed") or not pod.node
    if pod.finalizers and confirmed:
        derived.append(("derived", "FinalizersPending", "finalizers set while terminating: " + ", ".join(pod.finalizers), limit))
    if not confirmed and not lost:
        if pod.has_prestop:
            derived.append(("derived", "PreStopHookRunning", "a preStop hook is set and the kubelet has not confirmed the kill", limit))
        derived.append(("derived", "NoKubeletConfirmation",
                        f"node {pod.node} is Ready but the kubelet has not confirmed the deletion", limit))
    return derived
