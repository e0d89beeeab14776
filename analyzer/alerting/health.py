"""What `podslo slo`, the API and /metrics show: each SLO's status per cluster with its
alerts' states, and each cluster's health from its firing alerts."""

from __future__ import annotations

from analyzer import read
from analyzer.alerting.conditions import DATA_ALERT
from analyzer.alerting.state import firing as firing_alerts
from analyzer.lifecycle.facts import cluster_now
from analyzer.slo.budget import SloStatus
from analyzer.slo.evaluate import evaluate_slo
from podslo.store import Store
from podslo.timeutil import iso
from slo_rules import Rules


def slo_statuses(
    store: Store, rules: Rules, clusters: list[str], firing: list[dict] | None = None, only: str | None = None
) -> list[SloStatus]:
    """Every SLO (or the one named `only`) in every cluster at that cluster's now, with its
    alerts' states (the stored ones unless given)."""
    out = []
    firing = firing_alerts(store) if firing is None else firing
    slos = [s for s in rules.spec.slos if only in (None, s.name)]
    for cluster in clusters:
        now, _ = cluster_now(store, cluster)
        if now is None:
            continue
        on = {(a["slo"], a["severity"]) for a in firing if a["cluster"] == cluster}
        for status in (evaluate_slo(store, rules, slo, cluster, now) for slo in slos):
            status.alerts = {sev: "firing" if (status.slo, sev) in on else "inactive" for sev in ("page", "ticket")}
            out.append(status)
    return out


def slo_rows(
    store: Store, rules: Rules, clusters: list[str], firing: list[dict] | None = None, only: str | None = None
) -> list[dict]:
    """Every SLO's status (`podslo slo`, the API's /slos) with its own health: from its own firing
    alerts, Unknown while it has counted nothing or its cluster's data is missing."""
    firing = firing_alerts(store) if firing is None else firing
    statuses = slo_statuses(store, rules, clusters, firing, only)
    return [{**s.to_dict(), "health": _own_health(firing, s)} for s in statuses]


def _own_health(firing: list[dict], status: SloStatus) -> str:
    """An SLO's health now: Unknown with nothing counted; its own alerts'; and a Warning when
    its budget is spent though no alert fires (too few events for one, say)."""
    if status.total <= 0:
        return "Unknown"
    own = slo_health(firing, status.cluster, status.slo)
    return "Warning" if own == "Healthy" and status.budget_left < 0 else own


def slo_detail(store: Store, rules: Rules, name: str, cluster: str) -> dict | None:
    """One SLO in one cluster, as its own page shows it: the status with its health, each alert
    window pair with its burns and state, and the reasons that spent its budget over its window
    (None: no such SLO)."""
    slo = next((s for s in rules.spec.slos if s.name == name), None)
    found = slo_rows(store, rules, [cluster], only=name) if slo is not None else []
    if not found:  # no such SLO, or a cluster with no data
        return None
    (status,) = found
    now = status["now"]
    alerting = rules.alerting(slo)
    pairs = []
    for pair in alerting.windows:
        long, short = str(pair.long), str(pair.short)
        waiting = status["data_s"] is not None and status["data_s"] < pair.short.s
        pairs.append(
            {
                "severity": pair.severity,
                "long": long,
                "short": short,
                "factor": pair.factor,
                "burn_long": status["burn"].get(long),
                "burn_short": status["burn"].get(short),
                "events_long": status["events"].get(long, 0.0),
                "state": "waiting for data" if waiting else status["alerts"].get(pair.severity, "inactive"),
            }
        )
    since = now - int(slo.window.s * 1000)
    reasons = [
        {"reason": r, "events": n, "example": example, **_explained(rules, r)}
        for r, n, example in read.top_reasons(store, slo, cluster, since, now)
    ]
    selector = {"namespaces": list(slo.selector.namespaces), "labels": dict(slo.selector.labels)}
    return {
        **status,
        "window_s": slo.window.s,
        "pairs": pairs,
        "reasons": reasons,
        "selector": selector,
        "min_events": alerting.min_events,
    }


def _explained(rules: Rules, reason: str) -> dict:
    found = rules.explain(reason) or {}
    return {"means": found.get("means"), "check": found.get("check")}


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
