"""One evaluation of a cluster's alerts: the conditions holding at its now, and, for readers
that must not write (`podslo slo`), the firing alerts serve would hold after it."""

from __future__ import annotations

from analyzer.alerting.conditions import Condition, burn_conditions
from analyzer.alerting.freshness import data_missing_conditions
from analyzer.alerting.guard import guard_conditions
from analyzer.alerting.state import firing as firing_alerts
from analyzer.alerting.state import firing_after
from analyzer.lifecycle.facts import cluster_now
from analyzer.slo.budget import SloStatus
from analyzer.slo.evaluate import evaluate
from podslo.store import Store
from podslo.timeutil import now_ms
from slo_rules import Rules


def conditions_now(
    store: Store,
    rules: Rules,
    cluster: str,
    now: int,
    statuses: list[SloStatus],
    board_url: str | None,
    since_ms: int = 0,
) -> list[Condition]:
    """Every alert condition holding for a cluster at its `now`: burn rates, the mass-deletion
    guard, missing data (by wall time, silence counted from `since_ms`)."""
    firing = {(a["slo"], a["severity"]) for a in firing_alerts(store, cluster)}
    conditions = [c for s in statuses for c in burn_conditions(store, rules, s, board_url, firing)]
    conditions += guard_conditions(store, rules, cluster, now, board_url)
    conditions += data_missing_conditions(store, rules, cluster, now_ms(), since_ms, board_url)
    for condition in conditions:
        condition.severity_label = rules.spec.alerting.severity_labels.get(condition.severity, "")
    return conditions


def firing_now(store: Store, rules: Rules, clusters: list[str]) -> list[dict]:
    """The alerts firing in these clusters once evaluated at each cluster's now, without
    writing anything: what serve would hold (and page on) for this store and now."""
    out = []
    for cluster in clusters:
        now, _ = cluster_now(store, cluster)
        if now is None:
            continue
        statuses = evaluate(store, rules, cluster, now)
        conditions = conditions_now(store, rules, cluster, now, statuses, rules.spec.board_url)
        out += firing_after(store, rules, cluster, now, conditions)
    return out
