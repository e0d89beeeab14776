"""Alerts: multi-window burn-rate alerts on each SLO, the mass-deletion guard, their state
over time (the `alerts` table), and the notifications they owe (the webhook outbox).

An alert fires when its condition holds and resolves once the condition has stayed clear
for `keep_firing_for` (so a burn wavering on a factor does not flap). While firing it is
notified again every `repeat_every`. Times are the cluster's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import orjson

from analyzer.slo import SloStatus
from podslo.schema import ALERTS, WEBHOOK_OUTBOX
from podslo.store import Store
from podslo.timeutil import iso, ms_of, now_ms
from slo_rules import Rules
from slo_rules.loader import ReceiverSpec

SLO_ALERT = "ErrorBudgetBurn"
GUARD_ALERT = "MassPodDeletion"
GUARD_SLO = "mass-deletion"
NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


@dataclass
class Condition:
    """An alert whose condition holds now."""
    alertname: str
    slo: str
    cluster: str
    severity: str
    value: float
    annotations: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)  # labels beyond the four

    @property
    def labels(self) -> dict[str, str]:
        return {"alertname": self.alertname, "slo": self.slo, "cluster": self.cluster, "severity": self.severity,
                **self.extra}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


def fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


# -- SLO burn ------------------------------------------------------------------------------
def burn_conditions(store: Store, rules: Rules, status: SloStatus, board_url: str | None,
                    firing: set[tuple[str, str]] = frozenset()) -> list[Condition]:
    """The SLO's alerts whose pair of windows both burn above the factor (on enough events);
    for one already `firing` ((slo, severity)), above factor x resolve_below, so a burn
    wavering on the factor does not flap."""
    slo = next(s for s in rules.spec.slos if s.name == status.slo)
    alerting = rules.alerting(slo)
    out: dict[str, Condition] = {}
    for pair in alerting.windows:
        long, short = str(pair.long), str(pair.short)
        burn_long, burn_short = status.burn.get(long), status.burn.get(short)
        if burn_long is None or burn_short is None or status.events[long] < alerting.min_events:
            continue
        factor = pair.factor * (alerting.resolve_below if (slo.name, pair.severity) in firing else 1)
        if burn_long > factor and burn_short > factor and pair.severity not in out:
            out[pair.severity] = Condition(SLO_ALERT, slo.name, status.cluster, pair.severity, round(burn_short, 3),
                                           _burn_annotations(store, rules, status, pair, board_url))
    return list(out.values())


def _burn_annotations(store: Store, rules: Rules, status: SloStatus, pair, board_url: str | None) -> dict[str, str]:
    long = str(pair.long)
    burn = status.burn[long]
    summary = (f"{status.slo} in cluster {status.cluster}: the error budget is burning {burn:.1f}x faster than "
               f"the objective of {status.objective:.2%} allows over the last {long} "
               f"(budget left: {status.budget_left:.0%} of {status.window}).")
    reasons = top_reasons(store, status.indicator, status.cluster, status.now - int(pair.long.s * 1000), status.now)
    listed = "; ".join(f"{r} x{n} (e.g. {example})" for r, n, example in reasons) or "no single reason stands out"
    first = rules.explain(reasons[0][0]) if reasons else None
    advice = f" {reasons[0][0]}: {first['means']} First check: {first['check']}" if first else ""
    description = (f"Over the last {long}: {status.events[long]:.0f} counted, burn {burn:.1f}x (factor {pair.factor:g}), "
                   f"short window {pair.short} burn {status.burn[str(pair.short)]:.1f}x. "
                   f"Top reasons: {listed}. Over {status.window}: {status.current or 0:.2%} good.{advice}")
    return {"summary": summary, "description": description, "board_url": board_url or ""}


_TOP_REASONS = {
    "delivery": """SELECT ifNull(reason, 'Unknown'), count(), any(concat(namespace, '/', name)) FROM pod_verdicts FINAL
        WHERE cluster = {cluster:String} AND decided_at >= {since:DateTime64(3)} AND decided_at < {until:DateTime64(3)}
          AND outcome IN ('failed', 'timeout') AND ifNull(attribution, '') != 'user'
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
    "deletion": """SELECT ifNull(deletion_reason, 'Unknown'), count(), any(concat(namespace, '/', name)) FROM pod_verdicts FINAL
        WHERE cluster = {cluster:String} AND deletion_decided_at >= {since:DateTime64(3)}
          AND deletion_decided_at < {until:DateTime64(3)} AND deletion_stuck = 1
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
    "upgrade": """SELECT ifNull(upgrade_reason, 'Unknown'), count(), any(concat(namespace, '/', name)) FROM pod_verdicts FINAL
        WHERE cluster = {cluster:String} AND upgrade_decided_at >= {since:DateTime64(3)}
          AND upgrade_decided_at < {until:DateTime64(3)} AND upgrade_outcome = 'failed'
          AND ifNull(upgrade_attribution, '') != 'user'
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
    "probe": """SELECT if(error = '', outcome, substring(error, 1, 80)), count(), any(probe) FROM probe_results
        WHERE cluster = {cluster:String} AND started_at >= {since:DateTime64(3)} AND started_at < {until:DateTime64(3)}
          AND outcome != 'ok' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
    "node_time": """SELECT arrayJoin(reasons), count(), any(name) FROM node_verdicts FINAL
        WHERE cluster = {cluster:String} AND downtime_s > 0 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3""",
}


def top_reasons(store: Store, sli: str, cluster: str, since_ms: int, until_ms: int) -> list[tuple[str, int, str]]:
    """(reason, count, example) of the SLI's bad events in [since, until), most first."""
    sql = _TOP_REASONS.get(sli)
    if sql is None:
        return []
    rows = store.rows(sql, cluster=cluster, since=since_ms / 1000, until=until_ms / 1000)
    return [(str(r), int(n), str(e)) for r, n, e in rows]


