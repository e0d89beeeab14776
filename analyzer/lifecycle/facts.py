"""What the store knows about one cluster, folded per pod and per node in ClickHouse.

The aggregation runs in SQL (one row per pod); Python only sees compact tuples.
Duplicated raw rows cannot change an aggregate (min/max/argMax/any), so these queries
need no FINAL. All times are epoch milliseconds.

Pods are read a `Slice` at a time: the pods that need a verdict (all of them, or only
those touched since the watermark) split into ranges of their uids, so memory stays bounded
and each slice reads only its part of raw_pods (ordered by uid).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import NamedTuple

import msgspec

from analyzer.lifecycle.durations import pulled_seconds
from podslo.ddl import in_memory
from podslo.errors import StoreError
from podslo.schema import ANALYSIS_FACTS
from podslo.store import Store
from slo_rules import Rules

# Pods whose verdict may change: rows or events since the watermark {low}, or a
# verdict that time can still change (pending; deletion asked and not yet gone).
_NEW = "(inserted_at > {low:DateTime64(3)} OR toUnixTimestamp(toStartOfMinute(inserted_at)) IN {late:Array(UInt32)})"
_CHANGED_UIDS = f"""
    SELECT uid FROM raw_pods WHERE cluster = {{cluster:String}} AND {_NEW}
    UNION DISTINCT SELECT object_uid FROM raw_events
      WHERE cluster = {{cluster:String}} AND {_NEW} AND object_kind = 'Pod'
    UNION DISTINCT SELECT pod_uid FROM raw_logs WHERE cluster = {{cluster:String}} AND {_NEW}
    UNION DISTINCT SELECT uid FROM pod_verdicts FINAL
      WHERE cluster = {{cluster:String}}
        AND (outcome = 'pending' OR upgrade_outcome = 'pending'
             OR (deletion_requested_at IS NOT NULL AND deletion_gone_at IS NULL))"""

_KEEP_CHANGED = (
    f"INSERT INTO analysis_uids (cluster, version, uid) SELECT {{cluster:String}}, {{version:UInt64}}, uid "
    f"FROM ({_CHANGED_UIDS})"
)
# The slice's pods without a verdict written at `version` (those the SQL decided), kept as
# the round's stage 1: a small set each of the Python's queries reads, where a NOT IN of
# the decided ones would rebuild a set of nearly every pod in each.
_KEEP_LEFT = """
INSERT INTO analysis_uids (cluster, version, uid, stage)
SELECT {cluster:String}, {version:UInt64}, uid, 1 FROM analysis_facts
WHERE cluster = {cluster:String} AND version = {version:UInt64} AND /*slice*/
  AND uid NOT IN (SELECT uid FROM pod_verdicts WHERE cluster = {cluster:String} AND version = {version:UInt64})"""
_ROUND_UIDS = "SELECT uid FROM analysis_uids WHERE cluster = {cluster:String} AND version = {round:UInt64} AND stage = {stage:UInt8}"


@dataclass(frozen=True)
class Slice:
    """The pods to analyze (all pods when low_ms is None), or a range of their uids."""

    cluster: str
    low_ms: int | None
    first: str | None = None  # uids from this one (None: from the lowest) ...
    upto: str | None = None  # ... up to, not including, this one (None: to the highest)
    late: tuple[int, ...] = ()  # minutes (epoch s) before `low_ms` whose rows became visible since
    round: int | None = None  # the round whose analysis_uids hold this slice's pods ...
    stage: int = 0  # ... as its stage 0 (`found`: the pods the watermark takes) or 1 (`left_by_sql`)

    def found(self, store: Store, version: int) -> Slice:
        """This slice with the pods its watermark takes found once and kept in analysis_uids
        under `version`, not found again by every query of the round (each would scan the raw
        tables since the watermark)."""
        if self.low_ms is None:
            return self
        store.command(_KEEP_CHANGED, version=version, **self.params())
        return replace(self, round=version)

    def left_by_sql(self, store: Store, version: int) -> Slice:
        """This slice without the pods given a verdict at `version` (decided in SQL): the rest
        kept in analysis_uids as the round's stage 1."""
        store.command(_KEEP_LEFT.replace("/*slice*/", self.where()), version=version, **self.params())
        return replace(self, round=version, stage=1)

    def where(self, column: str = "uid") -> str:
        parts = [self.uid_range(column)]
        if self.round is not None:
            parts.append(f"{column} IN ({_ROUND_UIDS})")
        elif self.low_ms is not None:
            raise ValueError("an incremental slice's pods are found once first (Slice.found)")
        return " AND ".join(parts)

    def uid_range(self, column: str = "uid") -> str:
        bounds = [f"{column} >= {{first:String}}"] if self.first is not None else []
        bounds += [f"{column} < {{upto:String}}"] if self.upto is not None else []
        return " AND ".join(bounds) or "1"

    def params(self) -> dict:
        return {
            "cluster": self.cluster,
            "low": (self.low_ms or 0) / 1000,
            "late": list(self.late),
            "first": self.first or "",
            "upto": self.upto or "",
            "round": self.round or 0,
            "stage": self.stage,
        }

    def split(self, store: Store, per_slice: int) -> list[Slice]:
        """These pods in uid ranges of about `per_slice` pods each (cut at a sample of their uids:
        a round's kept pods from analysis_uids, not from the raw rows they lie among)."""
        sql = SPLIT_SQL if self.round is None else _ROUND_SPLIT_SQL
        count, sample = store.rows(sql.replace("/*slice*/", self.uid_range()), **self.params())[0]
        ranges = max(1, -(-int(count) // per_slice))
        cuts = sorted({sample[len(sample) * i // ranges] for i in range(1, ranges)} if sample else set())
        bounds = [self.first, *cuts, self.upto]
        return [replace(self, first=lo, upto=hi) for lo, hi in zip(bounds, bounds[1:])]


# A pod's rows in the order they were written: by (rv, seen_at), as one UInt128 (the seen time
# offset by 2^62 ms to be positive), which argMax compares as a number, not as a generic tuple
# (a quarter of the facts' aggregation time: README, Performance).
ORDER = (
    "bitOr(bitShiftLeft(toUInt128(rv), 64), toUInt128(toUInt64(toUnixTimestamp64Milli(seen_at) + 4611686018427387904)))"
)
# When a deleted pod went: its last write by the cluster's record (the newest of its own
# timestamps and managedFields' times, or in a recording the newest time the stream had shown
# before its DELETED: a force delete writes no time of its own), never after the DELETED
# event was received.
_LAST_WRITE = "greatest(seen_at, ifNull(last_write_at, seen_at), ifNull(stream_at, seen_at))"
# When a row was written, as well as the cluster's record tells (its receive time when known).
_WRITTEN = "if(observed_at IS NULL, greatest(seen_at, ifNull(stream_at, seen_at)), observed_at)"
_GONE_AT = f"if(observed_at IS NULL, {_LAST_WRITE}, least({_LAST_WRITE}, observed_at))"


def _ms(column: str) -> str:
    return f"toUnixTimestamp64Milli({column})"


# The fields of a pod's latest row: its name by an argMax of a string each (a tuple's argMax
# goes the generic, slower way), the rest by one argMax (one per field costs a sort key each).
_STOPPED = (  # (the containers' subcolumns it needs, not their messages)
    "running_containers = 0 AND arrayExists((init, last, state) -> init = 0 AND last = 0 AND state = 'terminated', "
    "containers.init, containers.last, containers.state)"
)
_LATEST = f"argMax((phase, deletion_grace_s, {_STOPPED}), {ORDER})"
# ... and its run, with the time the watch saw it
_RAN = f"argMinIf((run_at, observed_at), {ORDER}, run_at IS NOT NULL)"

# PodFacts field -> its aggregate over the pod's raw rows (duplicates cannot change it).
POD_FIELDS = {
    "uid": "uid",
    "namespace": f"argMax(namespace, {ORDER})",
    "name": f"argMax(name, {ORDER})",
    "created": _ms("min(created_at)"),
    "node": f"argMaxIf(node, {ORDER}, node != '')",
    "phase": f"tupleElement({_LATEST} AS latest, 1)",
    "owner_kind": "any(owner_kind)",
    "owner_name": "any(owner_name)",
    "restart_policy": "any(restart_policy)",
    # any(labels) would keep each pod's Map as a generic Field (a quarter of the on-time facts' time)
    "labels": "groupArray(1)(labels)[1]",
    "cpu_m": "max(cpu_request_m)",
    "memory_b": "max(memory_request_b)",
    "has_prestop": "max(has_prestop) = 1",
    "scheduled": _ms("min(scheduled_at)"),
    "sandbox_ready": _ms("min(sandbox_ready_at)"),
    "ready": _ms("min(ready_at)"),
    "started": _ms("min(started_at)"),
    "deletion_requested": f"minIf({_ms('deletion_at')} - ifNull(deletion_grace_s, 0) * 1000, deletion_at IS NOT NULL)",
    "deletion_deadline": _ms("max(deletion_at)"),
    "last_grace_s": "tupleElement(latest, 2)",
    "finalizers": "arraySort(groupUniqArrayArrayIf(finalizers, deletion_at IS NOT NULL))",
    "claims": "arraySort(groupUniqArrayArray(claims))",
    "stopped": "tupleElement(latest, 3)",
    "gone": "max(event_type = 'DELETED') = 1",
    "gone_at": "if(max(event_type = 'DELETED') = 1, " + _ms(f"minIf({_GONE_AT}, event_type = 'DELETED')") + ", NULL)",
    "init_started": _ms("min(init_started_at)"),
    "initialized": _ms("min(initialized_at)"),
    "gated": "max(gated) = 1",
    "run": _ms(f"tupleElement({_RAN} AS ran, 1)"),
    "watch": _ms("tupleElement(ran, 2)"),
    "stateless": "min(stateless) = 1",
    "preempting": "max(nominated) = 1",
    "ungated": f"if(max(gated) = 1, {_ms(f'minIfOrNull({_WRITTEN}, gated = 0)')}, NULL)",
}
# The slice's pods' facts, folded once into analysis_facts (with how many image sets each pod
# showed): the on-time SQL and the Python read them there, where each would read every raw
# granule again for them (the Python's pods lie in all of them).
WRITE_FACTS_SQL = (
    f"INSERT INTO analysis_facts (cluster, version, {', '.join(POD_FIELDS)}, image_sets) "
    f"SELECT {{cluster:String}}, {{version:UInt64}}, {', '.join(POD_FIELDS.values())}, "
    "uniqExactIf(images, notEmpty(images)) "
    "FROM raw_pods PREWHERE cluster = {cluster:String} AND /*slice*/ GROUP BY uid"
)
FACTS_SQL = (
    f"SELECT {', '.join(POD_FIELDS)} FROM analysis_facts "
    "WHERE cluster = {cluster:String} AND version = {version:UInt64} AND /*slice*/"
)
_COUNT_FACTS = "SELECT count() FROM analysis_facts WHERE cluster = {cluster:String} AND version = {version:UInt64}"
_DELETE_FACTS = """
ALTER TABLE analysis_facts DELETE
WHERE cluster = {cluster:String} AND (version = {version:UInt64} OR version < {version:UInt64} - 86400000)"""
# The snapshots of the pods whose images changed while they lived, in order: (rv, seen, received,
# images, Ready, Ready since)
SNAPSHOT_SQL = """
SELECT uid, arraySort(x -> x.1, groupArrayIf((rv, toUnixTimestamp64Milli(seen_at), toUnixTimestamp64Milli(observed_at),
                                             images, ready, toUnixTimestamp64Milli(ready_at)), notEmpty(images)))
FROM raw_pods PREWHERE cluster = {cluster:String} AND /*slice*/ AND uid IN (
  SELECT uid FROM analysis_facts WHERE cluster = {cluster:String} AND version = {version:UInt64} AND image_sets > 1)
GROUP BY uid"""


@contextmanager
def kept_facts(store: Store, part: Slice, version: int) -> Iterator[None]:
    """The slice's pods' facts in analysis_facts under `version` while the block runs (then
    deleted with any a crashed round left a day ago; on a cluster they age out instead: a
    DELETE there is a mutation of every replica's parts). A table in memory is emptied by a
    ClickHouse restart: facts lost meanwhile fail the round (its pods went undecided), which
    the next one repeats from the same watermark."""
    store.command(WRITE_FACTS_SQL.replace("/*slice*/", part.where()), **part.params(), version=version)
    written = store.scalar(_COUNT_FACTS, cluster=part.cluster, version=version)
    try:
        yield
        left = store.scalar(_COUNT_FACTS, cluster=part.cluster, version=version)
        if left < written:
            raise StoreError(
                f"analysis_facts lost {written - left} of the {written} pods' facts of round {version} while it ran "
                "(a ClickHouse restart empties it): the round is repeated"
            )
    finally:
        if in_memory(store.layout, ANALYSIS_FACTS):
            store.command(_DELETE_FACTS, cluster=part.cluster, version=version)


# Signals: what the stored facts say that a rule may match, derived here so that a
# change of rules (which conditions count) or of this derivation re-decides stored pods.
# Rows written before the facts were stored carry the signals the collector derived.
# (One scan of the rows: the stored signals, conditions, containers and status side by side.)
SIGNAL_SQL = """
SELECT uid, s.1, s.2, s.3, toUnixTimestamp64Milli(min(s.4)) FROM (
  SELECT uid, arrayConcat(
    arrayMap(x -> (x.1, x.2, x.3, x.4), signals),
    arrayMap(c -> ('condition', concat(c.type, '/', c.reason), c.message, ifNull(c.since, seen_at)),
      arrayFilter(c -> c.reason != '' AND ((c.status = 'False' AND c.type IN {when_false:Array(String)})
                                           OR c.type IN {always:Array(String)}), conditions)),
    arrayMap(k -> (toString(k.state), if(k.reason = '' AND k.state = 'terminated', 'Error', k.reason),
                   if(k.state = 'terminated',
                      concat('exit code ', ifNull(toString(k.exit_code), '?'), if(k.message = '', '', concat(': ', k.message))),
                      k.message),
                   ifNull(k.finished_at, seen_at)),
      arrayFilter(k -> (k.state = 'waiting' AND k.reason != '')
                       OR (k.state = 'terminated' AND (k.reason != '' OR ifNull(k.exit_code, 0) != 0)), containers)),
    if(status_reason != '', [('status', status_reason, status_message, seen_at)], [])) AS found
  FROM raw_pods PREWHERE cluster = {cluster:String} AND /*slice*/ WHERE notEmpty(found))
ARRAY JOIN found AS s
GROUP BY uid, s.1, s.2, s.3
"""
# The Events about the slice's pods (on_time.py reads the same ones)
EVENTS_OF_PODS = "cluster = {cluster:String} AND object_kind = 'Pod' AND object_uid != '' AND /*slice object_uid*/"
EVENT_SQL = f"""
SELECT object_uid, reason, message, type, source_component,
       toUnixTimestamp64Milli(min(first_at)), toUnixTimestamp64Milli(max(last_at)), max(count)
FROM raw_events PREWHERE {EVENTS_OF_PODS}
GROUP BY object_uid, uid, reason, message, type, source_component
"""
LOG_SQL = """
SELECT pod_uid, component, message, toUnixTimestamp64Milli(min(at))
FROM raw_logs
PREWHERE cluster = {cluster:String} AND pod_uid != '' AND severity IN ('error', 'warning', 'fatal') AND /*slice*/
GROUP BY pod_uid, component, message
"""
# About how many pods (uniq: within a few per cent, enough to size the slices, and cheaper), and
# a sample of their uids, sorted, to cut them at
SPLIT_SQL = """
SELECT uniq(uid), arraySort(groupArraySample(4096, 1)(uid))
FROM raw_pods WHERE cluster = {cluster:String} AND /*slice*/"""
_ROUND_SPLIT_SQL = f"""
SELECT uniq(uid), arraySort(groupArraySample(4096, 1)(uid)) FROM ({_ROUND_UIDS}) WHERE /*slice*/"""
NOT_CREATED_SQL = """
SELECT uid, object_kind, object_namespace, object_name, reason, message,
       toUnixTimestamp64Milli(min(first_at)), toUnixTimestamp64Milli(max(last_at)), max(count)
FROM raw_events
WHERE cluster = {cluster:String} AND reason = 'FailedCreate' AND object_kind != 'Pod'
  AND inserted_at > {low:DateTime64(3)}
GROUP BY uid, object_kind, object_namespace, object_name, reason, message
"""
DAEMONSET_SQL = f"""
SELECT argMaxIf(node, {ORDER}, node != ''), any(owner_name)
FROM raw_pods WHERE cluster = {{cluster:String}} AND owner_kind = 'DaemonSet' AND owner_name IN {{names:Array(String)}}
GROUP BY uid
HAVING max(event_type = 'DELETED') = 0 AND argMax(ready, {ORDER}) = 'True'
"""
NODE_SQL = """
SELECT name, toUnixTimestamp64Milli(seen_at), event_type,
       arrayMap(c -> (c.1, c.2, c.3, c.4, toUnixTimestamp64Milli(c.5)), conditions),
       alloc_cpu_m, alloc_memory_b, volumes_in_use
FROM raw_nodes WHERE cluster = {cluster:String}
ORDER BY name, rv, seen_at
"""
# "Now" for a cluster: its newest timestamp, but one object cannot move it. A time with a
# receive time counts up to that plus 30 s of clock skew; of the rest, a time far beyond the
# bulk of the input (past its median by a week, or by ten times the spread below it) is
# an outlier, not the present, and is left out and counted.
_TIMES = """
  SELECT if(observed_at IS NULL, seen_at, least(seen_at, observed_at + INTERVAL 30 SECOND)) AS t
  FROM raw_pods WHERE cluster = {cluster:String}
  UNION ALL SELECT if(observed_at IS NULL, seen_at, least(seen_at, observed_at + INTERVAL 30 SECOND))
  FROM raw_events WHERE cluster = {cluster:String}
  UNION ALL SELECT if(observed_at IS NULL, seen_at, least(seen_at, observed_at + INTERVAL 30 SECOND))
  FROM raw_nodes WHERE cluster = {cluster:String}"""
_BOUND = "q[2] + greatest(7 * 86400000, 10 * (q[2] - q[1]))"  # q: the times' 1st and 50th percentiles
NOW_SQL = f"""
WITH times AS ({_TIMES}),
bulk AS (SELECT quantilesExact(0.01, 0.5)(toUnixTimestamp64Milli(t)) AS q FROM times),
limit_ms AS (SELECT {_BOUND} AS upto FROM bulk)
SELECT maxIf(toUnixTimestamp64Milli(t), toUnixTimestamp64Milli(t) <= (SELECT upto FROM limit_ms)),
       countIf(toUnixTimestamp64Milli(t) > (SELECT upto FROM limit_ms))
FROM times
"""
# One pass for the usual case, where no time lies beyond the bound: the newest is now.
_NEWEST_SQL = f"""
SELECT ms, {_BOUND} FROM (
  SELECT max(toUnixTimestamp64Milli(t)) AS ms, quantilesExact(0.01, 0.5)(toUnixTimestamp64Milli(t)) AS q FROM ({_TIMES}))"""
INSERTED_SQL = """
SELECT max(t) FROM (
  SELECT toUnixTimestamp64Milli(max(inserted_at)) AS t FROM raw_pods WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(inserted_at)) FROM raw_events WHERE cluster = {cluster:String}
  UNION ALL SELECT toUnixTimestamp64Milli(max(inserted_at)) FROM raw_nodes WHERE cluster = {cluster:String})
"""
COMBINED = "(combined from similar events): "


def strip_combined(message: str) -> str:
    """The kubelet's event correlator prefixes aggregated messages; the rest is the real text."""
    return message[len(COMBINED) :] if message.startswith(COMBINED) else message


class Signal(msgspec.Struct, frozen=True, gc=False):
    """A fact a rule may match: where it came from, its reason and message, and when.
    (Structs: a pod has dozens, built in C and kept out of the garbage collector's way.)"""

    source: str  # event, waiting, terminated, status, condition, log, derived
    reason: str
    message: str
    at: int


class Event(msgspec.Struct, frozen=True, gc=False):
    """The Events about a pod with the same reason and text, folded."""

    reason: str
    message: str
    type: str
    component: str
    first: int
    last: int
    count: int


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
    claims: list  # the PersistentVolumeClaims it mounts
    stopped: bool  # in its latest state every container had terminated
    gone: bool
    gone_at: int | None
    init_started: int | None  # its first init container's start (None: no init container; sidecars aside)
    initialized: int | None  # when its init containers had all completed
    gated: bool  # scheduling gates held it at some time (gates are only ever removed)
    run: int | None  # when, Running, its containers had all started (clusterloader2's "run")
    watch: int | None  # when that was received through the watch (None: not known, a recording)
    stateless: bool  # only secret, configMap, downwardAPI, projected and emptyDir volumes
    preempting: bool  # it needed preemption to be scheduled (nominatedNodeName)
    ungated: int | None  # when its last gate came off (None: never gated, or gated still)
    signals: list[Signal] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pull_s: float | None = None  # seconds waited for images (None: no pull seen)
    # its snapshots (seen, received, images, Ready, Ready since) when its images changed in place
    snapshots: list = field(default_factory=list)


assert tuple(POD_FIELDS) == tuple(f.name for f in fields(PodFacts))[: len(POD_FIELDS)]
assert ANALYSIS_FACTS.columns == ("cluster", "version", *POD_FIELDS, "image_sets")


def load_pods(store: Store, part: Slice, rules: Rules, version: int) -> dict[str, PodFacts]:
    """The slice's pods, their facts from analysis_facts under `version` (`kept_facts`)."""
    params = part.params()
    pods: dict[str, PodFacts] = {}
    for row in store.stream(FACTS_SQL.replace("/*slice*/", part.where()), **params, version=version):
        pods[row[0]] = PodFacts(*row)  # POD_FIELDS is in PodFacts' order (checked below)
    for uid, snapshots in store.stream(SNAPSHOT_SQL.replace("/*slice*/", part.where()), **params, version=version):
        pod = pods.get(uid)
        if pod is not None:
            pod.snapshots = [tuple(s[1:]) for s in snapshots]
    signal_params = {
        **params,
        "when_false": list(rules.spec.signals.conditions_when_false),
        "always": list(rules.spec.signals.conditions_always),
    }
    for uid, source, reason, message, at in store.stream(
        SIGNAL_SQL.replace("/*slice*/", part.where()), **signal_params
    ):
        pod = pods.get(uid)
        if pod is not None:
            pod.signals.append(Signal(source, reason, message, at))
    for uid, reason, message, *rest in store.stream(
        EVENT_SQL.replace("/*slice object_uid*/", part.where("object_uid")), **params
    ):
        pod = pods.get(uid)
        if pod is not None:
            pod.events.append(Event(reason, strip_combined(message), *rest))
    for uid, component, message, at in store.stream(LOG_SQL.replace("/*slice*/", part.where("pod_uid")), **params):
        pod = pods.get(uid)
        if pod is not None:
            pod.signals.append(Signal("log", component, message, at))
    for pod in pods.values():
        _complete(pod)
    return pods


def _complete(pod: PodFacts) -> None:
    """What the events add to the status: times the status lacks, and the pull durations."""
    pod.events.sort(key=lambda e: e.first)
    pod.scheduled = pod.scheduled or event_time(pod, "Scheduled")
    if pod.init_started is None:  # else a Started event may be an init container's
        pod.started = pod.started or event_time(pod, "Started")
    pod.pull_s = image_pull_seconds(pod)


def event_time(pod: PodFacts, reason: str) -> int | None:
    times = [e.first for e in pod.events if e.reason == reason]
    return min(times) if times else None


def image_pull_seconds(pod: PodFacts) -> float | None:
    """Sum of the kubelet's Pulled durations (pulls are serial by default), added in the order of
    their events (by time, then duration: the order the SQL path adds them in, on_time.py)."""
    pulled = [e for e in pod.events if e.reason == "Pulled"]
    if not pulled:
        return None
    durations = sorted((e.first, s) for e in pulled if (s := pulled_seconds(e.message)) is not None)
    if not durations:
        pulling, first_pulled = event_time(pod, "Pulling"), event_time(pod, "Pulled")
        present = any("already present" in e.message for e in pulled)
        if pulling and first_pulled and not present:
            return max(first_pulled - pulling, 0) / 1000
        return 0.0
    return sum(seconds for _, seconds in durations)


def load_not_created(store: Store, cluster: str, low_ms: int | None) -> list[tuple]:
    """Controller FailedCreate events: pods asked for that never came to exist."""
    return store.rows(NOT_CREATED_SQL, cluster=cluster, low=(low_ms or 0) / 1000)


def ready_daemonset_pods(store: Store, cluster: str, names: list[str]) -> list[tuple[str, str]]:
    """(node, daemonset) for each live, Ready pod of the named DaemonSets."""
    return store.rows(DAEMONSET_SQL, cluster=cluster, names=names) if names else []


def cluster_now(store: Store, cluster: str) -> tuple[int | None, int]:
    """'Now' for a cluster (replays judge by it), and how many timestamps were left out as
    outliers far beyond the rest."""
    newest, bound = store.rows(_NEWEST_SQL, cluster=cluster)[0]
    if not newest:
        return None, 0
    now, outliers = (newest, 0) if newest <= bound else store.rows(NOW_SQL, cluster=cluster)[0]
    return (int(now) if now else None), int(outliers or 0)


# Rows a pod's verdict reads, counted per minute of their insert time. A row can become visible
# after rows inserted later than it (a replicated or distributed table): a minute whose count
# grew since the last round holds such late rows, and its pods are decided again.
LATE_HORIZON_S = 3600  # how far back minutes are counted (and late rows still caught)
INSERTED_PER_MINUTE_SQL = """
SELECT toUnixTimestamp(toStartOfMinute(inserted_at)) AS minute, count() FROM (
  SELECT inserted_at FROM raw_pods WHERE cluster = {cluster:String} AND inserted_at >= {since:DateTime64(3)}
  UNION ALL SELECT inserted_at FROM raw_events
    WHERE cluster = {cluster:String} AND object_kind = 'Pod' AND inserted_at >= {since:DateTime64(3)}
  UNION ALL SELECT inserted_at FROM raw_logs
    WHERE cluster = {cluster:String} AND pod_uid != '' AND inserted_at >= {since:DateTime64(3)})
GROUP BY minute"""


def inserted_per_minute(store: Store, cluster: str, until_ms: int) -> dict[int, int]:
    """Rows per minute of insert time over the LATE_HORIZON_S before `until_ms`."""
    since = (until_ms / 1000) - LATE_HORIZON_S
    return {int(m): int(n) for m, n in store.rows(INSERTED_PER_MINUTE_SQL, cluster=cluster, since=since)}


def late_minutes(before: dict[int, int], now: dict[int, int], low_ms: int | None) -> tuple[int, ...]:
    """Minutes that had ended by the watermark whose rows grew in number since they were counted.
    (The watermark's own minute still grows by rows inserted after it, which `inserted_at >
    low` takes; rows of it that show late within the re-read overlap are taken too.)"""
    if low_ms is None:
        return ()
    return tuple(sorted(m for m, n in now.items() if (m + 60) * 1000 <= low_ms and n > before.get(m, 0)))


def inserted_until(store: Store, cluster: str) -> int | None:
    value = store.scalar(INSERTED_SQL, cluster=cluster)
    return int(value) if value else None


# -- nodes --------------------------------------------------------------------------------
BAD_STATUS = {
    "Ready": ("False", "Unknown"),
    "MemoryPressure": ("True",),
    "DiskPressure": ("True",),
    "PIDPressure": ("True",),
    "NetworkUnavailable": ("True",),
}


class NodeStatus(NamedTuple):
    """A node condition's status from `since` on."""

    since: int
    status: str
    reason: str
    message: str


@dataclass(slots=True)
class NodeFacts:
    name: str
    first_seen: int
    deleted_at: int | None = None
    alloc_cpu_m: int = 0
    alloc_memory_b: int = 0
    # condition type -> its statuses in time order
    timeline: dict = field(default_factory=lambda: defaultdict(list))
    volumes: list = field(default_factory=list)  # [(since, volumes in use)] in time order, on change

    def volumes_at(self, at: int) -> tuple:
        """The volumes the node reported in use at `at` (status.volumesInUse)."""
        current = ()
        for since, names in self.volumes:
            if since > at:
                break
            current = names
        return current

    def status_at(self, ctype: str, at: int) -> NodeStatus | None:
        """The status in force at `at`, or None if unknown."""
        current = None
        for entry in self.timeline.get(ctype, ()):
            if entry.since <= at:
                current = entry
            else:
                break
        return current

    def bad_spans(self, ctype: str, start: int, end: int) -> list[tuple[int, int, NodeStatus]]:
        """Spans within [start, end] where `ctype` was in a bad status."""
        spans, entries = [], self.timeline.get(ctype, [])
        for i, entry in enumerate(entries):
            until = entries[i + 1].since if i + 1 < len(entries) else end
            if entry.status in BAD_STATUS.get(ctype, ()):
                lo, hi = max(entry.since, start), min(until, end)
                if hi > lo:
                    spans.append((lo, hi, entry))
        return spans


def load_nodes(store: Store, cluster: str) -> dict[str, NodeFacts]:
    nodes: dict[str, NodeFacts] = {}
    for name, seen, event_type, conditions, cpu, memory, volumes in store.stream(NODE_SQL, cluster=cluster):
        node = nodes.get(name)
        if node is None:
            node = nodes[name] = NodeFacts(name, int(seen))
        node.alloc_cpu_m, node.alloc_memory_b = int(cpu), int(memory)
        if event_type == "DELETED":
            node.deleted_at = int(seen)
        if tuple(volumes) != (node.volumes[-1][1] if node.volumes else ()):
            node.volumes.append((int(seen), tuple(volumes)))
        for ctype, status, reason, message, since in conditions:
            entries = node.timeline[ctype]
            moment = int(since) if since else int(seen)
            if not entries or (entries[-1].status != status and moment >= entries[-1].since):
                entries.append(NodeStatus(moment, status, reason, message))
    for node in nodes.values():
        for entries in node.timeline.values():
            entries.sort(key=lambda e: e.since)
    return nodes
