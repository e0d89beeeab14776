"""The notifications alerts owe, in the durable outbox (`webhook_outbox`): one row per
notification and receiver; `analyzer.alerting.delivery` posts them.

What is owed is derived from the stored alert state every round (`enqueue_owed`), so a
failed write of the outbox after the alert state was written costs a round, never a page.
A receiver hears of an alert episode from its firing on: one added to the rule file gets
what fires now, not past episodes. Per receiver the outbox is bounded in count and age.
"""

from __future__ import annotations

import logging
from collections import Counter

import orjson

from analyzer.alerting.payloads import payload
from analyzer.alerting.receivers import Receiver
from podslo.schema import WEBHOOK_OUTBOX
from podslo.store import Store
from podslo.timeutil import ms_of, now_ms

log = logging.getLogger(__name__)
MAX_PENDING = 1000  # per receiver: past it, the oldest are dropped
MAX_AGE_S = 86400  # a notification not delivered in a day is dropped
RESOLVED_LOOKBACK_S = 86400  # resolved episodes whose notification may still be owed

_ALERTS = """SELECT * FROM alerts FINAL
WHERE (status = 'firing' OR fromUnixTimestamp64Milli(toInt64(version)) >= now64(3) - toIntervalSecond({lookback:UInt32}))
  AND (empty({clusters:Array(String)}) OR has({clusters:Array(String)}, cluster))"""
_KNOWN = """SELECT id FROM webhook_outbox
WHERE receiver IN {receivers:Array(String)}
  AND arrayStringConcat(arraySlice(splitByChar('|', id), 2, 2), '|') IN {episodes:Array(String)}"""


def notification_id(receiver: str, row: dict) -> str:
    """A notification's identity: receiver, alert episode (fingerprint, start), state, repeat."""
    return f"{receiver}|{row['fingerprint']}|{row['starts_at']}|{row['status']}|{row['notifications']}"


def enqueue(store: Store, rows: list[dict], receivers: list[Receiver], external_url: str) -> int:
    """Outbox rows for each alert row's current notification, to each receiver that wants it.
    Writing the same notification again is a no-op: its id is its identity, and its first
    version (0) never wins over a later attempt's."""
    out = []
    for row in rows:
        for receiver in receivers:
            if not wants(receiver, row):
                continue
            body = orjson.dumps(payload(row, receiver.name, external_url)).decode()
            out.append(
                WEBHOOK_OUTBOX.Row(
                    id=notification_id(receiver.name, row),
                    receiver=receiver.name,
                    url=receiver.url,
                    body=body,
                    created_at=row["version"],
                    attempts=0,
                    next_at=0,
                    delivered_at=None,
                    last_error="",
                    version=0,
                    given_up_at=None,
                    given_up="",
                )
            )
    store.insert("webhook_outbox", out)
    return len(out)


def wants(receiver: Receiver, row: dict) -> bool:
    return row["severity"] in receiver.severities and (row["status"] == "firing" or receiver.send_resolved)


def enqueue_owed(store: Store, receivers: list[Receiver], external_url: str, clusters: list[str] | None = None) -> int:
    """Enqueue every notification the stored alert state (of these clusters; None: all) owes
    and the outbox lacks: each alert's latest, to each receiver that wants it; a resolved one
    only to a receiver told of its firing (a receiver added later hears only of what fires
    from then on)."""
    rows = store.dicts(_ALERTS, lookback=RESOLVED_LOOKBACK_S, clusters=clusters or [])
    if not rows or not receivers:
        return 0
    for row in rows:
        for key in ("starts_at", "ends_at", "last_true_at", "notified_at"):
            row[key] = ms_of(row[key])
    episodes = sorted({f"{r['fingerprint']}|{r['starts_at']}" for r in rows})
    known = {i for (i,) in store.rows(_KNOWN, receivers=[r.name for r in receivers], episodes=episodes)}
    told = {i.rsplit("|", 2)[0] for i in known}  # receiver|fingerprint|starts_at
    owed = []
    for receiver in receivers:
        for row in rows:
            if not wants(receiver, row) or notification_id(receiver.name, row) in known:
                continue
            episode = f"{receiver.name}|{row['fingerprint']}|{row['starts_at']}"
            if row["status"] == "firing" or episode in told:
                owed.append((receiver, row))
    for receiver, row in owed:
        enqueue(store, [row], [receiver], external_url)
    return len(owed)


def give_up(store: Store, rows: list[dict], why: str) -> None:
    """Mark outbox rows as given up (`why`), keeping what they held."""
    at = now_ms()
    store.insert(
        "webhook_outbox",
        [
            WEBHOOK_OUTBOX.Row(
                **{
                    **{c: r[c] for c in WEBHOOK_OUTBOX.columns},
                    "given_up_at": at,
                    "given_up": why,
                    "version": max(at, int(r["version"]) + 1),
                }
            )
            for r in rows
        ],
    )


_PENDING = "SELECT * FROM webhook_outbox FINAL WHERE delivered_at IS NULL AND given_up_at IS NULL"


def drop_removed(store: Store, receivers: list[Receiver]) -> int:
    """Pending notifications of receivers no longer configured: dropped, counted and logged."""
    names = [r.name for r in receivers]
    rows = store.dicts(f"{_PENDING} AND receiver NOT IN {{names:Array(String)}}", names=names)
    if rows:
        give_up(store, rows, "receiver-removed")
        for name, n in Counter(r["receiver"] for r in rows).items():
            log.warning("webhook %s: no longer configured; %d pending notification(s) dropped", name, n)
    return len(rows)


def prune(store: Store, receiver: str, max_pending: int = MAX_PENDING, max_age_s: float = MAX_AGE_S) -> Counter:
    """Keep a receiver's pending notifications within their bounds: the oldest past
    `max_pending`, and those older than `max_age_s`, are dropped (counted, logged once)."""
    rows = store.dicts(
        f"{_PENDING} AND receiver = {{receiver:String}} ORDER BY created_at DESC, id DESC", receiver=receiver
    )
    oldest_kept = now_ms() - max_age_s * 1000
    over = rows[max_pending:]
    old = [r for r in rows[:max_pending] if ms_of(r["created_at"]) < oldest_kept]
    dropped = Counter()
    for why, chosen in (("over-count", over), ("too-old", old)):
        if chosen:
            give_up(store, chosen, why)
            dropped[why] += len(chosen)
            log.warning("webhook %s: %d pending notification(s) dropped (%s)", receiver, len(chosen), why)
    return dropped
