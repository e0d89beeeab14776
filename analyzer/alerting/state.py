"""Alert state over time (the `alerts` table): an alert fires when its condition holds and
resolves once the condition has stayed clear for `keep_firing_for` (so a burn wavering on a
factor does not flap). While firing it is notified again every `repeat_every`. Times are the
cluster's.
"""

from __future__ import annotations

from analyzer.alerting.conditions import Condition
from analyzer.alerting.outbox import enqueue
from analyzer.alerting.receivers import Receiver
from podslo.schema import ALERTS
from podslo.store import Store
from podslo.timeutil import iso, ms_of, now_ms
from slo_rules import Rules

_OPEN = "SELECT * FROM alerts FINAL WHERE cluster = {cluster:String} AND status = 'firing'"


def advance(
    store: Store,
    rules: Rules,
    cluster: str,
    now: int,
    conditions: list[Condition],
    receivers: list[Receiver],
    external_url: str,
) -> list[str]:
    """Move the cluster's alerts one evaluation on; enqueue what they owe. Returns what changed."""
    now = int(now)
    alerting = rules.spec.alerting
    by_slo = {s.name: rules.alerting(s) for s in rules.spec.slos}
    open_ = {row["fingerprint"]: row for row in store.dicts(_OPEN, cluster=cluster)}
    holding = {c.fingerprint: c for c in conditions}
    version = max(now_ms(), max((r["version"] for r in open_.values()), default=0) + 1)
    changes, rows = [], []
    for fp, cond in holding.items():
        spec = by_slo.get(cond.slo, alerting)
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
            row = {
                **row,
                "starts_at": ms_of(row["starts_at"]),
                "last_true_at": now,
                "notified_at": ms_of(row["notified_at"]),
            }
            if row["notified_at"] is None or now - row["notified_at"] >= spec.repeat_every.s * 1000:
                row.update(notified_at=now, notifications=row["notifications"] + 1)
                changes.append(f"repeat {cond.alertname} {cond.slo} {cond.severity}")
        row.update(labels=cond.labels, annotations=cond.annotations, value=cond.value, version=version)
        rows.append(row)
    for fp, row in open_.items():
        if fp in holding:
            continue
        spec = by_slo.get(row["slo"], alerting)
        row = {
            **row,
            "starts_at": ms_of(row["starts_at"]),
            "last_true_at": ms_of(row["last_true_at"]),
            "notified_at": ms_of(row["notified_at"]),
            "version": version,
        }
        if now - row["last_true_at"] >= spec.keep_firing_for.s * 1000:
            row.update(status="resolved", ends_at=now, notified_at=now, notifications=row["notifications"] + 1)
            changes.append(f"resolved {row['alertname']} {row['slo']} {row['severity']}")
            rows.append(row)
    if rows:
        store.insert("alerts", [ALERTS.Row(**{c: r[c] for c in ALERTS.columns}) for r in rows])
        enqueue(store, [r for r in rows if _not_yet_enqueued(r, open_)], receivers, external_url)
    return changes


def _not_yet_enqueued(row: dict, before: dict) -> bool:
    """Whether this row is a state change or repeat that has not been enqueued yet."""
    old = before.get(row["fingerprint"])
    return old is None or old["notifications"] != row["notifications"]


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
