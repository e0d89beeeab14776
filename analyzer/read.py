"""Verdicts as contract 2 shapes them, for the CLI and the API alike."""

from __future__ import annotations

from podslo.errors import NotFound
from podslo.store import Store
from podslo.timeutil import iso

PHASES = ("scheduling_s", "sandbox_s", "image_pull_s", "container_start_s", "readiness_s")
_POD_SQL = """
SELECT cluster, namespace, name, uid, kind, toUnixTimestamp64Milli(created_at) AS created, deadline_s,
       outcome, attribution, reason, evidence, rule, node, delivery_s, /*phases*/,
       toUnixTimestamp64Milli(deletion_requested_at) AS del_req, toUnixTimestamp64Milli(deletion_gone_at) AS del_gone,
       deletion_stuck, deletion_reason, deletion_evidence
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') /*extra*/
ORDER BY cluster, created_at, namespace, name
""".replace("/*phases*/", ", ".join(PHASES))
_NODE_SQL = """
SELECT cluster, name, availability, downtime_s, faulty, reasons, needs_manual_repair, evidence,
       toUnixTimestamp64Milli(window_start) AS ws, toUnixTimestamp64Milli(window_end) AS we
FROM node_verdicts FINAL
WHERE cluster = {cluster:String} OR {cluster:String} = ''
ORDER BY cluster, name
"""


def pods(store: Store, cluster: str | None = None, outcome: str | None = None) -> list[dict]:
    extra = "AND outcome = {outcome:String}" if outcome else ""
    rows = store.dicts(_POD_SQL.replace("/*extra*/", extra), cluster=cluster or "", outcome=outcome or "")
    return [_pod(r) for r in rows]


# filter name -> its condition ({name} is the bound value)
_FILTERS = {
    "namespace": "namespace = {namespace:String}",
    "outcome": "outcome = {outcome:String}",
    "attribution": "attribution = {attribution:String}",
    "reason": "(reason = {reason:String} OR deletion_reason = {reason:String})",
    "node": "node = {node:String}",
    "stuck": "(deletion_stuck = 1) = {stuck:Bool}",
    "since": "created_at >= {since:DateTime64(3)}",
    "until": "created_at < {until:DateTime64(3)}",
}


def pod_page(store: Store, cluster: str | None = None, limit: int = 100, after: tuple | None = None,
             **filters) -> tuple[list[dict], tuple | None]:
    """Verdicts matching `filters` (see _FILTERS; times in epoch seconds), oldest first, at most
    `limit` of them after the key `after`; and the key to go on from (None at the end)."""
    given = {k: v for k, v in filters.items() if v is not None}
    for key in ("since", "until"):  # to the millisecond: a float's repr may be in e-notation
        if key in given:
            given[key] = round(float(given[key]), 3)
    unknown = set(given) - set(_FILTERS)
    if unknown:
        raise ValueError(f"unknown pod filter(s): {sorted(unknown)}")
    extra = "".join(f" AND {_FILTERS[k]}" for k in given)
    if after is not None:
        extra += (" AND (created_at, cluster, uid) > (fromUnixTimestamp64Milli({a_created:Int64}, 'UTC'), "
                  "{a_cluster:String}, {a_uid:String})")
        given.update(a_created=after[0], a_cluster=after[1], a_uid=after[2])
    sql = _POD_SQL.replace("/*extra*/", extra).replace("ORDER BY cluster, created_at, namespace, name",
                                                         "ORDER BY created_at, cluster, uid LIMIT {limit:UInt32}")
    rows = store.dicts(sql, cluster=cluster or "", limit=limit, **given)
    key = (rows[-1]["created"], rows[-1]["cluster"], rows[-1]["uid"]) if len(rows) == limit else None
    return [_pod(r) for r in rows], key


def pod(store: Store, ref: str, cluster: str | None = None) -> dict:
    """One verdict by uid, `name`, or `namespace/name` (the newest pod of that name)."""
    namespace, _, name = ref.rpartition("/")
    rows = store.dicts(_POD_SQL.replace("/*extra*/", "AND uid = {ref:String}"), cluster=cluster or "", ref=ref)
    if not rows:  # the uid is the table's key: a name is looked for only when no uid matched
        extra = "AND name = {name:String} AND (namespace = {ns:String} OR {ns:String} = '')"
        rows = store.dicts(_POD_SQL.replace("/*extra*/", extra), cluster=cluster or "", name=name, ns=namespace)
    if not rows:
        raise NotFound(f"no pod {ref!r}" + (f" in cluster {cluster!r}" if cluster else "") + " (did you run `podslo analyze`?)")
    return _pod(rows[-1])


