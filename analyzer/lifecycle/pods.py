"""One verdict per pod (contract 2): delivered on time or not, why, whose fault.

The code here computes facts (phases, derived signals); which fact means which
reason code is decided by the rules in slo_rules/, tried in order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from analyzer.lifecycle.facts import NodeFacts, PodFacts, Signal
from podslo.timeutil import iso
from slo_rules import Rule

JOB_OWNERS = {"Job", "CronJob"}
KUBELET = "kubelet"
EVIDENCE_CHARS = 500


@dataclass(slots=True)
class Decision:
    rule: Rule | None
    signal: Signal | None

    @property
    def evidence(self) -> str:
        if not self.signal:
            return ""
        s = self.signal
        text = f"{s.source} {s.reason}: {s.message}" if s.message else f"{s.source} {s.reason}"
        return text[:EVIDENCE_CHARS]


def first_match(rules: tuple[Rule, ...], signals: list[Signal], fits_node: bool) -> Decision | None:
    """The highest-priority rule any signal satisfies, with the first signal that does: the
    signal whose own first matching rule comes first. (What a signal matches is remembered per
    rule list: failing pods repeat each other's messages.)"""
    lowest = _lowest_rule(rules)
    best, found = len(rules), None
    for signal in signals:
        at = lowest(signal.source, signal.reason, signal.message, fits_node)
        if at < best:
            best, found = at, signal
    return None if found is None else Decision(rules[best], found)


_LOWEST: dict[int, tuple[tuple[Rule, ...], Callable]] = {}  # id -> (the rules, kept alive: ids stay theirs)


def _lowest_rule(rules: tuple[Rule, ...]) -> Callable[[str, str, str, bool], int]:
    """For these rules, a signal's first matching rule's index (len(rules): none), cached."""
    entry = _LOWEST.get(id(rules))
    if entry is None:
        if len(_LOWEST) >= 16:  # rule files reloaded many times: start again
            _LOWEST.clear()

        # A signal's message is tried only on the rules that take its source and reason: messages
        # are many (names, times), reasons few.
        @functools.lru_cache(maxsize=1 << 12)
        def taking(source: str, reason: str, fits_node: bool) -> tuple[tuple[int, Rule], ...]:
            return tuple((at, rule) for at, rule in enumerate(rules) if rule.matcher.takes(source, reason, fits_node))

        @functools.lru_cache(maxsize=1 << 16)
        def lowest(source: str, reason: str, message: str, fits_node: bool) -> int:
            for at, rule in taking(source, reason, fits_node):
                if rule.matcher.says(message):
                    return at
            return len(rules)

        entry = _LOWEST[id(rules)] = (rules, lowest)
    return entry[1]


def rounded(seconds: float, digits: int = 3) -> float:
    """Rounded as ClickHouse's round() does (scaled, to the nearest integer, ties to even, scaled
    back), so that a verdict decided in SQL (on_time.py) and one decided here agree to the bit."""
    scale = 10**digits
    return round(seconds * scale) / scale


def pod_kind(pod: PodFacts) -> str:
    """job = owned by a Job/CronJob, or a restartPolicy other than Always."""
    return "job" if pod.owner_kind in JOB_OWNERS or pod.restart_policy != "Always" else "service"


def phases(pod: PodFacts, kind: str) -> dict:
    """Phase durations in seconds (None where the pod never got there)."""
    created, scheduled, started, pull_s = due_from(pod), pod.scheduled, pod.started, pod.pull_s
    pulls = [e.first for e in pod.events if e.reason in ("Pulling", "Pulled")]
    sandbox = pod.sandbox_ready or (min(pulls) if pulls else None)
    ready = pod.ready if kind == "service" else None

    def span(later, earlier):
        return None if later is None or earlier is None else rounded(max(later - earlier, 0) / 1000)

    start_from = sandbox or scheduled
    container_start = span(started, start_from)
    if container_start is not None and pull_s:
        container_start = rounded(max(container_start - pull_s, 0.0))
    return {
        "scheduling_s": span(scheduled, created),
        "sandbox_s": span(sandbox, scheduled),
        "image_pull_s": None if pull_s is None else rounded(pull_s, 9),
        "container_start_s": container_start,
        "readiness_s": span(ready, started),
    }


_TEMPLATE_HASH = re.compile(r"^(?P<deployment>.+)-[a-z0-9]{5,10}$")


def workload(owner_kind: str, owner_name: str, pod_name: str) -> tuple[str, str]:
    """(kind, name) of what runs the pod: a ReplicaSet's Deployment (its name without the pod
    template hash), a StatefulSet, Job, DaemonSet, or the pod itself."""
    if owner_kind == "ReplicaSet":
        match = _TEMPLATE_HASH.match(owner_name)
        return ("Deployment", match["deployment"]) if match else ("ReplicaSet", owner_name)
    return (owner_kind, owner_name) if owner_kind else ("Pod", pod_name)


def startup(pod: PodFacts) -> dict:
    """SIG-Scalability's pod startup latency, exactly: from creation (for a gated pod, from its
    last gate off) to when all its containers were started and that was observed via watch
    (the receive time live, when it follows the run within a minute; else the run time), without image pulls
    and init containers; only for a stateless pod (secret, configMap, downwardAPI, projected,
    emptyDir volumes) that needed no preemption. A stateful pod's figure is kept apart, from its
    binding on (volume provisioning, which the scheduler waits for before binding, left out).
    With clusterloader2's phases (seconds)."""
    run, scheduled = pod.run, pod.scheduled
    watch = pod.watch if _watched_in_time(pod.watch, run) else run
    init_s = (pod.initialized - pod.init_started) / 1000 if pod.init_started and pod.initialized else 0.0
    excluded = (pod.pull_s or 0.0) + max(init_s, 0.0)

    def span(later: int | None, earlier: int | None) -> float | None:
        return None if later is None or earlier is None else rounded(max(later - earlier, 0) / 1000)

    def without_excluded(seconds: float | None) -> float | None:
        return None if seconds is None else rounded(max(seconds - excluded, 0.0))

    counted = not pod.preempting
    return {
        "startup_s": without_excluded(span(watch, due_from(pod))) if counted and pod.stateless else None,
        "startup_stateful_s": without_excluded(span(watch, scheduled)) if counted and not pod.stateless else None,
        "create_to_schedule_s": span(scheduled, due_from(pod)),
        "schedule_to_run_s": span(run, scheduled),
        "run_to_watch_s": span(watch, run),
    }


WATCH_LAG_MAX_MS = 60_000  # a receive time later than this after the run is not the watch observing it


def _watched_in_time(watch: int | None, run: int | None) -> bool:
    """A receive time that observed the run: not before it, nor so long after it that it came
    from a relist after a gap, or from a clock apart from the cluster's (a simulated cluster
    faster than the wall clock)."""
    return watch is not None and run is not None and 0 <= watch - run <= WATCH_LAG_MAX_MS


def due_from(pod: PodFacts) -> int:
    """When the pod's deadline starts running: its creation, or for a pod held by scheduling
    gates (Kueue, custom admission) the moment its last gate came off."""
    return max(pod.created, pod.ungated) if pod.ungated is not None else pod.created


def delivered_at(pod: PodFacts, kind: str) -> int | None:
    """Service pods are delivered when Ready; job pods when a container has run."""
    return pod.ready if kind == "service" else pod.started


def fits_some_node(pod: PodFacts, nodes: dict[str, NodeFacts]) -> bool:
    """Does the pod's request fit the allocatable of at least one node? (unknown -> yes)"""
    sized = [n for n in nodes.values() if n.alloc_cpu_m or n.alloc_memory_b]
    if not sized:
        return True
    return any(pod.cpu_m <= n.alloc_cpu_m and pod.memory_b <= n.alloc_memory_b for n in sized)


def all_signals(pod: PodFacts) -> list[Signal]:
    """The signals of the pod's stored states and logs, and its events."""
    return pod.signals + [Signal("event", e.reason, e.message, e.first) for e in pod.events]


def node_not_ready(pod: PodFacts, nodes: dict[str, NodeFacts], start: int, end: int) -> Signal | None:
    node = nodes.get(pod.node)
    if node is None or not pod.node:
        return None
    spans = node.bad_spans("Ready", start, end)
    if not spans:
        return None
    lo, _, (since, status, reason, message) = spans[0]
    text = f"node {pod.node} Ready={status} since {iso(since)} ({reason}): {message}"
    return Signal("derived", "NodeNotReady", text, lo)


def delivery_signals(pod: PodFacts, kind: str, nodes: dict, deadline_at: int, now: int) -> list[Signal]:
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
        derived.append(
            Signal(
                "derived",
                "SlowImagePull",
                f"image pull took {pull_s:.3f}s of a {(delivered - due_from(pod)) / 1000:.3f}s delivery",
                delivered,
            )
        )
    elif _pulling_at(pod, deadline_at):
        derived.append(Signal("derived", "SlowImagePull", "image still pulling at the deadline", deadline_at))
    scheduled = pod.scheduled
    if scheduled is None and now >= deadline_at:
        derived.append(Signal("derived", "NotScheduled", "not scheduled by the deadline", deadline_at))
    elif scheduled and delivered and delivered - (scheduled - due_from(pod)) <= deadline_at:
        derived.append(
            Signal("derived", "SlowScheduling", f"scheduling took {(scheduled - due_from(pod)) / 1000:.3f}s", scheduled)
        )
    elif scheduled and scheduled > deadline_at:
        derived.append(
            Signal(
                "derived",
                "SlowScheduling",
                f"scheduled {(scheduled - deadline_at) / 1000:.3f}s after the deadline",
                scheduled,
            )
        )
    init = _slow_init(pod, delivered, deadline_at, now)
    if init:
        derived.append(init)
    if scheduled and scheduled <= deadline_at and not delivered and not _kubelet_acted(pod, scheduled):
        derived.append(
            Signal("derived", "NoKubeletProgress", f"bound to {pod.node or '?'}; no kubelet activity since", scheduled)
        )
    return derived


def _slow_init(pod: PodFacts, delivered: int | None, deadline_at: int, now: int) -> Signal | None:
    """The pod's own init containers (the user's work) made it late: it would have been on
    time without them, or they were still running at the deadline."""
    begun, done = pod.init_started, pod.initialized
    if begun is None or begun > deadline_at:
        return None
    if done is not None and delivered is not None and delivered - (done - begun) <= deadline_at:
        return Signal("derived", "SlowInit", f"init containers ran {(done - begun) / 1000:.3f}s", done)
    if (done is None or done > deadline_at) and delivered is None and now >= deadline_at:
        return Signal("derived", "SlowInit", "init containers still running at the deadline", deadline_at)
    return None


def _pulling_at(pod: PodFacts, moment: int) -> bool:
    """A pull started before `moment` that had not finished or failed by then."""
    pulling = [e.first for e in pod.events if e.reason == "Pulling" and e.first <= moment]
    if not pulling:
        return False
    begun = max(pulling)
    return not any(e.reason in ("Pulled", "Failed", "BackOff") and begun <= e.first <= moment for e in pod.events)


def _kubelet_acted(pod: PodFacts, since: int) -> bool:
    return bool(pod.sandbox_ready or pod.started or any(e.component == KUBELET and e.last >= since for e in pod.events))


def _volumes_held(pod: PodFacts, nodes: dict, at: int) -> Signal | None:
    """Containers all stopped, the pod still there, and its node still reporting volumes
    in use: the kubelet is waiting on volume teardown (it deletes the pod only after), even
    when it records no Event about it."""
    node = nodes.get(pod.node)
    if not pod.claims or node is None or not (pod.stopped or pod.phase in ("Succeeded", "Failed")):
        return None
    in_use = node.volumes_at(at)
    if not in_use:
        return None
    return Signal(
        "derived",
        "VolumesStillInUse",
        f"all containers stopped; node {pod.node} still reports "
        f"{len(in_use)} volume(s) in use ({', '.join(in_use[:3])}); claims: {', '.join(pod.claims)}",
        at,
    )


def deletion_signals(pod: PodFacts, nodes: dict, limit: int) -> list[Signal]:
    """Why a deleted pod might still be there: facts for the `stuck` rules."""
    derived = []
    requested = pod.deletion_requested or pod.deletion_deadline or limit
    lost = node_not_ready(pod, nodes, requested, limit)
    if lost:
        derived.append(lost)
    confirmed = pod.last_grace_s == 0 or pod.phase in ("Succeeded", "Failed") or not pod.node
    teardown = _volumes_held(pod, nodes, limit)
    if teardown and not lost:
        derived.append(teardown)
    if pod.finalizers and confirmed:
        derived.append(
            Signal(
                "derived", "FinalizersPending", "finalizers set while terminating: " + ", ".join(pod.finalizers), limit
            )
        )
    if not confirmed and not lost:
        if pod.has_prestop:
            derived.append(
                Signal(
                    "derived",
                    "PreStopHookRunning",
                    "a preStop hook is set and the kubelet has not confirmed the kill",
                    limit,
                )
            )
        derived.append(
            Signal(
                "derived",
                "NoKubeletConfirmation",
                f"node {pod.node} is Ready but the kubelet has not confirmed the deletion",
                limit,
            )
        )
    return derived