# -- mass deletion --------------------------------------------------------------------------
_DELETIONS = """
SELECT namespace,
       countIf(deletion_requested_at >= {since:DateTime64(3)} AND deletion_requested_at < {until:DateTime64(3)}) AS deleted,
       countIf(deletion_requested_at IS NULL OR deletion_requested_at >= {since:DateTime64(3)}) AS present
FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND NOT startsWith(uid, 'event:') AND created_at < {until:DateTime64(3)}
GROUP BY namespace"""
_DELETERS = """
SELECT username, count() FROM raw_audit
WHERE cluster = {cluster:String} AND verb IN ('delete', 'deletecollection') AND resource = 'pods' AND subresource = ''
  AND stage = 'ResponseComplete' AND request_at >= {since:DateTime64(3)} AND request_at < {until:DateTime64(3)}
  AND ({namespace:String} = '' OR namespace = {namespace:String})
GROUP BY username ORDER BY count() DESC LIMIT 3"""


def guard_conditions(store: Store, rules: Rules, cluster: str, now: int, board_url: str | None) -> list[Condition]:
    """Namespaces (and the cluster, namespace '') where deletions within the guard's window
    reached its count, or its share of the pods there at some time in the window."""
    spec = rules.spec.mass_deletion
    if spec is None:
        return []
    since = now - int(spec.window.s * 1000)
    params = {"cluster": cluster, "since": since / 1000, "until": now / 1000}
    rows = store.rows(_DELETIONS, **params)
    rows += [("", sum(r[1] for r in rows), sum(r[2] for r in rows))]  # the whole cluster
    out = []
    for namespace, deleted, present in rows:
        share = deleted / max(present, deleted, 1)
        if deleted >= spec.max_count or (present >= spec.min_pods and share >= spec.max_share and deleted > 0):
            who = store.rows(_DELETERS, **params, namespace=namespace)
            asked = ", ".join(f"{user} ({n})" for user, n in who) or "not known (no audit events collected)"
            where = f"namespace {namespace}" if namespace else "the whole cluster"
            summary = (f"{deleted} pods deleted in {where} of cluster {cluster} within {spec.window} "
                       f"({share:.0%} of the {present} there in that time).")
            out.append(Condition(GUARD_ALERT, GUARD_SLO, cluster, spec.severity, float(deleted), {
                "summary": summary, "description": f"{summary} Who asked: {asked}.", "board_url": board_url or ""},
                {"namespace": namespace or "*"}))
    return out


# -- state and notifications -------------------------------------------------------------------
_OPEN = "SELECT * FROM alerts FINAL WHERE cluster = {cluster:String} AND status = 'firing'"


@dataclass
class Receiver:
    name: str
    url: str
    severities: tuple[str, ...] = ("page", "ticket")
    send_resolved: bool = True
    secret: str | None = field(default=None, repr=False)  # signs its posts; never stored

    @classmethod
    def of(cls, spec: ReceiverSpec) -> "Receiver":
        return cls(spec.name, spec.url, tuple(spec.severities), spec.send_resolved,
                   os.environ.get(spec.secret_env) or None if spec.secret_env else None)


