"""Verdicts rolled up for the read side, so an answer over a week of a million pods reads a
few thousand rows, not every verdict (podslo.schema says what each table holds):

- `delivery_latency`: the delivered pods' latencies (and each phase's) per minute and per
  hour of their decision; a range reads its whole hours and the minutes at either end. The
  counts beside them are the delivery SLI's minutes (sli_minutes).
- `workload_minutes`, `workload_hours`, `workload_days`: each workload's verdicts per minute,
  hour and day (UTC) of its pods' creation; a range reads its whole days, the whole hours
  beside them and the minutes at either end.

A bucket is rewritten whole, at the analysis's version, whenever a verdict in it changes (as
an SLI minute is): a moved verdict leaves its old bucket and counts in its new one. Only
the verdicts of the pods in question are read (`_UIDS`).
"""

from __future__ import annotations

from analyzer.lifecycle.predicates import FAILED_SYSTEM, FAILED_USER
from podslo.schema import DELIVERY_LATENCY, WORKLOAD_DAYS, WORKLOAD_HOURS, WORKLOAD_MINUTES, Table
from podslo.store import Store

LATENCIES = tuple(c for c in DELIVERY_LATENCY.columns if c.endswith("_s"))  # delivery_s and each phase
_STATE = "quantilesExactStateIf(0.5, 0.9, 0.99)"
_EMPTY = f"{_STATE}(toFloat32(0), 0)"
MERGE = "quantilesExactMerge(0.5, 0.9, 0.99)"
_MERGE_STATES = "quantilesExactMergeState(0.5, 0.9, 0.99)"


def latency_state(column: str, when: str = "1") -> str:
    """The aggregate state of a Nullable seconds column's values where `when` holds."""
    return f"{_STATE}(toFloat32(assumeNotNull({column})), {column} IS NOT NULL AND {when})"


# Only the verdicts of the pods in question: a condition on the sorting key is applied before
# FINAL (to every version of a pod alike), so the other verdicts are never merged.
_UIDS = "PREWHERE uid IN (SELECT uid FROM pod_verdicts WHERE cluster = {cluster:String} AND %s)"

_DELIVERED = "outcome = 'success'"
_DELIVERY_MINUTES = f"""
INSERT INTO delivery_latency ({", ".join(DELIVERY_LATENCY.columns)})
SELECT cluster, 60, at, sum(delivered), {", ".join(f"{_MERGE_STATES}({c}_values)" for c in LATENCIES)}, {{version:UInt64}}
FROM (
    SELECT cluster, toStartOfMinute(assumeNotNull(decided_at)) AS at, countIf({_DELIVERED}) AS delivered,
           {", ".join(f"{latency_state(c, _DELIVERED)} AS {c}_values" for c in LATENCIES)}
    FROM pod_verdicts FINAL /*uids*/
    WHERE cluster = {{cluster:String}} AND decided_at IS NOT NULL AND outcome != 'pending' AND /*buckets*/
    GROUP BY cluster, at
    UNION ALL
    SELECT cluster, at, 0, {", ".join([_EMPTY] * len(LATENCIES))}
    FROM delivery_latency FINAL
    WHERE cluster = {{cluster:String}} AND step = 60 AND /*buckets*/
    GROUP BY cluster, at
)
GROUP BY cluster, at"""

_DELIVERY_HOURS = f"""
INSERT INTO delivery_latency ({", ".join(DELIVERY_LATENCY.columns)})
SELECT cluster, 3600, toStartOfHour(at) AS hour, sum(delivered),
       {", ".join(f"{_MERGE_STATES}({c})" for c in LATENCIES)}, {{version:UInt64}}
FROM delivery_latency FINAL
WHERE cluster = {{cluster:String}} AND step = 60 AND /*buckets*/
GROUP BY cluster, hour"""

# A workload's figures over a set of verdicts: the columns of the workloads roll-up.
_FIGURES = f"""count() AS pods, countIf(outcome = 'success') AS success,
       countIf({FAILED_SYSTEM}) AS failed_system, countIf({FAILED_USER}) AS failed_user,
       countIf(outcome = 'pending') AS pending, countIf(deletion_stuck = 1) AS stuck,
       countIf(delivery_s IS NOT NULL) AS delivered, {latency_state("delivery_s")} AS latency,
       sumMapIf(map(ifNull(reason, ''), toUInt64(1)), {FAILED_SYSTEM}) AS system_reasons"""
WORKLOAD_SUMS = ("pods", "success", "failed_system", "failed_user", "pending", "stuck", "delivered")
_ROLLED = f"{', '.join(f'sum({c})' for c in WORKLOAD_SUMS)}, {_MERGE_STATES}(latency), sumMap(system_reasons)"
_NOTHING = f"{', '.join(['0'] * len(WORKLOAD_SUMS))}, {_EMPTY}, CAST(map(), 'Map(String, UInt64)')"

