"""Alert state over time (the `alerts` table): an alert fires when its condition holds and
resolves once the condition has stayed clear for `keep_firing_for` (so a burn wavering on a
factor does not flap). While firing it is notified again every `repeat_every`. Times are the
cluster's.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.alerting.conditions import DATA_SLO, SLO_ALERT, Condition
from podslo.schema import ALERTS
from podslo.store import Store
from podslo.timeutil import iso, ms_of, now_ms
from slo_rules import Rules

Settled = Callable[[str, str], "dict[str, str] | None"]  # (slo, severity) -> annotations now
_OPEN = "SELECT * FROM alerts FINAL WHERE cluster = {cluster:String} AND status = 'firing'"


def advance(
    store: Store, rules: Rules, cluster: str, now: int, conditions: list[Condition], settled: Settled | None = None
) -> list[str]:
    """Move the cluster's alerts one evaluation on (the notifications they owe are derived from
    this state: outbox.enqueue_owed). Returns what changed. `settled(slo, severity)`: what a
    burn alert that resolves now says instead of its firing figures."""
    open_ = _open(store, cluster)
    version = max(now_ms(), max((r["version"] for r in open_.values()), default=0) + 1)
    rows, changes = transition(open_, conditions, cluster, int(now), rules, settled)
    if rows:
        store.insert(
            "alerts", [ALERTS.Row(**{c: r[c] for c in ALERTS.columns if c != "version"}, version=version) for r in rows]
        )
    return changes


def firing_after(store: Store, rules: Rules, cluster: str, now: int, conditions: list[Condition]) -> list[dict]:
    """The cluster's firing alerts once this evaluation is applied, without writing it (what
    serve would hold at `now`: `podslo slo` shows this)."""
    open_ = _open(store, cluster)
    rows, _ = transition(open_, conditions, cluster, int(now), rules)
    after = {**open_, **{r["fingerprint"]: r for r in rows}}
    return [r for r in after.values() if r["status"] == "firing"]


def _open(store: Store, cluster: str) -> dict[str, dict]:
    out = {}
    for row in store.dicts(_OPEN, cluster=cluster):
        for key in ("starts_at", "ends_at", "last_true_at", "notified_at"):
            row[key] = ms_of(row[key])
        out[row["fingerprint"]] = row
    return out


def transition(
    open_: dict[str, dict],
    conditions: list[Condition],
    cluster: str,
    now: int,
    rules: Rules,
    settled: Settled | None = None,
) -> tuple[list[dict], list[str]]:
    """The alert rows that change at `now` given the conditions holding (pure): new alerts
    fire, held ones are repeated every `repeat_every`, cleared ones resolve after
    `keep_firing_for` (DataMissing at once: data flows again)."""
    by_slo = {s.name: rules.alerting(s) for s in rules.spec.slos}
    holding = {c.fingerprint: c for c in conditions}
    changes, rows = [], []
    for fp, cond in holding.items():
        spec = by_slo.get(cond.slo, rules.spec.alerting)
        row = open_.get(fp)
        if row is None:
            row = {
                "cluster": cluster,
                "fingerprint": fp,
                "starts_at": now,
                "alertname": cond.alertname,
                "slo": cond.slo,
                "severity": cond.severity,
                "status": "firing",
                "ends_at": None,
                "last_true_at": now,
                "notified_at": now,
                "notifications": 1,
            }
            changes.append(f"firing {cond.alertname} {cond.slo} {cond.severity}")
        else:
            row = {**row, "last_true_at": now}
            if row["notified_at"] is None or now - row["notified_at"] >= spec.repeat_every.s * 1000:
                row.update(notified_at=now, notifications=row["notifications"] + 1)
                changes.append(f"repeat {cond.alertname} {cond.slo} {cond.severity}")
        row.update(labels=cond.labels, annotations=cond.annotations, value=cond.value)
        rows.append(row)
    for fp, row in open_.items():
        if fp in holding:
            continue
        keep_s = 0 if row["slo"] == DATA_SLO else by_slo.get(row["slo"], rules.spec.alerting).keep_firing_for.s
        if now - row["last_true_at"] >= keep_s * 1000:
            row = {
                **row,
                "status": "resolved",
                "ends_at": now,
                "notified_at": now,
                "notifications": row["notifications"] + 1,
            }
            now_said = settled(row["slo"], row["severity"]) if settled and row["alertname"] == SLO_ALERT else None
            if now_said:
                row["annotations"] = now_said
            changes.append(f"resolved {row['alertname']} {row['slo']} {row['severity']}")
            rows.append(row)
    return rows, changes


def firing(store: Store, cluster: str | None = None) -> list[dict]:
    where = "" if cluster is None else "AND cluster = {cluster:String}"
    return store.dicts(
        f"SELECT * FROM alerts FINAL WHERE status = 'firing' {where} ORDER BY starts_at", cluster=cluster
    )


def alert_dicts(store: Store, cluster: str | None = None, state: str | None = None, limit: int = 500) -> list[dict]:
    """Alerts, newest first: firing ones and past ones, as their latest state says."""
    where = ["1"]
    if cluster:
        where.append("cluster = {cluster:String}")
    if state:
        where.append("status = {state:String}")
    rows = store.dicts(
        f"SELECT * FROM alerts FINAL WHERE {' AND '.join(where)} ORDER BY starts_at DESC LIMIT {{limit:UInt32}}",
        cluster=cluster,
        state=state,
        limit=limit,
    )
    return [
        {
            "cluster": r["cluster"],
            "fingerprint": r["fingerprint"],
            "alertname": r["alertname"],
            "slo": r["slo"],
            "severity": r["severity"],
            "status": r["status"],
            "starts_at": iso(ms_of(r["starts_at"])),
            "ends_at": iso(ms_of(r["ends_at"])),
            "labels": dict(r["labels"]),
            "annotations": dict(r["annotations"]),
            "value": r["value"],
            "notifications": r["notifications"],
        }
        for r in rows
    ]
