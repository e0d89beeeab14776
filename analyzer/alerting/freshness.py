"""DataMissing: a cluster collected live that has gone silent. Missing data must not look
like a healthy platform, so its health reads Unknown and a page goes out until its collector
hears the apiserver again (collector_heartbeats, by wall time)."""

from __future__ import annotations

from analyzer.alerting.conditions import DATA_ALERT, DATA_SLO, Condition
from podslo.store import Store
from podslo.timeutil import iso
from slo_rules import Rules


def last_heard(store: Store, cluster: str) -> int | None:
    """When a live collector last heard the cluster's apiserver (ms, wall time); None for a
    cluster never collected live (a replay)."""
    value = store.scalar(
        "SELECT toUnixTimestamp64Milli(max(heard_at)) FROM collector_heartbeats WHERE cluster = {cluster:String} "
        "HAVING count() > 0",
        cluster=cluster,
    )
    return int(value) if value else None


def data_missing_conditions(
    store: Store, rules: Rules, cluster: str, wall_ms: int, since_ms: int = 0, board_url: str | None = None
) -> list[Condition]:
    """The cluster's DataMissing alert when it was not heard for longer than the rules allow
    before `wall_ms`, counting silence from `since_ms` at the earliest (when serve started)."""
    spec = rules.spec.data_missing
    heard = last_heard(store, cluster)
    if spec is None or heard is None:
        return []
    silent_s = (wall_ms - max(heard, since_ms)) / 1000
    if silent_s <= spec.after.s:
        return []
    summary = (
        f"No data from cluster {cluster} for {silent_s / 60:.0f} minutes (last heard {iso(heard)}): "
        "its collector cannot reach the apiserver, or has stopped. Its SLOs cannot be judged meanwhile."
    )
    description = (
        f"{summary} First check: the collector's log and /healthz, the apiserver's reachability and the "
        "collector's RBAC (list and watch on pods, nodes and events)."
    )
    annotations = {"summary": summary, "description": description, "board_url": board_url or ""}
    return [Condition(DATA_ALERT, DATA_SLO, cluster, spec.severity, round(silent_s, 1), annotations)]
