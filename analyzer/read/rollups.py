"""Verdicts rolled up: per workload, per reason over time, delivery over a range, the
leftover Terminating pods, startup latency per day, the top reasons behind an SLI's bad events."""

from __future__ import annotations

from analyzer.lifecycle.facts import cluster_now
from analyzer.lifecycle.predicates import FAILED_SYSTEM, UPGRADE_FAILED_SYSTEM
from analyzer.lifecycle.sli_minutes import PROBE_REASON, Scope, namespace_match, slo_scope
from analyzer.lifecycle.verdict_rollups import LATENCIES, MERGE, WORKLOAD_SUMS
from analyzer.lifecycle.verdicts import PHASES
from podslo.store import Store
from slo_rules.loader import SloSpec

# A range of creation times is its whole days (workload_days), the whole hours beside them
# (workload_hours) and the minutes at either end (workload_minutes); a pod counts in the
# minute it was created in.
_IN_WORKLOAD = "(cluster = {cluster:String} OR {cluster:String} = '') AND (namespace = {namespace:String} OR {namespace:String} = '')"
_CHOSEN = " AND (cluster, namespace, kind, workload) IN {chosen:Array(Tuple(String, String, String, String))}"


def _edges(column: str, outer: tuple[str, str], inner: tuple[str, str]) -> str:
    """`column` in [outer[0], inner[0]) or in [inner[1], outer[1]): the buckets beside a range's coarser ones."""
    (lo, hi), (a, b) = outer, inner
    return (
        f"(({column} >= toDateTime({{{lo}:Int64}}) AND {column} < toDateTime({{{a}:Int64}})) "
        f"OR ({column} >= toDateTime({{{b}:Int64}}) AND {column} < toDateTime({{{hi}:Int64}})))"
    )


def _workload_rows(columns: str, chosen: bool) -> str:
    """Rows of `columns` per workload (or, `chosen`, per workload listed) over the range."""
    pick = _CHOSEN if chosen else ""
    return f"""
SELECT cluster, namespace, kind, workload AS name, {columns}
FROM workload_days FINAL
WHERE {_IN_WORKLOAD} AND day >= toDateTime({{first_day:Int64}}) AND day < toDateTime({{last_day:Int64}}){pick}
UNION ALL
SELECT cluster, namespace, kind, workload, {columns}
FROM workload_hours FINAL
WHERE {_IN_WORKLOAD} AND {_edges("hour", ("first", "last"), ("first_day", "last_day"))}{pick}
UNION ALL
SELECT cluster, namespace, kind, workload, {columns}
FROM workload_minutes FINAL
WHERE {_IN_WORKLOAD} AND {_edges("minute", ("since", "until"), ("first", "last"))}{pick}"""


_WORKLOAD_COUNTS = f"""
SELECT cluster, namespace, kind, name, {", ".join(f"sum({c}) AS {c}" for c in WORKLOAD_SUMS)},
       if(success + failed_system = 0, NULL, success / (success + failed_system)) AS success_rate
FROM ({_workload_rows(", ".join(WORKLOAD_SUMS), chosen=False)})
GROUP BY cluster, namespace, kind, name HAVING pods > 0
ORDER BY failed_system DESC, success_rate ASC NULLS LAST, pods DESC, cluster, namespace, kind, name
LIMIT {{limit:UInt32}}"""
# The latencies and reasons of the workloads listed only: the costly columns, for few rows.
_WORKLOAD_DETAILS = f"""
SELECT cluster, namespace, kind, name, {MERGE}(latency), sumMap(system_reasons)
FROM ({_workload_rows("latency, system_reasons", chosen=True)})
GROUP BY cluster, namespace, kind, name"""


_NO_END = 2**32 - 3600  # the newest second a DateTime bucket of an open range can start at