def _pod(r: dict) -> dict:
    out = {
        "cluster": r["cluster"], "namespace": r["namespace"], "name": r["name"], "uid": r["uid"], "kind": r["kind"],
        "created_at": iso(r["created"]), "deadline_s": r["deadline_s"], "outcome": r["outcome"],
        "attribution": r["attribution"], "reason": r["reason"], "evidence": r["evidence"] or None,
        "rule": r["rule"] or None, "node": r["node"] or None, "delivery_s": r["delivery_s"],
        "phases": {p: r[p] for p in PHASES},
    }
    if r["del_req"] is not None or r["deletion_stuck"] is not None:
        out["deletion"] = {"requested_at": iso(r["del_req"]), "gone_at": iso(r["del_gone"]),
                           "stuck": bool(r["deletion_stuck"]), "reason": r["deletion_reason"],
                           "evidence": r["deletion_evidence"] or None}
    return out


def nodes(store: Store, cluster: str | None = None) -> list[dict]:
    return [{
        "cluster": r["cluster"], "name": r["name"], "availability": r["availability"],
        "downtime_s": r["downtime_s"], "faulty": bool(r["faulty"]), "reasons": list(r["reasons"]),
        "needs_manual_repair": bool(r["needs_manual_repair"]), "evidence": r["evidence"] or None,
        "window": {"start": iso(r["ws"]), "end": iso(r["we"])},
    } for r in store.dicts(_NODE_SQL, cluster=cluster or "")]


# A pod the platform failed, or its user (a failure with no attribution counts against the platform).
FAILED_SYSTEM = "outcome IN ('failed', 'timeout') AND ifNull(attribution, '') != 'user'"
FAILED_USER = "outcome IN ('failed', 'timeout') AND attribution = 'user'"


def _failures(sql: str) -> str:
    return sql.replace("/*system*/", FAILED_SYSTEM).replace("/*user*/", FAILED_USER)


_WORKLOADS = """
SELECT cluster, namespace, workload_kind AS kind, workload AS name, count() AS pods,
       countIf(outcome = 'success') AS success,
       countIf(/*system*/) AS failed_system,
       countIf(/*user*/) AS failed_user,
       countIf(outcome = 'pending') AS pending,
       if(success + failed_system = 0, NULL, success / (success + failed_system)) AS success_rate,
       quantileExactIf(0.5)(delivery_s, delivery_s IS NOT NULL) AS p50, quantileExactIf(0.99)(delivery_s, delivery_s IS NOT NULL) AS p99,
       topKIf(1)(reason, reason IS NOT NULL AND ifNull(attribution, '') != 'user') AS top,
       countIf(deletion_stuck = 1) AS stuck_deletions
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND (namespace = {namespace:String} OR {namespace:String} = '')
  AND workload != ''
GROUP BY cluster, namespace, kind, name
ORDER BY failed_system DESC, success_rate ASC NULLS LAST, pods DESC
LIMIT {limit:UInt32}"""
_WORKLOADS = _failures(_WORKLOADS)


def workloads(store: Store, cluster: str | None = None, namespace: str | None = None, limit: int = 200) -> list[dict]:
    """Each workload's pods rolled up, the ones the platform failed most first."""
    out = []
    for r in store.dicts(_WORKLOADS, cluster=cluster or "", namespace=namespace or "", limit=limit):
        p50, p99, top = r.pop("p50"), r.pop("p99"), r.pop("top")
        out.append({**r, "delivery_p50_s": None if p50 != p50 else p50, "delivery_p99_s": None if p99 != p99 else p99,
                    "top_reason": top[0] if top else None})
    return out