_WORKLOAD_MINUTES = f"""
INSERT INTO workload_minutes ({", ".join(WORKLOAD_MINUTES.columns)})
SELECT cluster, minute, namespace, kind, workload, {_ROLLED}, {{version:UInt64}}
FROM (
    SELECT cluster, toStartOfMinute(created_at) AS minute, namespace, workload_kind AS kind, workload, {_FIGURES}
    FROM pod_verdicts FINAL /*uids*/
    WHERE cluster = {{cluster:String}} AND workload != '' AND /*buckets*/
    GROUP BY cluster, minute, namespace, workload_kind, workload
    UNION ALL
    SELECT cluster, minute, namespace, kind, workload, {_NOTHING}
    FROM workload_minutes FINAL
    WHERE cluster = {{cluster:String}} AND /*buckets*/
    GROUP BY cluster, minute, namespace, kind, workload
)
GROUP BY cluster, minute, namespace, kind, workload"""


def _coarser(target: Table, finer: str, bucket: str) -> str:
    """The INSERT of `target`'s workload buckets (`bucket`, the start of one, named as its
    column) rolled up from the `finer` table's rows."""
    alias = target.columns[4]
    return f"""
INSERT INTO {target.name} ({", ".join(target.columns)})
SELECT cluster, namespace, kind, workload, {bucket} AS {alias}, {_ROLLED}, {{version:UInt64}}
FROM {finer} FINAL
WHERE cluster = {{cluster:String}} AND /*buckets*/
GROUP BY cluster, namespace, kind, workload, {alias}"""


_WORKLOAD_HOURS = _coarser(WORKLOAD_HOURS, "workload_minutes", "toStartOfHour(minute)")
_WORKLOAD_DAYS = _coarser(WORKLOAD_DAYS, "workload_hours", "toStartOfDay(hour)")

# Each statement's buckets, as the alias or column it groups by, and as the verdicts say them
_AT_IN = "toUnixTimestamp(at) IN {buckets:Array(UInt32)}"
_MINUTE_IN = "toUnixTimestamp(minute) IN {buckets:Array(UInt32)}"
_HOUR_IN = "toUnixTimestamp(hour) IN {buckets:Array(UInt32)}"
_DAY_IN = "toUnixTimestamp(day) IN {buckets:Array(UInt32)}"
_DECIDED_IN = "toUnixTimestamp(toStartOfMinute(assumeNotNull(decided_at))) IN {buckets:Array(UInt32)}"
_CREATED_IN = "toUnixTimestamp(toStartOfMinute(created_at)) IN {buckets:Array(UInt32)}"

_CREATED_MINUTES = """
SELECT DISTINCT toUnixTimestamp(toStartOfMinute(created_at)) FROM pod_verdicts
WHERE cluster = {cluster:String} AND version = {version:UInt64}"""
# Whether the cluster has its roll-ups: latency buckets, and day buckets wherever there are
# hour ones (a store made before either gets them whole at its next round).
_ANY = "(SELECT count() FROM (SELECT 1 FROM {table} WHERE cluster = {{cluster:String}} LIMIT 1))"
_BUILT = (
    f"SELECT {_ANY.format(table='delivery_latency')} AND "
    f"{_ANY.format(table='workload_days')} >= {_ANY.format(table='workload_hours')}"
)


def rebuild(store: Store, cluster: str, version: int, minutes: set[int] | None) -> None:
    """Rewrite the roll-ups the verdicts written at `version` moved: the latency minutes in
    `minutes` (epoch seconds: the minutes those verdicts count in, before and after), the
    minutes their pods were created in (a pod's creation time never changes), the hours of
    both and the days of the latter. All of them when `minutes` is None or the cluster has none
    yet (a store made before the roll-ups, or before the day ones)."""
    if minutes is None or not store.scalar(_BUILT, cluster=cluster):
        decided = created = None
    else:
        decided = sorted(minutes)
        created = sorted(r[0] for r in store.rows(_CREATED_MINUTES, cluster=cluster, version=version))
    _rewrite(store, _DELIVERY_MINUTES, _AT_IN, _DECIDED_IN, cluster, version, decided)
    _rewrite(store, _DELIVERY_HOURS, _HOUR_IN, "", cluster, version, _buckets(decided, 3600))
    _rewrite(store, _WORKLOAD_MINUTES, _MINUTE_IN, _CREATED_IN, cluster, version, created)
    _rewrite(store, _WORKLOAD_HOURS, _HOUR_IN, "", cluster, version, _buckets(created, 3600))
    _rewrite(store, _WORKLOAD_DAYS, _DAY_IN, "", cluster, version, _buckets(created, 86400))


def _buckets(minutes: list[int] | None, size: int) -> list[int] | None:
    """The buckets of `size` seconds (hours, days) these minutes lie in."""
    return None if minutes is None else sorted({m // size * size for m in minutes})


def _rewrite(store: Store, sql: str, bucket: str, verdicts: str, cluster: str, version: int, buckets) -> None:
    """Run one rewrite over `buckets` (epoch seconds; None: every bucket)."""
    if buckets is None:
        sql, params = sql.replace("/*buckets*/", "1").replace("/*uids*/", ""), {}
    elif not buckets:
        return
    else:
        sql, params = sql.replace("/*buckets*/", bucket).replace("/*uids*/", _UIDS % verdicts), {"buckets": buckets}
    store.command(sql, cluster=cluster, version=version, **params)
