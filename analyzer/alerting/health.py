"""What `podslo slo`, the API and /metrics show: each SLO's status per cluster with its
alerts' states, and each cluster's health from its firing alerts."""

from __future__ import annotations

from analyzer.alerting.state import firing as firing_alerts
from analyzer.lifecycle.facts import cluster_now
from analyzer.slo.budget import SloStatus
from analyzer.slo.evaluate import evaluate
from podslo.store import Store
from podslo.timeutil import iso
from slo_rules import Rules


def slo_statuses(store: Store, rules: Rules, clusters: list[str]) -> list[SloStatus]:
    """Every SLO in every cluster at that cluster's now, with its alerts' states."""
    out = []
    firing = firing_alerts(store)
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
    firing = firing_alerts(store)
    return {c: health({a["severity"] for a in firing if a["cluster"] == c}) for c in clusters}


def cluster_rows(store: Store, clusters: list[str]) -> list[dict]:
    """Each cluster: its health, the newest time its data shows, the pods it has verdicts for."""
    by_cluster = healths(store, clusters)
    seen = dict(store.rows("SELECT cluster, count() FROM pod_verdicts FINAL GROUP BY cluster"))
    return [
        {
            "name": c,
            "health": by_cluster[c],
            "last_data_at": iso(cluster_now(store, c)[0]),
            "pods_seen": int(seen.get(c, 0)),
        }
        for c in clusters
    ]


def health(firing_severities: set[str]) -> str:
    """Ant Group's cluster health: a firing page is Fatal, a firing ticket a Warning."""
    return "Fatal" if "page" in firing_severities else "Warning" if "ticket" in firing_severities else "Healthy"
