"""Verdicts as contract 2 shapes them, for the CLI and the API alike."""

from __future__ import annotations

from analyzer.lifecycle.nodes import CONDITION_CODES
from analyzer.lifecycle.verdicts import PHASES
from analyzer.read.rollups import down_nodes
from podslo.errors import NotFound
from podslo.store import Store
from podslo.timeutil import iso

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


def pod_page(
    store: Store,
    cluster: str | None = None,
    limit: int = 100,
    after: tuple | None = None,
    newest_first: bool = False,
    **filters,
) -> tuple[list[dict], tuple | None]:
    """Verdicts matching `filters` (see _FILTERS; times in epoch seconds), oldest first, at most
    `limit` of them after the key `after`; and the key to go on from (None at the end).
    `newest_first`: the newest `limit` instead, newest first (no paging)."""
    given = {k: v for k, v in filters.items() if v is not None}
    for key in ("since", "until"):  # to the millisecond: a float's repr may be in e-notation
        if key in given:
            given[key] = round(float(given[key]), 3)
    unknown = set(given) - set(_FILTERS)
    if unknown:
        raise ValueError(f"unknown pod filter(s): {sorted(unknown)}")
    extra = "".join(f" AND {_FILTERS[k]}" for k in given)
    if after is not None:
        extra += (
            " AND (created_at, cluster, uid) > (fromUnixTimestamp64Milli({a_created:Int64}, 'UTC'), "
            "{a_cluster:String}, {a_uid:String})"
        )
        given.update(a_created=after[0], a_cluster=after[1], a_uid=after[2])
    order = "created_at DESC, cluster DESC, uid DESC" if newest_first else "created_at, cluster, uid"
    sql = _POD_SQL.replace("/*extra*/", extra).replace(
        "ORDER BY cluster, created_at, namespace, name", f"ORDER BY {order} LIMIT {{limit:UInt32}}"
    )
    rows = store.dicts(sql, cluster=cluster or "", limit=limit, **given)
    if newest_first:
        return [_pod(r) for r in rows], None
    key = (rows[-1]["created"], rows[-1]["cluster"], rows[-1]["uid"]) if len(rows) == limit else None
    return [_pod(r) for r in rows], key


def pods_named(store: Store, ref: str, cluster: str | None = None) -> list[dict]:
    """The verdicts `ref` names, oldest first: the pod with that uid, else every pod of that
    `name` or `namespace/name` (across clusters unless one is given)."""
    namespace, _, name = ref.rpartition("/")
    rows = store.dicts(_POD_SQL.replace("/*extra*/", "AND uid = {ref:String}"), cluster=cluster or "", ref=ref)
    if not rows:  # the uid is the table's key: a name is looked for only when no uid matched
        extra = "AND name = {name:String} AND (namespace = {ns:String} OR {ns:String} = '')"
        rows = store.dicts(_POD_SQL.replace("/*extra*/", extra), cluster=cluster or "", name=name, ns=namespace)
    return [_pod(r) for r in sorted(rows, key=lambda r: (r["created"], r["cluster"], r["uid"]))]


def pod(store: Store, ref: str, cluster: str | None = None) -> dict:
    """One verdict by uid, `name`, or `namespace/name` (the newest pod of that name)."""
    rows = pods_named(store, ref, cluster)
    if not rows:
        raise NotFound(
            f"no pod {ref!r}" + (f" in cluster {cluster!r}" if cluster else "") + " (did you run `podslo analyze`?)"
        )
    return rows[-1]


def _pod(r: dict) -> dict:
    out = {
        "cluster": r["cluster"],
        "namespace": r["namespace"],
        "name": r["name"],
        "uid": r["uid"],
        "kind": r["kind"],
        "created_at": iso(r["created"]),
        "deadline_s": r["deadline_s"],
        "outcome": r["outcome"],
        "attribution": r["attribution"],
        "reason": r["reason"],
        "evidence": r["evidence"] or None,
        "rule": r["rule"] or None,
        "node": r["node"] or None,
        "delivery_s": r["delivery_s"],
        "phases": {p: r[p] for p in PHASES},
    }
    if r["del_req"] is not None or r["deletion_stuck"] is not None:
        out["deletion"] = {
            "requested_at": iso(r["del_req"]),
            "gone_at": iso(r["del_gone"]),
            "stuck": bool(r["deletion_stuck"]),
            "reason": r["deletion_reason"],
            "evidence": r["deletion_evidence"] or None,
        }
    return out


# The kubelet's own figure of each pod's startup ("Observed pod startup duration", from the
# kubelet logs `podslo collect-logs` stores) against podslo's for the same pod: creation to
# running as observed via watch, image pulls left out, which is what podStartSLOduration counts.
KUBELET_TOLERANCE_S = 2.0  # a difference beyond this is clock skew or watch lag, not rounding
_KUBELET_LOGGED = """
  SELECT DISTINCT cluster, pod_namespace, pod_name FROM raw_logs
  WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND component = 'kubelet'
    AND position(message, '"Observed pod startup duration"') > 0"""
