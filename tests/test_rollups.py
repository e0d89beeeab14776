"""The roll-ups the API reads (/delivery, /workloads) give what the verdicts themselves give,
over ranges that cut hours and minutes anywhere, after verdicts move between buckets, and on
a store whose verdicts predate the roll-ups."""

from __future__ import annotations

import time

import pytest

from analyzer import read
from analyzer.lifecycle import sli_minutes, verdict_rollups
from analyzer.lifecycle.predicates import FAILED, FAILED_SYSTEM, FAILED_USER
from analyzer.lifecycle.verdicts import PHASES

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
SPAN_MS = 60 * 3600 * 1000  # pods created over two and a half days

_FILL = """
INSERT INTO pod_verdicts (cluster, uid, namespace, name, kind, created_at, deadline_s, outcome, attribution, reason,
    evidence, rule, node, delivery_s, scheduling_s, sandbox_s, image_pull_s, container_start_s, readiness_s,
    deletion_stuck, analyzed_at, version, decided_at, labels, upgrade_outcome, workload_kind, workload)
SELECT {c:String}, concat('pod-', toString(number)), ['shop', 'search', 'batch'][h % 3 + 1], concat('p', toString(number)),
       'service', created, 60, outcome,
       if(outcome IN ('failed', 'timeout'), ['user', 'system', NULL][intDiv(h, 7) % 3 + 1], NULL),
       if(outcome IN ('failed', 'timeout'), ['CNIError', 'ImagePullSlow', 'AppCrash'][intDiv(h, 11) % 3 + 1], NULL),
       '', '', 'node-1', delivery, delivery * 0.1, if(h % 4 = 0, NULL, delivery * 0.2), if(h % 5 = 0, NULL, delivery * 0.5),
       delivery * 0.1, delivery * 0.1, if(h % 50 = 0, 1, NULL), now64(3), {version:UInt64},
       if(outcome = 'pending', NULL,
          created + toIntervalMillisecond(toUInt64(if(delivery IS NULL, 60000, delivery * 1000)))),
       map(), '', if(h % 9 = 0, '', 'Deployment'), if(h % 9 = 0, '', concat('app-', toString(intDiv(h, 5) % 6)))
FROM (
    SELECT number, cityHash64(number, {seed:UInt64}) AS h,
           toDateTime64({t0:Int64}, 3) + toIntervalMillisecond(h % {span:UInt64}) AS created,
           ['success', 'success', 'success', 'success', 'failed', 'timeout', 'cancelled', 'pending'][intDiv(h, 3) % 8 + 1]
               AS outcome,
           if(outcome IN ('success', 'timeout'), (intDiv(h, 13) % 90000) / 1000, NULL) AS delivery
    FROM numbers({pods:UInt64})
)"""


def _fill(store, cluster: str, pods: int = 3000, seed: int = 1) -> int:
    version = time.time_ns() // 1_000_000
    store.command(_FILL, c=cluster, version=version, seed=seed, t0=T0, span=SPAN_MS, pods=pods)
    return version


def _derive(store, cluster: str, version: int, minutes: set[int] | None) -> None:
    sli_minutes.rebuild_pod_minutes(store, cluster, [sli_minutes.Scope()], version, minutes)
    verdict_rollups.rebuild(store, cluster, version, minutes)


def _q(values) -> list:
    return [round(float(v), 3) for v in values]


_TRUTH_DELIVERY = f"""
SELECT countIf(outcome = 'success'), countIf({FAILED_USER}), countIf({FAILED_SYSTEM}), countIf(outcome = 'cancelled'),
       {", ".join(f"quantilesExactIf(0.5, 0.9, 0.99)(toFloat32({c}), outcome = 'success' AND {c} IS NOT NULL)" for c in ("delivery_s", *PHASES))}
FROM pod_verdicts FINAL
WHERE cluster = {{c:String}} AND outcome != 'pending' AND decided_at IS NOT NULL
  AND toStartOfMinute(decided_at) >= toDateTime({{since:Int64}}) AND toStartOfMinute(decided_at) < toDateTime({{until:Int64}})"""