def _whole_hours(since: int, until: int) -> tuple[int, int]:
    """[first, last): the whole hours of the minutes that start in [since, until) (a range
    counts the minutes that start in it); (since, since) when there is none."""
    lo, hi = -(-since // 60) * 60, -(-until // 60) * 60
    return _whole(lo, hi, 3600) or (since, since)


def _whole(lo: int, hi: int, size: int) -> tuple[int, int] | None:
    """[first, last): the whole buckets of `size` seconds within [lo, hi) (None: none)."""
    first, last = -(-lo // size) * size, hi // size * size
    return (first, last) if first < last else None


def _top(reasons: dict[str, int]) -> str | None:
    """The reason with the most pods (the first by name among equals)."""
    return min(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[0] if reasons else None


def workloads(
    store: Store,
    cluster: str | None = None,
    namespace: str | None = None,
    limit: int = 200,
    since: float | None = None,
    until: float | None = None,
) -> list[dict]:
    """Each workload's pods (created in the minutes that start in [since, until), unix
    seconds, when given) rolled up, the ones the platform failed most first."""
    start, end = int(since or 0), int(until if until is not None else _NO_END)
    first, last = _whole_hours(start, end)
    first_day, last_day = _whole(first, last, 86400) or (first, first)
    window = {"cluster": cluster or "", "namespace": namespace or "", "since": start, "until": end}
    window |= {"first": first, "last": last, "first_day": first_day, "last_day": last_day}
    rows = store.dicts(_WORKLOAD_COUNTS, limit=limit, **window)
    keys = [(r["cluster"], r["namespace"], r["kind"], r["name"]) for r in rows]
    details = {tuple(d[:4]): d[4:] for d in store.rows(_WORKLOAD_DETAILS, chosen=keys, **window)} if keys else {}
    out = []
    for r, key in zip(rows, keys):
        (p50, _, p99), reasons = details.get(key, ((None, None, None), {}))
        timed, stuck = r.pop("delivered"), r.pop("stuck")
        out.append(
            {
                **r,
                "delivery_p50_s": _finite(p50) if timed else None,
                "delivery_p99_s": _finite(p99) if timed else None,
                "top_reason": _top(reasons),
                "stuck_deletions": stuck,
            }
        )
    return out


_REASONS = """
SELECT cluster, toStartOfInterval(minute, toIntervalSecond({step:UInt32})) AS at, reason, attribution,
       toUInt64(sum(events)) AS pods
FROM sli_minutes FINAL
WHERE sli = 'delivery' AND scope = '' AND result IN ('bad', 'excluded') AND reason != ''
  AND (cluster = {cluster:String} OR {cluster:String} = '')
  AND minute >= toDateTime({since:Int64}) AND minute < toDateTime({until:Int64})
GROUP BY cluster, at, reason, attribution HAVING pods > 0
ORDER BY cluster, at, pods DESC, reason"""


def platform_reasons(store: Store, cluster: str, since: float | None, until: float | None) -> dict[str, int]:
    """Pods the platform failed in [since, until), by reason, most first (the SLI minutes)."""
    counts = _delivery_counts(store, cluster, since or 0, until if until is not None else 2**31)
    return {r["reason"]: r["pods"] for r in _platform_reasons(counts, limit=10_000)}


def reason_counts(store: Store, cluster: str | None, since: float | None, until: float | None, step: int) -> list[dict]:
    """Pods not delivered per interval, by reason and attribution (the SLI minutes)."""
    rows = store.dicts(
        _REASONS,
        cluster=cluster or "",
        step=step,
        since=int(since or 0),
        until=int(until if until is not None else 2**31),
    )
    return [{**r, "at": r["at"].strftime("%Y-%m-%dT%H:%M:%SZ")} for r in rows]


# The delivery SLI's counts: a pod counts in the minute its delivery was decided. (The first
# and last minute of each make the platform's reasons' spans.)
_DELIVERY_COUNTS = """
SELECT cluster, namespace, reason, attribution,
       multiIf(result = 'good', 'delivered', result = 'bad', 'failed_system', attribution = 'user', 'failed_user',
               'cancelled') AS counted,
       toUInt64(sum(events)) AS pods, toUnixTimestamp(min(minute)) AS first, toUnixTimestamp(max(minute)) + 60 AS last
FROM sli_minutes FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND sli = 'delivery' AND scope = ''
  AND minute >= toDateTime({since:Int64}) AND minute < toDateTime({until:Int64})
GROUP BY cluster, namespace, reason, attribution, counted HAVING pods > 0"""
_COUNTED = ("delivered", "failed_user", "failed_system", "cancelled")


def _delivery_counts(store: Store, cluster: str | None, since: float, until: float) -> list[tuple]:
    return store.rows(_DELIVERY_COUNTS, cluster=cluster or "", since=int(since), until=int(until))


def _platform_reasons(counts: list[tuple], limit: int) -> list[dict]:
    """Among the delivery counts' rows, the reasons the platform failed pods for, most first:
    how many pods, the first minute and the end of the last."""
    found: dict[str, dict] = {}
    for _, _, reason, attribution, counted, pods, first, last in counts:
        if counted == "failed_system" and attribution == "system" and reason:
            r = found.setdefault(reason, {"reason": reason, "pods": 0, "first": first, "last": last})
            r["pods"], r["first"], r["last"] = r["pods"] + pods, min(r["first"], first), max(r["last"], last)
    return sorted(found.values(), key=lambda r: (-r["pods"], r["reason"]))[:limit]


# The same pods' latencies: the whole hours' rows and the minutes' at either end.
_DELIVERY_LATENCY = f"""
SELECT sum(delivered), {", ".join(f"{MERGE}({c})" for c in LATENCIES)}
FROM delivery_latency FINAL
WHERE (cluster = {{cluster:String}} OR {{cluster:String}} = '')
  AND ((step = 3600 AND at >= toDateTime({{first:Int64}}) AND at < toDateTime({{last:Int64}}))
    OR (step = 60 AND ((at >= toDateTime({{since:Int64}}) AND at < toDateTime({{first:Int64}}))
                       OR (at >= toDateTime({{last:Int64}}) AND at < toDateTime({{until:Int64}})))))"""


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x else round(float(x), 3)


def delivery(store: Store, cluster: str | None, since: int, until: int, limit: int = 10, reasons: int = 5) -> dict:
    """Pods whose delivery was decided in [since, until) (epoch seconds), as the delivery SLI
    counts them (in the minutes that start in the range): delivered, failed by users and by
    the platform; delivery latency percentiles and each phase's p50/p90 among delivered pods;
    the namespaces the platform failed most; the `reasons` it failed most pods for."""
    params = {"cluster": cluster or "", "since": int(since), "until": int(until)}
    totals = dict.fromkeys(_COUNTED, 0)
    spaces: dict[tuple[str, str], dict] = {}
    counts = _delivery_counts(store, cluster, since, until)
    for c, namespace, reason, _, counted, pods, _, _ in counts:
        totals[counted] += pods
        n = spaces.setdefault((c, namespace), {**dict.fromkeys(_COUNTED, 0), "reasons": {}})
        n[counted] += pods
        if counted == "failed_system":
            n["reasons"][reason] = n["reasons"].get(reason, 0) + pods
    first, last = _whole_hours(int(since), int(until))
    delivered, *latencies = store.rows(_DELIVERY_LATENCY, first=first, last=last, **params)[0]
    quantiles = {c: [_finite(v) if delivered else None for v in q] for c, q in zip(LATENCIES, latencies)}
    due = totals["delivered"] + totals["failed_system"]
    hurt = sorted(
        (
            {
                "cluster": c,
                "namespace": namespace,
                "pods": sum(n[k] for k in _COUNTED),
                "failed_system": n["failed_system"],
                "failed_user": n["failed_user"],
                "top_reason": _top(n["reasons"]),
            }
            for (c, namespace), n in spaces.items()
            if n["failed_system"]
        ),
        key=lambda n: (-n["failed_system"], -n["pods"], n["namespace"], n["cluster"]),
    )
    return {
        "cluster": cluster,
        "since": int(since),
        "until": int(until),
        "pods": sum(totals.values()),
        **totals,
        "success_rate": None if due == 0 else round(totals["delivered"] / due, 6),
        "latency": dict(zip(("p50_s", "p90_s", "p99_s"), quantiles["delivery_s"])),
        "phases": [{"phase": p.removesuffix("_s"), "p50_s": quantiles[p][0], "p90_s": quantiles[p][1]} for p in PHASES],
        "namespaces": hurt[:limit],
        "platform_reasons": _platform_reasons(counts, reasons),
    }


_TERMINATING = """
SELECT ifNull(deletion_reason, 'Unknown') AS reason, count() AS pods,
       max(dateDiff('second', deletion_requested_at, toDateTime64({at:Int64} / 1000, 3))) AS oldest_s,
       median(dateDiff('second', deletion_requested_at, toDateTime64({at:Int64} / 1000, 3))) AS median_s,
       any(concat(namespace, '/', name)) AS example
FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND deletion_stuck = 1
  AND deletion_requested_at <= toDateTime64({at:Int64} / 1000, 3)
  AND (deletion_gone_at IS NULL OR deletion_gone_at > toDateTime64({at:Int64} / 1000, 3))
GROUP BY reason ORDER BY pods DESC, reason"""


def terminating(store: Store, cluster: str, at_ms: int | None = None) -> list[dict]:
    """The leftover Terminating pods (stuck past grace period + slack, still there) at `at_ms`
    (default: the cluster's now) by reason: how many, the oldest and median age in seconds, an example."""
    at = at_ms if at_ms is not None else cluster_now(store, cluster)[0]
    return [] if at is None else [{"cluster": cluster, **r} for r in store.dicts(_TERMINATING, cluster=cluster, at=at)]


_QUANTILES = "quantilesExactIf(0.5, 0.9, 0.99)({column}, {when})"
STARTUP_PHASES = ("create_to_schedule", "schedule_to_run", "run_to_watch")  # clusterloader2's split
_STARTUP = f"""
SELECT toDate(decided_at) AS day, countIf(startup_s IS NOT NULL), {_QUANTILES.format(column="startup_s", when="1")},
       {", ".join(_QUANTILES.format(column=f"{p}_s", when="startup_s IS NOT NULL") for p in STARTUP_PHASES)},
       countIf(startup_stateful_s IS NOT NULL), {_QUANTILES.format(column="startup_stateful_s", when="1")}
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND decided_at IS NOT NULL
  AND (startup_s IS NOT NULL OR startup_stateful_s IS NOT NULL)
GROUP BY day ORDER BY day DESC LIMIT {{days:UInt32}}"""


def _percentiles(q) -> dict:
    return {f"p{p}_s": None if v != v else v for p, v in zip((50, 90, 99), q)}  # NaN: no pod


def startup_latency(store: Store, cluster: str, days: int = 28) -> list[dict]:
    """SIG-Scalability's pod startup latency per cluster-day (stateless pods that needed no
    preemption): p50, p90, p99 in seconds, with clusterloader2's phases for the same pods
    (pod_startup is the figure itself), and the stateful variant apart."""
    out = []
    for day, pods, total, *rest in store.rows(_STARTUP, cluster=cluster, days=days):
        phases, (stateful_pods, stateful) = rest[: len(STARTUP_PHASES)], rest[len(STARTUP_PHASES) :]
        out.append(
            {
                "cluster": cluster,
                "day": str(day),
                "pods": pods,
                **_percentiles(total),
                "phases": {
                    **{name: _percentiles(q) for name, q in zip(STARTUP_PHASES, phases)},
                    "pod_startup": _percentiles(total),
                },
                "stateful": {"pods": stateful_pods, **_percentiles(stateful)},
            }
        )
    return out


# The pod SLIs' bad events by reason are their SLI minutes (the counts the SLO burns on); an
# example pod per reason is looked up among the verdicts that say so.
_IN_NAMESPACES = (
    "(empty({namespaces:Array(String)}) OR arrayExists(p -> match(namespace, p), {namespaces:Array(String)}))"
)
_MINUTE_REASONS = f"""
SELECT if(reason = '', 'Unknown', reason) AS said, toUInt64(sum(events)) AS n FROM sli_minutes FINAL
WHERE cluster = {{cluster:String}} AND sli = {{sli:String}} AND scope = {{scope:String}} AND result = 'bad'
  AND minute >= toDateTime({{since:Int64}}) AND minute < toDateTime({{until:Int64}})
  AND {_IN_NAMESPACES}
GROUP BY said HAVING n > 0 ORDER BY n DESC, said LIMIT 3"""
# per pod SLI: (its reason, when it counted, which verdicts are its bad events)
_POD_SLI_COLUMNS = {
    "delivery": ("ifNull(reason, 'Unknown')", "decided_at", FAILED_SYSTEM),
    "deletion": ("ifNull(deletion_reason, 'Unknown')", "deletion_decided_at", "deletion_stuck = 1"),
    "upgrade": ("ifNull(upgrade_reason, 'Unknown')", "upgrade_decided_at", UPGRADE_FAILED_SYSTEM),
}
# Candidates from the stored rows as written (no FINAL: the first few found), each then checked
# against its pod's newest verdict (a point lookup by uid) before it is shown.
_EXAMPLE_CANDIDATES = """
SELECT {said} AS said, uid FROM pod_verdicts
WHERE cluster = {{cluster:String}} AND {in_window} AND {bad} AND said IN {{reasons:Array(String)}} AND {selector}
LIMIT 5 BY said LIMIT 15"""
_EXAMPLES = """
SELECT {said} AS said, any(concat(namespace, '/', name)) FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND uid IN {{uids:Array(String)}}
  AND {in_window} AND {bad}
GROUP BY said"""
_OTHER_REASONS = {
    "probe": """SELECT /*probe_reason*/, count(), any(probe) FROM probe_results
        WHERE cluster = {cluster:String} AND started_at >= {since:DateTime64(3)} AND started_at < {until:DateTime64(3)}
          AND outcome != 'ok' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""".replace("/*probe_reason*/", PROBE_REASON),
    # node time's bad events are node-seconds; the example is the node down longest for the reason
    "node_time": """SELECT reason, round(sum(down)), argMax(node, down) FROM (
            SELECT node, arrayJoin(reasons) AS reason, sum(down_s) AS down FROM node_minutes FINAL
            WHERE cluster = {cluster:String} AND minute >= toDateTime({since:DateTime64(3)})
              AND minute < toDateTime({until:DateTime64(3)}) AND down_s > 0
            GROUP BY node, reason)
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
}


def top_reasons(store: Store, slo: SloSpec, cluster: str, since_ms: int, until_ms: int) -> list[tuple[str, int, str]]:
    """(reason, bad events, example) of the SLO's bad events in [since, until), most first:
    among its own pods (a tenant's alert names no other tenant's pods), counted as its SLI
    minutes count them (the minutes that start in the range)."""
    if slo.sli in _OTHER_REASONS:
        rows = store.rows(_OTHER_REASONS[slo.sli], cluster=cluster, since=since_ms / 1000, until=until_ms / 1000)
        return [(str(r), int(n), str(e)) for r, n, e in rows]
    if slo.sli not in _POD_SLI_COLUMNS:
        return []
    namespaces = namespace_match(slo.selector.namespaces)
    window = {"cluster": cluster, "since": since_ms // 1000, "until": until_ms // 1000}
    counted = store.rows(_MINUTE_REASONS, sli=slo.sli, scope=slo_scope(slo), namespaces=namespaces, **window)
    if not counted:
        return []
    examples = _examples(store, slo, [r for r, _ in counted], namespaces, window)
    return [(str(r), int(n), examples.get(r, "")) for r, n in counted]


def _examples(store: Store, slo: SloSpec, reasons: list[str], namespaces: list[str], window: dict) -> dict[str, str]:
    """A pod per reason whose newest verdict gives the SLO a bad event for it in the window."""
    said, at, bad = _POD_SLI_COLUMNS[slo.sli]
    in_window = (
        f"toStartOfMinute({at}) >= toDateTime({{since:Int64}}) AND toStartOfMinute({at}) < toDateTime({{until:Int64}})"
    )
    labels = Scope(labels=tuple(sorted(slo.selector.labels.items()))).where()
    sql = _EXAMPLE_CANDIDATES.format(said=said, in_window=in_window, bad=bad, selector=f"{_IN_NAMESPACES} AND {labels}")
    uids = [uid for _, uid in store.rows(sql, reasons=reasons, namespaces=namespaces, **window)]
    if not uids:
        return {}
    checked = _EXAMPLES.format(said=said, in_window=in_window, bad=bad)
    return {str(r): str(e) for r, e in store.rows(checked, uids=uids, **window)}


_DOWN_NODES = """
SELECT node, sum(down_s) AS down, arraySort(arrayDistinct(arrayFlatten(groupArray(reasons)))) FROM node_minutes FINAL
WHERE cluster = {cluster:String} AND minute >= toDateTime({since:UInt32}) AND minute < toDateTime({until:UInt32})
  AND down_s > 0
GROUP BY node ORDER BY down DESC, node LIMIT {limit:UInt64}"""


def down_nodes(
    store: Store, cluster: str, since_ms: int, until_ms: int, limit: int | None = 3
) -> list[tuple[str, float, list]]:
    """(node, seconds it could not take pods, condition codes) in [since, until), longest first
    (every node with down time when `limit` is None): the nodes behind the node-time SLI's bad time."""
    rows = store.rows(
        _DOWN_NODES,
        cluster=cluster,
        since=since_ms // 1000,
        until=-(-until_ms // 1000),
        limit=2**63 if limit is None else limit,
    )
    return [(str(n), float(s), list(r)) for n, s, r in rows]
