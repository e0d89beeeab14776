"""What `podslo slo`, the API and /metrics show: each SLO's status per cluster with its
alerts' states, and each cluster's health from its firing alerts."""

from __future__ import annotations

from analyzer.alerting.conditions import DATA_ALERT
from analyzer.alerting.state import firing as firing_alerts
from analyzer.lifecycle.facts import cluster_now
from analyzer.slo.budget import SloStatus
from analyzer.slo.evaluate import evaluate
from podslo.store import Store
from podslo.timeutil import iso
from slo_rules import Rules


def slo_statuses(store: Store, rules: Rules, clusters: list[str], firing: list[dict] | None = None) -> list[SloStatus]:
    """Every SLO in every cluster at that cluster's now, with its alerts' states (the stored
    ones unless given)."""
    out = []
    firing = firing_alerts(store) if firing is None else firing
    for cluster in clusters:
        now, _ = cluster_now(store, cluster)
        if now is None:
            continue
        on = {(a["slo"], a["severity"]) for a in firing if a["cluster"] == cluster}
        for status in evaluate(store, rules, cluster, now):
            status.alerts = {sev: "firing" if (status.slo, sev) in on else "inactive" for sev in ("page", "ticket")}
            out.append(status)
    return out


def slo_rows(store: Store, rules: Rules, clusters: list[str], firing: list[dict] | None = None) -> list[dict]:
    """Every SLO's status (`podslo slo`, the API's /slos) with its own health: from its own firing
    alerts, Unknown while it has counted nothing or its cluster's data is missing."""
    firing = firing_alerts(store) if firing is None else firing
    return [{**s.to_dict(), "health": _own_health(firing, s)} for s in slo_statuses(store, rules, clusters, firing)]


def _own_health(firing: list[dict], status: SloStatus) -> str:
    """An SLO's health now: Unknown with nothing counted; its own alerts'; and a Warning when
    its budget is spent though no alert fires (too few events for one, say)."""
    if status.total <= 0:
        return "Unknown"
    own = slo_health(firing, status.cluster, status.slo)
    return "Warning" if own == "Healthy" and status.budget_left < 0 else own


def slo_health(firing: list[dict], cluster: str, slo: str) -> str:
    """One SLO's health from the alerts: its own, and a silent cluster's data alert."""
    return health([a for a in firing if a["cluster"] == cluster and (a["slo"] == slo or a["alertname"] == DATA_ALERT)])


def healths(store: Store, clusters: list[str], firing: list[dict] | None = None) -> dict[str, str]:
    """Each cluster's health from its firing alerts (the stored ones unless given)."""
    firing = firing_alerts(store) if firing is None else firing
    return {c: health([a for a in firing if a["cluster"] == c]) for c in clusters}


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


HEALTHS = ("Healthy", "Warning", "Fatal", "Unknown")


def health(firing: list[dict]) -> str:
    """Ant Group's cluster health from its firing alerts: a page is Fatal, a ticket a Warning;
    Unknown while its data is missing (a silent cluster is not a healthy one)."""
    if any(a["alertname"] == DATA_ALERT for a in firing):
        return "Unknown"
    severities = {a["severity"] for a in firing}
    return "Fatal" if "page" in severities else "Warning" if "ticket" in severities else "Healthy"