_TRUTH_HURT = f"""
SELECT namespace, count(), countIf({FAILED_SYSTEM}) AS system, countIf({FAILED_USER}),
       arraySort(x -> (-x.2, x.1), arrayZip(mapKeys(m), mapValues(m)))[1].1
FROM (SELECT *, sumMapIf(map(ifNull(reason, ''), toUInt64(1)), {FAILED_SYSTEM}) OVER (PARTITION BY namespace) AS m
      FROM pod_verdicts FINAL
      WHERE cluster = {{c:String}} AND outcome != 'pending' AND decided_at IS NOT NULL
        AND toStartOfMinute(decided_at) >= toDateTime({{since:Int64}})
        AND toStartOfMinute(decided_at) < toDateTime({{until:Int64}}))
GROUP BY namespace, m HAVING system > 0 ORDER BY system DESC, count() DESC, namespace"""
_TRUTH_PLATFORM = f"""
SELECT reason, count() AS pods, toUnixTimestamp(min(toStartOfMinute(decided_at))),
       toUnixTimestamp(max(toStartOfMinute(decided_at))) + 60
FROM pod_verdicts FINAL
WHERE cluster = {{c:String}} AND {FAILED} AND attribution = 'system' AND reason != '' AND decided_at IS NOT NULL
  AND toStartOfMinute(decided_at) >= toDateTime({{since:Int64}}) AND toStartOfMinute(decided_at) < toDateTime({{until:Int64}})
GROUP BY reason ORDER BY pods DESC, reason LIMIT 5"""


def _delivery_truth(store, cluster: str, since: int, until: int) -> dict:
    delivered, user, system, cancelled, *latencies = store.rows(_TRUTH_DELIVERY, c=cluster, since=since, until=until)[0]
    hurt = store.rows(_TRUTH_HURT, c=cluster, since=since, until=until)
    return {
        "counts": (delivered, user, system, cancelled),
        "latency": _q(latencies[0]) if delivered else [None] * 3,
        "phases": [_q(q[:2]) if delivered else [None] * 2 for q in latencies[1:]],
        "namespaces": [(n, pods, s, u, top) for n, pods, s, u, top in hurt],
        "platform": [tuple(r) for r in store.rows(_TRUTH_PLATFORM, c=cluster, since=since, until=until)],
    }


def _delivery_answer(store, cluster: str, since: int, until: int) -> dict:
    d = read.delivery(store, cluster, since, until, limit=100)
    return {
        "counts": (d["delivered"], d["failed_user"], d["failed_system"], d["cancelled"]),
        "latency": [d["latency"][k] for k in ("p50_s", "p90_s", "p99_s")],
        "phases": [[p["p50_s"], p["p90_s"]] for p in d["phases"]],
        "namespaces": [
            (n["namespace"], n["pods"], n["failed_system"], n["failed_user"], n["top_reason"]) for n in d["namespaces"]
        ],
        "platform": [(r["reason"], r["pods"], r["first"], r["last"]) for r in d["platform_reasons"]],
    }


_TRUTH_WORKLOADS = f"""
SELECT namespace, workload_kind, workload, count() AS pods, countIf(outcome = 'success') AS success,
       countIf({FAILED_SYSTEM}) AS system, countIf({FAILED_USER}), countIf(outcome = 'pending'),
       if(success + system = 0, NULL, success / (success + system)) AS rate, countIf(deletion_stuck = 1),
       countIf(delivery_s IS NOT NULL), quantilesExactIf(0.5, 0.99)(toFloat32(delivery_s), delivery_s IS NOT NULL),
       arraySort(x -> (-x.2, x.1), arrayZip(mapKeys(m), mapValues(m)))[1].1
FROM (SELECT *, sumMapIf(map(ifNull(reason, ''), toUInt64(1)), {FAILED_SYSTEM}) OVER (PARTITION BY namespace, workload_kind, workload) AS m
      FROM pod_verdicts FINAL
      WHERE cluster = {{c:String}} AND workload != ''
        AND toStartOfMinute(created_at) >= toDateTime({{since:Int64}})
        AND toStartOfMinute(created_at) < toDateTime({{until:Int64}}))
GROUP BY namespace, workload_kind, workload, m
ORDER BY system DESC, rate ASC NULLS LAST, pods DESC, namespace, workload_kind, workload"""


def _workloads_truth(store, cluster: str, since: int, until: int) -> list[tuple]:
    out = []
    for ns, kind, name, pods, ok, system, user, pending, rate, stuck, timed, q, top in store.rows(
        _TRUTH_WORKLOADS, c=cluster, since=since, until=until
    ):
        latency = _q(q) if timed else [None, None]
        out.append((ns, kind, name, pods, ok, system, user, pending, rate, stuck, *latency, top or None))
    return out


def _workloads_answer(store, cluster: str, since: int, until: int) -> list[tuple]:
    keys = ("namespace", "kind", "name", "pods", "success", "failed_system", "failed_user", "pending", "success_rate")
    return [
        (*(w[k] for k in keys), w["stuck_deletions"], w["delivery_p50_s"], w["delivery_p99_s"], w["top_reason"])
        for w in read.workloads(store, cluster, None, 10_000, since, until)
    ]