_KUBELET_CHECK_SQL = """
SELECT v.cluster, l.node, count() AS pods, countIf(abs(ours - theirs) > {tolerance:Float64}) AS disagreeing,
       quantileExact(0.5)(ours - theirs) AS median_diff_s
FROM (
  SELECT cluster, node, pod_namespace, pod_name,
         toFloat64OrNull(regexpExtract(argMax(message, at), 'podStartSLOduration=([-0-9.eE+]+)', 1)) AS theirs
  FROM raw_logs
  WHERE (cluster = {cluster:String} OR {cluster:String} = '') AND component = 'kubelet'
    AND position(message, '"Observed pod startup duration"') > 0
  GROUP BY cluster, node, pod_namespace, pod_name
) AS l
INNER JOIN (
  SELECT cluster, namespace, name,
         create_to_schedule_s + schedule_to_run_s + run_to_watch_s - ifNull(image_pull_s, 0) AS ours
  FROM pod_verdicts FINAL
  WHERE (cluster = {cluster:String} OR {cluster:String} = '')
    AND create_to_schedule_s IS NOT NULL AND schedule_to_run_s IS NOT NULL AND run_to_watch_s IS NOT NULL
    AND (cluster, namespace, name) IN (/*logged*/)
) AS v ON l.cluster = v.cluster AND l.pod_namespace = v.namespace AND l.pod_name = v.name
WHERE theirs IS NOT NULL
GROUP BY v.cluster, l.node""".replace("/*logged*/", _KUBELET_LOGGED)


def kubelet_startup_check(store: Store, cluster: str | None = None) -> dict[tuple[str, str], dict]:
    """Per (cluster, node): pods whose startup both the kubelet and podslo measured, how many
    differ by more than KUBELET_TOLERANCE_S, and the median difference (podslo's minus the kubelet's)."""
    if not store.rows(_KUBELET_LOGGED + " LIMIT 1", cluster=cluster or ""):
        return {}  # no kubelet log collected: nothing to join the verdicts with
    rows = store.rows(_KUBELET_CHECK_SQL, cluster=cluster or "", tolerance=KUBELET_TOLERANCE_S)
    return {
        (c, node): {"pods": int(pods), "disagreeing": int(bad), "median_diff_s": round(float(diff), 3)}
        for c, node, pods, bad, diff in rows
    }


def nodes(
    store: Store, cluster: str | None = None, since_s: int | None = None, until_s: int | None = None
) -> list[dict]:
    """Contract 2's node verdicts, each with the kubelet cross-check of its pods' startup
    (None where no kubelet log was collected). With a range, availability, downtime and the
    reasons are over the range (the minutes the node-time SLI counts), clipped to the node's
    known life; faulty and needs_manual_repair are still as of the last analysis."""
    checked = kubelet_startup_check(store, cluster)
    out = []
    down: dict[tuple[str, str], tuple[float, list[str]]] = {}
    rows = store.dicts(_NODE_SQL, cluster=cluster or "")
    if since_s is not None and until_s is not None:
        for name in sorted({r["cluster"] for r in rows}):
            for node, seconds, reasons in down_nodes(store, name, since_s * 1000, until_s * 1000, limit=None):
                down[(name, node)] = (seconds, reasons)
    for r in rows:
        node = {
            "cluster": r["cluster"],
            "name": r["name"],
            "availability": r["availability"],
            "downtime_s": r["downtime_s"],
            "faulty": bool(r["faulty"]),
            "reasons": list(r["reasons"]),
            "needs_manual_repair": bool(r["needs_manual_repair"]),
            "evidence": r["evidence"] or None,
            "window": {"start": iso(r["ws"]), "end": iso(r["we"])},
            "kubelet_startup": checked.get((r["cluster"], r["name"])),
        }
        if since_s is not None and until_s is not None:
            node.update(_over_range(r, since_s, until_s, *down.get((r["cluster"], r["name"]), (0.0, []))))
        out.append(node)
    return out


def _over_range(row: dict, since_s: int, until_s: int, down_s: float, reasons: list[str]) -> dict:
    """A node's figures over [since, until): its life within it, and its down time there."""
    start, end = max(row["ws"], since_s * 1000), min(row["we"], until_s * 1000)
    alive_s = max(end - start, 0) / 1000
    kept = [r for r in row["reasons"] if r not in CONDITION_CODES.values()]  # DaemonSets, clustered failures
    return {
        "availability": round(1 - min(down_s, alive_s) / alive_s, 6) if alive_s else 1.0,
        "downtime_s": round(down_s, 3),
        "reasons": reasons + [r for r in kept if r not in reasons],
        "window": {"start": iso(start) if alive_s else None, "end": iso(end) if alive_s else None},
    }