def step(store: Store, rules: Rules, cluster: str, now: int, conditions: list[Condition],
         receivers: list[Receiver], external_url: str) -> list[str]:
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
            row = {"cluster": cluster, "fingerprint": fp, "starts_at": now, "alertname": cond.alertname,
                   "slo": cond.slo, "severity": cond.severity, "status": "firing", "ends_at": None,
                   "last_true_at": now, "notified_at": now, "notifications": 1}
            changes.append(f"firing {cond.alertname} {cond.slo} {cond.severity}")
        else:
            row = {**row, "starts_at": ms_of(row["starts_at"]), "last_true_at": now,
                   "notified_at": ms_of(row["notified_at"])}
            if row["notified_at"] is None or now - row["notified_at"] >= spec.repeat_every.s * 1000:
                row.update(notified_at=now, notifications=row["notifications"] + 1)
                changes.append(f"repeat {cond.alertname} {cond.slo} {cond.severity}")
        row.update(labels=cond.labels, annotations=cond.annotations, value=cond.value, version=version)
        rows.append(row)
    for fp, row in open_.items():
        if fp in holding:
            continue
        spec = by_slo.get(row["slo"], alerting)
        row = {**row, "starts_at": ms_of(row["starts_at"]), "last_true_at": ms_of(row["last_true_at"]),
               "notified_at": ms_of(row["notified_at"]), "version": version}
        if now - row["last_true_at"] >= spec.keep_firing_for.s * 1000:
            row.update(status="resolved", ends_at=now, notified_at=now, notifications=row["notifications"] + 1)
            changes.append(f"resolved {row['alertname']} {row['slo']} {row['severity']}")
            rows.append(row)
    if rows:
        store.insert("alerts", [ALERTS.Row(**{c: r[c] for c in ALERTS.columns}) for r in rows])
        enqueue(store, [r for r in rows if _owes(r, open_)], receivers, external_url)
    return changes


def _owes(row: dict, before: dict) -> bool:
    """Whether this row is a state change or repeat that has not been enqueued yet."""
    old = before.get(row["fingerprint"])
    return old is None or old["notifications"] != row["notifications"]


def enqueue(store: Store, rows: list[dict], receivers: list[Receiver], external_url: str) -> int:
    """Outbox rows for each alert row's current notification, to each receiver that wants it.
    Writing the same notification again is a no-op: its id is its identity, and its first
    version (0) never wins over a later attempt's."""
    out = []
    for row in rows:
        for receiver in receivers:
            if row["severity"] not in receiver.severities or (row["status"] == "resolved" and not receiver.send_resolved):
                continue
            ident = f"{receiver.name}|{row['fingerprint']}|{row['starts_at']}|{row['status']}|{row['notifications']}"
            body = orjson.dumps(payload(row, receiver.name, external_url)).decode()
            out.append(WEBHOOK_OUTBOX.Row(id=ident, receiver=receiver.name, url=receiver.url, body=body,
                                          created_at=row["version"], attempts=0, next_at=0, delivered_at=None,
                                          last_error="", version=0))
    store.insert("webhook_outbox", out)
    return len(out)


def reconcile(store: Store, receivers: list[Receiver], external_url: str) -> int:
    """After a restart: every alert's latest notification is in the outbox (an alert row
    written just before a crash may not have had its notification written)."""
    rows = store.dicts("SELECT * FROM alerts FINAL")
    for row in rows:
        for key in ("starts_at", "ends_at", "last_true_at", "notified_at"):
            row[key] = ms_of(row[key])
    return enqueue(store, rows, receivers, external_url)


def payload(row: dict, receiver: str, external_url: str) -> dict:
    """The Alertmanager webhook payload, version 4, for one alert."""
    labels, annotations = dict(row["labels"]), dict(row["annotations"])
    group = {k: labels[k] for k in ("alertname", "cluster", "slo") if k in labels}
    alert = {"status": row["status"], "labels": labels, "annotations": annotations,
             "startsAt": iso(row["starts_at"]), "endsAt": iso(row["ends_at"]) if row["ends_at"] else NEVER,
             "generatorURL": f"{external_url.rstrip('/')}/api/v1/alerts?cluster={row['cluster']}",
             "fingerprint": row["fingerprint"]}
    return {"version": "4", "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}",
            "truncatedAlerts": 0, "status": row["status"], "receiver": receiver, "groupLabels": group,
            "commonLabels": labels, "commonAnnotations": annotations, "externalURL": external_url, "alerts": [alert]}


def firing(store: Store, cluster: str | None = None) -> list[dict]:
    where = "" if cluster is None else "AND cluster = {cluster:String}"
    return store.dicts(f"SELECT * FROM alerts FINAL WHERE status = 'firing' {where} ORDER BY starts_at", cluster=cluster)
