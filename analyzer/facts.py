"""What the store knows about one cluster, folded per pod and per node in ClickHouse.

The aggregation runs in SQL (one row per pod); Python only sees compact tuples.
Duplicated raw rows cannot change an aggregate (min/max/argMax/any), so these queries
need no FINAL. All times are epoch milliseconds.

Pods are read a `Slice` at a time: the pods that need a verdict (all of them, or only
those touched since the watermark) split into hash buckets, so memory stays bounded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from analyzer.durations import pulled_seconds
from podslo.store import Store

# Pods whose verdict may change: rows or events since the watermark {low}, or a
# verdict that time can still change (pending; deletion asked and not yet gone).
_CHANGED_UIDS = """
    SELECT uid FROM raw_pods WHERE cluster = {cluster:String} AND inserted_at > {low:DateTime64(3)}
    UNION DISTINCT SELECT object_uid FROM raw_events
      WHERE cluster = {cluster:String} AND inserted_at > {low:DateTime64(3)} AND object_kind = 'Pod'
    UNION DISTINCT SELECT pod_uid FROM raw_logs WHERE cluster = {cluster:String} AND inserted_at > {low:DateTime64(3)}
    UNION DISTINCT SELECT uid FROM pod_verdicts FINAL
      WHERE cluster = {cluster:String}
        AND (outcome = 'pending' OR (deletion_requested_at IS NOT NULL AND deletion_gone_at IS NULL))"""


@dataclass(frozen=True)
class Slice:
    """One hash bucket of the pods to analyze (all pods when low_ms is None)."""
    cluster: str
    low_ms: int | None
    buckets: int = 1
    bucket: int = 0

    def where(self, column: str = "uid") -> str:
        parts = [f"cityHash64({column}) % {{buckets:UInt32}} = {{bucket:UInt32}}"]
        if self.low_ms is not None:
            parts.append(f"{column} IN ({_CHANGED_UIDS})")
        return " AND ".join(parts)

    def params(self) -> dict:
        return {"cluster": self.cluster, "low": (self.low_ms or 0) / 1000, "buckets": self.buckets, "bucket": self.bucket}


_ORDER = "(rv, seen_at)"
# When a deleted pod went: its last write by the cluster's record (the newest of its own
# timestamps and managedFields' times), never after the DELETED event was received.
_LAST_WRITE = "greatest(seen_at, ifNull(last_write_at, seen_at))"
_GONE_AT = f"if(observed_at IS NULL, {_LAST_WRITE}, least({_LAST_WRITE}, observed_at))"
POD_SQL = f"""
SELECT uid, any(namespace), any(name), toUnixTimestamp64Milli(min(created_at)),
       argMaxIf(node, {_ORDER}, node != ''), argMax(phase, {_ORDER}),
       any(owner_kind), any(owner_name), any(restart_policy), any(labels),
       max(cpu_request_m), max(memory_request_b), max(has_prestop),
       toUnixTimestamp64Milli(min(scheduled_at)), toUnixTimestamp64Milli(min(sandbox_ready_at)),
       toUnixTimestamp64Milli(min(ready_at)), toUnixTimestamp64Milli(min(started_at)),
       minIf(toUnixTimestamp64Milli(deletion_at) - ifNull(deletion_grace_s, 0) * 1000, deletion_at IS NOT NULL),
       toUnixTimestamp64Milli(max(deletion_at)),
       argMax(deletion_grace_s, {_ORDER}), groupUniqArrayArrayIf(finalizers, deletion_at IS NOT NULL),
       max(event_type = 'DELETED'), toUnixTimestamp64Milli(minIf({_GONE_AT}, event_type = 'DELETED'))
FROM raw_pods WHERE cluster = {{cluster:String}} AND /*slice*/
GROUP BY uid
"""
SIGNAL_SQL = """
SELECT uid, s.1, s.2, s.3, toUnixTimestamp64Milli(min(s.4))
FROM raw_pods ARRAY JOIN signals AS s
WHERE cluster = {cluster:String} AND /*slice*/
GROUP BY uid, s.1, s.2, s.3
"""
EVENT_SQL = """
SELECT object_uid, reason, message, type, source_component,
       toUnixTimestamp64Milli(min(first_at)), toUnixTimestamp64Milli(max(last_at)), max(count)
