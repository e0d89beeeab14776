"""What `podslo slo`, the API and /metrics show: each SLO's status per cluster, with the
alert state kept by the alerting loop and the cluster's health."""

from __future__ import annotations

from analyzer import alerts as A
from analyzer.facts import cluster_now
from analyzer.slo import SloStatus, evaluate, health
from podslo.store import Store
from podslo.timeutil import iso, ms_of
from slo_rules import Rules


def slo_statuses(store: Store, rules: Rules, clusters: list[str]) -> list[SloStatus]:
    """Every SLO in every cluster at that cluster's now, with its alerts' states."""
    out = []
    firing = A.firing(store)
    for cluster in clusters:
        now, _ = cluster_now(store, cluster)
        if now is None:
            continue
        on = {(a["slo"], a["severity"]) for a in firing if a["cluster"] == cluster}
        for status in evaluate(store, rules, cluster, now):
            status.alerts = {sev: "firing" if (status.slo, sev) in on else "inactive" for sev in ("page", "ticket")}
            out.append(status)
    return out


def healths(store: Store, clusters: list[str]) -> dict[str, str]:
    firing = A.firing(store)
    return {c: health({a["severity"] for a in firing if a["cluster"] == c}) for c in clusters}


def cluster_rows(store: Store, clusters: list[str]) -> list[dict]:
    """Each cluster: its health, the newest time its data shows, the pods it has verdicts for."""
    health = healths(store, clusters)
    seen = dict(store.rows("SELECT cluster, count() FROM pod_verdicts FINAL GROUP BY cluster"))
    return [{"name": c, "health": health[c], "last_data_at": iso(cluster_now(store, c)[0]),
             "pods_seen": int(seen.get(c, 0))} for c in clusters]


def alert_dicts(store: Store, cluster: str | None = None, state: str | None = None, limit: int = 500) -> list[dict]:
    """Alerts, newest first: firing ones and past ones, as their latest state says."""
    where = ["1"]
    if cluster:
        where.append("cluster = {cluster:String}")
    if state:
        where.append("status = {state:String}")
    rows = store.dicts(f"SELECT * FROM alerts FINAL WHERE {' AND '.join(where)} ORDER BY starts_at DESC "
                       "LIMIT {limit:UInt32}", cluster=cluster, state=state, limit=limit)
    return [{"cluster": r["cluster"], "fingerprint": r["fingerprint"], "alertname": r["alertname"], "slo": r["slo"],
             "severity": r["severity"], "status": r["status"], "starts_at": iso(ms_of(r["starts_at"])),
             "ends_at": iso(ms_of(r["ends_at"])), "labels": dict(r["labels"]), "annotations": dict(r["annotations"]),
             "value": r["value"], "notifications": r["notifications"]} for r in rows]


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


_STARTUP = """
SELECT toDate(decided_at) AS day, count() AS pods, quantilesExact(0.5, 0.9, 0.99)(startup_s) AS q
FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND startup_s IS NOT NULL AND decided_at IS NOT NULL
GROUP BY day ORDER BY day DESC LIMIT {days:UInt32}"""


def startup_latency(store: Store, cluster: str, days: int = 28) -> list[dict]:
    """SIG-Scalability's pod startup latency per cluster-day: p50, p90, p99 in seconds."""
    return [{"cluster": cluster, "day": str(day), "pods": pods, "p50_s": q[0], "p90_s": q[1], "p99_s": q[2]}
            for day, pods, q in store.rows(_STARTUP, cluster=cluster, days=days)]