RANGES = [
    (0, 2**31),  # everything
    (T0 - 7, T0 + 60 * 3600 + 200),  # the whole span, a little past both ends
    (T0 + 1234, T0 + 50 * 3600 - 77),  # a whole day, whole hours beside it, minutes cut at either end
    (T0 + 3600 + 59, T0 + 3600 + 1800),  # within one hour
    (T0 + 2 * 3600, T0 + 3 * 3600),  # exactly one hour
    (T0 + 86400, T0 + 2 * 86400),  # exactly one day
    (T0 + 70 * 3600, T0 + 71 * 3600),  # nothing in it
]


def _assert_rollups_hold(store, cluster: str) -> None:
    for since, until in RANGES:
        assert _delivery_answer(store, cluster, since, until) == _delivery_truth(store, cluster, since, until), (
            since,
            until,
        )
        assert _workloads_answer(store, cluster, since, until) == _workloads_truth(store, cluster, since, until), (
            since,
            until,
        )


def test_rollups_answer_as_the_verdicts_do(store, cluster):
    _derive(store, cluster, _fill(store, cluster), None)
    assert _delivery_truth(store, cluster, *RANGES[2])["counts"][0] > 500  # the cases are not empty
    assert _delivery_answer(store, cluster, *RANGES[-1])["latency"] == [None] * 3
    _assert_rollups_hold(store, cluster)


@pytest.mark.parametrize("pods", [3000, 150])  # 150: most minutes hold one pod, and lose it
def test_a_moved_verdict_leaves_its_old_buckets(store, cluster, pods):
    _derive(store, cluster, _fill(store, cluster, pods), None)
    moved = [f"pod-{i}" for i in range(0, pods, 5 if pods < 1000 else 97)]
    where = "cluster = {c:String} AND uid IN {uids:Array(String)}"
    old = store.rows(
        f"SELECT toUnixTimestamp(toStartOfMinute(decided_at)) FROM pod_verdicts FINAL WHERE {where}",
        c=cluster,
        uids=moved,
    )
    version = time.time_ns() // 1_000_000
    # the same pods decided again: delivered ones fail an hour and a half later (and are found
    # to belong to another workload), the others are delivered
    store.command(
        f"""INSERT INTO pod_verdicts SELECT * EXCEPT (was) REPLACE (
                if(was = 'success', 'failed', 'success') AS outcome,
                if(was = 'success', 'system', NULL) AS attribution,
                if(was = 'success', 'CNIError', NULL) AS reason,
                if(was = 'success', NULL, 2.5) AS delivery_s,
                if(was = 'success' AND workload != '', concat(workload, '-b'), workload) AS workload,
                ifNull(decided_at, created_at) + toIntervalSecond(if(was = 'success', 5400, 3)) AS decided_at,
                {{v:UInt64}} AS version)
            FROM (SELECT *, outcome AS was FROM pod_verdicts FINAL WHERE {where})""",
        c=cluster,
        uids=moved,
        v=version,
    )
    new = store.rows(
        f"SELECT toUnixTimestamp(toStartOfMinute(decided_at)) FROM pod_verdicts FINAL WHERE {where}",
        c=cluster,
        uids=moved,
    )
    _derive(store, cluster, version, {m for (m,) in old + new if m is not None})
    _assert_rollups_hold(store, cluster)


def test_a_store_made_before_the_rollups_gets_them_whole(store, cluster):
    version = _fill(store, cluster, seed=2)
    sli_minutes.rebuild_pod_minutes(store, cluster, [sli_minutes.Scope()], version, None)
    assert not store.scalar("SELECT count() FROM workload_hours WHERE cluster = {c:String}", c=cluster)
    _derive(store, cluster, version, {T0})  # an incremental round's few minutes: all are built
    _assert_rollups_hold(store, cluster)


def test_a_store_made_before_the_day_rollups_gets_them_whole(store, cluster):
    version = _fill(store, cluster, seed=3)
    _derive(store, cluster, version, None)
    store.command("DELETE FROM workload_days WHERE cluster = {c:String}", c=cluster)  # as before the days
    _derive(store, cluster, version + 1, {T0})  # a later round, one minute moved
    _assert_rollups_hold(store, cluster)


@pytest.mark.parametrize("since, until", [(T0 + 61, T0 + 3 * 3600), (T0, T0 + 60 * 90 + 1)])
def test_a_range_counts_the_minutes_that_start_in_it(store, cluster, since, until):
    """The buckets a range reads: whole hours in the middle, minutes at the ends, no overlap."""
    first, last = read.rollups._whole_hours(since, until)
    minutes = set(range(-(-since // 60) * 60, -(-until // 60) * 60, 60))
    hours = set(range(first, last, 3600))
    edges = {m for m in minutes if m < first or m >= last}
    assert all(h >= since and h + 3600 <= max(minutes) + 60 for h in hours)
    assert {m for h in hours for m in range(h, h + 3600, 60)} | edges == minutes
    assert not {m for h in hours for m in range(h, h + 3600, 60)} & edges