FROM raw_events
WHERE cluster = {cluster:String} AND object_kind = 'Pod' AND object_uid != '' AND /*slice*/
GROUP BY object_uid, uid, reason, message, type, source_component
"""
LOG_SQL = """
SELECT pod_uid, component, message, toUnixTimestamp64Milli(min(at))
FROM raw_logs
WHERE cluster = {cluster:String} AND pod_uid != '' AND severity IN ('error', 'warning', 'fatal') AND /*slice*/
GROUP BY pod_uid, component, message
"""
COUNT_SQL = "SELECT count(DISTINCT uid) FROM raw_pods WHERE cluster = {cluster:String} AND /*slice*/"
NOT_CREATED_SQL = """
SELECT uid, object_kind, object_namespace, object_name, reason, message,
       toUnixTimestamp64Milli(min(first_at)), toUnixTimestamp64Milli(max(last_at)), max(count)
FROM raw_events
WHERE cluster = {cluster:String} AND reason = 'FailedCreate' AND object_kind != 'Pod'
  AND inserted_at > {low:DateTime64(3)}
GROUP BY uid, object_kind, object_namespace, object_name, reason, message
"""
DAEMONSET_SQL = f"""
SELECT argMaxIf(node, {_ORDER}, node != ''), any(owner_name)
FROM raw_pods WHERE cluster = {{cluster:String}} AND owner_kind = 'DaemonSet' AND owner_name IN {{names:Array(String)}}
GROUP BY uid
HAVING max(event_type = 'DELETED') = 0 AND argMax(ready, {_ORDER}) = 'True'
"""
NODE_SQL = """
SELECT name, toUnixTimestamp64Milli(seen_at), event_type,
       arrayMap(c -> (c.1, c.2, c.3, c.4, toUnixTimestamp64Milli(c.5)), conditions),
       alloc_cpu_m, alloc_memory_b
FROM raw_nodes WHERE cluster = {cluster:String}
ORDER BY name, rv, seen_at
"""
NOW_SQL = """
SELECT max(t) FROM (
  SELECT toUnixTimestamp64Milli(max(seen_at)) AS t FROM raw_pods WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(seen_at)) FROM raw_events WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(seen_at)) FROM raw_nodes WHERE cluster = {cluster:String})
"""
INSERTED_SQL = """
SELECT max(t) FROM (
  SELECT toUnixTimestamp64Milli(max(inserted_at)) AS t FROM raw_pods WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(inserted_at)) FROM raw_events WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(inserted_at)) FROM raw_nodes WHERE cluster = {cluster:String})
"""
COMBINED = "(combined from similar events): "


def strip_combined(message: str) -> str:
    """The kubelet's event correlator prefixes aggregated messages; the rest is the real text."""
    return message[len(COMBINED):] if message.startswith(COMBINED) else message


@dataclass(slots=True)
class PodFacts:
    uid: str
    namespace: str
    name: str
    created: int
    node: str
    phase: str
    owner_kind: str
    owner_name: str
    restart_policy: str
    labels: dict
    cpu_m: int
    memory_b: int
    has_prestop: bool
    scheduled: int | None
    sandbox_ready: int | None
    ready: int | None
    started: int | None
    deletion_requested: int | None
    deletion_deadline: int | None  # the latest deletionTimestamp seen
    last_grace_s: int | None
    finalizers: list  # set at some time while it terminated
    gone: bool
    gone_at: int | None
    signals: list = field(default_factory=list)  # (source, reason, message, at)
    events: list = field(default_factory=list)  # (reason, message, type, component, first, last, count)
    pull_s: float | None = None  # seconds waited for images (None: no pull seen)


def _int_or_none(value):
    return None if value is None else int(value)


def count_pods(store: Store, part: Slice) -> int:
    return int(store.scalar(COUNT_SQL.replace("/*slice*/", part.where()), **part.params()) or 0)


def load_pods(store: Store, part: Slice) -> dict[str, PodFacts]:
    params = part.params()
    pods: dict[str, PodFacts] = {}
    for r in store.stream(POD_SQL.replace("/*slice*/", part.where()), **params):
        pods[r[0]] = PodFacts(
            r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], r[8], dict(r[9]), int(r[10]), int(r[11]),
            bool(r[12]), *(_int_or_none(v) for v in r[13:19]), r[19], sorted(r[20]), bool(r[21]),
            _int_or_none(r[22]) if r[21] else None)
    for uid, source, reason, message, at in store.stream(SIGNAL_SQL.replace("/*slice*/", part.where()), **params):
        pod = pods.get(uid)
        if pod is not None:
            pod.signals.append((source, reason, message, int(at)))
    for uid, reason, message, *rest in store.stream(EVENT_SQL.replace("/*slice*/", part.where("object_uid")), **params):
        pod = pods.get(uid)
        if pod is not None:
            pod.events.append((reason, strip_combined(message), *rest))
    for uid, component, message, at in store.stream(LOG_SQL.replace("/*slice*/", part.where("pod_uid")), **params):
        pod = pods.get(uid)
        if pod is not None:
            pod.signals.append(("log", component, message, int(at)))
    for pod in pods.values():
        _complete(pod)
    return pods


