"""The notifications alerts owe, written to the durable outbox (`webhook_outbox`), one row
per notification and receiver; `analyzer.alerting.delivery` posts them."""

from __future__ import annotations

import orjson

from analyzer.alerting.payloads import payload
from analyzer.alerting.receivers import Receiver
from podslo.schema import WEBHOOK_OUTBOX
from podslo.store import Store
from podslo.timeutil import ms_of


def enqueue(store: Store, rows: list[dict], receivers: list[Receiver], external_url: str) -> int:
    """Outbox rows for each alert row's current notification, to each receiver that wants it.
    Writing the same notification again is a no-op: its id is its identity, and its first
    version (0) never wins over a later attempt's."""
    out = []
    for row in rows:
        for receiver in receivers:
            if row["severity"] not in receiver.severities or (
                row["status"] == "resolved" and not receiver.send_resolved
            ):
                continue
            ident = f"{receiver.name}|{row['fingerprint']}|{row['starts_at']}|{row['status']}|{row['notifications']}"
            body = orjson.dumps(payload(row, receiver.name, external_url)).decode()
            out.append(
                WEBHOOK_OUTBOX.Row(
                    id=ident,
                    receiver=receiver.name,
                    url=receiver.url,
                    body=body,
                    created_at=row["version"],
                    attempts=0,
                    next_at=0,
                    delivered_at=None,
                    last_error="",
                    version=0,
                )
            )
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