_REASONS = """
SELECT cluster, toStartOfInterval(minute, toIntervalSecond({step:UInt32})) AS at, reason, attribution,
       toUInt64(sum(events)) AS pods
FROM sli_minutes FINAL
WHERE sli = 'delivery' AND result IN ('bad', 'excluded') AND reason != ''
  AND (cluster = {cluster:String} OR {cluster:String} = '')
  AND minute >= toDateTime({since:Int64}) AND minute < toDateTime({until:Int64})
GROUP BY cluster, at, reason, attribution HAVING pods > 0
ORDER BY cluster, at, pods DESC, reason"""


def platform_reasons(store: Store, cluster: str, since: float | None, until: float | None) -> dict[str, int]:
    """Pods the platform failed in [since, until), by reason, most first (the SLI minutes)."""
    width = int((until if until is not None else 2**31) - (since or 0))
    counts: dict[str, int] = {}
    for r in reason_counts(store, cluster, since, until, max(width, 60)):
        if r["attribution"] == "system":
            counts[r["reason"]] = counts.get(r["reason"], 0) + r["pods"]
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def reason_counts(store: Store, cluster: str | None, since: float | None, until: float | None,
                  step: int) -> list[dict]:
    """Pods not delivered per interval, by reason and attribution (the SLI minutes)."""
    rows = store.dicts(_REASONS, cluster=cluster or "", step=step, since=int(since or 0),
                       until=int(until if until is not None else 2**31))
    return [{**r, "at": r["at"].strftime("%Y-%m-%dT%H:%M:%SZ")} for r in rows]


_DELIVERY = _failures("""
SELECT count() AS pods, countIf(outcome = 'success') AS delivered,
       countIf(/*user*/) AS failed_user,
       countIf(/*system*/) AS failed_system,
       countIf(outcome = 'cancelled') AS cancelled,
       quantilesExactIf(0.5, 0.9, 0.99)(delivery_s, outcome = 'success' AND delivery_s IS NOT NULL) AS latency,
       /*phases*/
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND outcome != 'pending' AND decided_at IS NOT NULL
  AND decided_at >= toDateTime64({since:Int64}, 3) AND decided_at < toDateTime64({until:Int64}, 3)
""").replace("/*phases*/", ", ".join(
    f"quantilesExactIf(0.5, 0.9)({p}, outcome = 'success' AND {p} IS NOT NULL) AS {p}" for p in PHASES))
_HURT_NAMESPACES = _failures("""
SELECT cluster, namespace, count() AS pods,
       countIf(/*system*/) AS failed_system,
       countIf(/*user*/) AS failed_user,
       topKIf(1)(reason, /*system*/) AS top
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND outcome != 'pending' AND decided_at IS NOT NULL
  AND decided_at >= toDateTime64({since:Int64}, 3) AND decided_at < toDateTime64({until:Int64}, 3)
GROUP BY cluster, namespace HAVING failed_system > 0
ORDER BY failed_system DESC, pods DESC, namespace LIMIT {limit:UInt32}""")


def _finite(x: float) -> float | None:
    return None if x != x else round(float(x), 3)


def delivery(store: Store, cluster: str | None, since: int, until: int, limit: int = 10) -> dict:
    """Pods whose delivery was decided in [since, until) (epoch seconds), as the delivery SLI
    counts them: delivered, failed by users and by the platform; delivery latency percentiles
    and each phase's p50/p90 among delivered pods; the namespaces the platform failed most."""
    params = {"cluster": cluster or "", "since": int(since), "until": int(until)}
    r = store.dicts(_DELIVERY, **params)[0]
    due = r["delivered"] + r["failed_system"]
    return {
        "cluster": cluster, "since": int(since), "until": int(until),
        **{k: int(r[k]) for k in ("pods", "delivered", "failed_user", "failed_system", "cancelled")},
        "success_rate": None if due == 0 else round(r["delivered"] / due, 6),
        "latency": dict(zip(("p50_s", "p90_s", "p99_s"), map(_finite, r["latency"]))),
        "phases": [{"phase": p.removesuffix("_s"), "p50_s": _finite(r[p][0]), "p90_s": _finite(r[p][1])}
                   for p in PHASES],
        "namespaces": [{**{k: v for k, v in n.items() if k != "top"}, "top_reason": n["top"][0] if n["top"] else None}
                       for n in store.dicts(_HURT_NAMESPACES, limit=limit, **params)],
    }