def _complete(pod: PodFacts) -> None:
    """What the events add to the status: times the status lacks, and the pull durations."""
    pod.events.sort(key=lambda e: e[4])
    pod.scheduled = pod.scheduled or event_time(pod, "Scheduled")
    pod.started = pod.started or event_time(pod, "Started")
    pod.pull_s = image_pull_seconds(pod)


def event_time(pod: PodFacts, reason: str) -> int | None:
    times = [e[4] for e in pod.events if e[0] == reason]
    return min(times) if times else None


def image_pull_seconds(pod: PodFacts) -> float | None:
    """Sum of the kubelet's Pulled durations (pulls are serial by default)."""
    total, seen = None, False
    for reason, message, *_ in pod.events:
        if reason != "Pulled":
            continue
        seen = True
        seconds = pulled_seconds(message)
        if seconds is not None:
            total = (total or 0.0) + seconds
    if total is None and seen:
        pulling, pulled = event_time(pod, "Pulling"), event_time(pod, "Pulled")
        present = any("already present" in e[1] for e in pod.events if e[0] == "Pulled")
        if pulling and pulled and not present:
            return max(pulled - pulling, 0) / 1000
        return 0.0
    return total


def load_not_created(store: Store, cluster: str, low_ms: int | None) -> list[tuple]:
    """Controller FailedCreate events: pods asked for that never came to exist."""
    return store.rows(NOT_CREATED_SQL, cluster=cluster, low=(low_ms or 0) / 1000)


def ready_daemonset_pods(store: Store, cluster: str, names: list[str]) -> list[tuple[str, str]]:
    """(node, daemonset) for each live, Ready pod of the named DaemonSets."""
    return store.rows(DAEMONSET_SQL, cluster=cluster, names=names) if names else []


def cluster_now(store: Store, cluster: str) -> int | None:
    """'Now' for a cluster: the newest timestamp in its input (replays judge by it)."""
    value = store.scalar(NOW_SQL, cluster=cluster)
    return int(value) if value else None


def inserted_until(store: Store, cluster: str) -> int | None:
    value = store.scalar(INSERTED_SQL, cluster=cluster)
    return int(value) if value else None


# -- nodes --------------------------------------------------------------------------------
BAD_STATUS = {"Ready": ("False", "Unknown"), "MemoryPressure": ("True",), "DiskPressure": ("True",),
              "PIDPressure": ("True",), "NetworkUnavailable": ("True",)}


@dataclass(slots=True)
class NodeFacts:
    name: str
    first_seen: int
    deleted_at: int | None = None
    alloc_cpu_m: int = 0
    alloc_memory_b: int = 0
    # condition type -> sorted [(since, status, reason, message)]
    timeline: dict = field(default_factory=lambda: defaultdict(list))

    def status_at(self, ctype: str, at: int) -> tuple | None:
        """The (since, status, reason, message) in force at `at`, or None if unknown."""
        current = None
        for entry in self.timeline.get(ctype, ()):
            if entry[0] <= at:
                current = entry
            else:
                break
        return current

    def bad_spans(self, ctype: str, start: int, end: int) -> list[tuple[int, int, tuple]]:
        """Spans within [start, end] where `ctype` was in a bad status."""
        spans, entries = [], self.timeline.get(ctype, [])
        for i, entry in enumerate(entries):
            until = entries[i + 1][0] if i + 1 < len(entries) else end
            if entry[1] in BAD_STATUS.get(ctype, ()):
                lo, hi = max(entry[0], start), min(until, end)
                if hi > lo:
                    spans.append((lo, hi, entry))
        return spans


def load_nodes(store: Store, cluster: str) -> dict[str, NodeFacts]:
    nodes: dict[str, NodeFacts] = {}
    for name, seen, event_type, conditions, cpu, memory in store.stream(NODE_SQL, cluster=cluster):
        node = nodes.get(name)
        if node is None:
            node = nodes[name] = NodeFacts(name, int(seen))
        node.alloc_cpu_m, node.alloc_memory_b = int(cpu), int(memory)
        if event_type == "DELETED":
            node.deleted_at = int(seen)
        for ctype, status, reason, message, since in conditions:
            entries = node.timeline[ctype]
            moment = int(since) if since else int(seen)
            if not entries or (entries[-1][1] != status and moment >= entries[-1][0]):
                entries.append((moment, status, reason, message))
    for node in nodes.values():
        for entries in node.timeline.values():
            entries.sort(key=lambda e: e[0])
    return nodes
