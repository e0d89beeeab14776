"""Webhook delivery from the durable outbox: at least once, in order per receiver, signed
when the receiver has a secret.

Each receiver is drained by its own loop, oldest notification first: one waiting out its
backoff holds back the later ones for that receiver, and no receiver waits on another.
2xx is delivered; 408, 429 (after its Retry-After), 5xx and network errors are tried again
with backoff; any other answer is a permanent refusal, given up at once. Every POST carries
`X-Podslo-Delivery: <notification id>` (receivers dedupe on it) and, with a secret,
X-Podslo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>; a receiver
checks it and refuses a t too far from its own clock (replays). An answer is read up to
ANSWER_BYTES.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import logging
import time
from collections import Counter

import httpx

from analyzer.alerting.outbox import give_up, prune
from analyzer.alerting.receivers import Receiver
from podslo.backoff import DELIVERY
from podslo.schema import WEBHOOK_OUTBOX
from podslo.store import Store
from podslo.timeutil import ms_of, now_ms

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Podslo-Signature"
DELIVERY_HEADER = "X-Podslo-Delivery"
TIMEOUT_S = 10.0
ANSWER_BYTES = 64 << 10  # what is read of a receiver's answer: enough for an error message
RETRY_AFTER_MAX_S = 3600.0  # a Retry-After further out than this is taken as this
PRUNE_EVERY_S = 60.0
RETRYABLE = {408, 429}  # and every 5xx

_NEXT = """SELECT * FROM webhook_outbox FINAL
WHERE receiver = {receiver:String} AND delivered_at IS NULL AND given_up_at IS NULL
ORDER BY created_at, id LIMIT 1"""


def sign(secret: str, body: str, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class Outbox:
    """Delivers what the outbox holds, one receiver at a time per call (`drain`)."""

    def __init__(self, store: Store, receivers: list[Receiver]):
        self.store = store
        self.receivers = {r.name: r for r in receivers}
        self.clients = {
            r.name: httpx.Client(timeout=TIMEOUT_S, headers={"User-Agent": "podslo-webhook"}) for r in receivers
        }
        self.posts: Counter = Counter()  # result -> count: delivered, failed, rejected
        self.dropped: Counter = Counter()  # why -> count
        self.pruned_at: dict[str, float] = {}

    def drain(self, receiver: str, most: int = 100) -> int:
        """Post the receiver's notifications in order until one must wait (or none is left);
        returns how many were delivered."""
        self._keep_bounded(receiver)
        sent = 0
        for _ in range(most):
            rows = self.store.dicts(_NEXT, receiver=receiver)
            if not rows or ms_of(rows[0]["next_at"]) > now_ms():
                break
            result = self._post(rows[0])
            if result == "failed":  # it waits out its backoff, and the later ones with it
                break
            sent += result == "delivered"
        return sent

    def deliver_due(self) -> int:
        """Every receiver's due notifications (serve's last act before it exits)."""
        return sum(self.drain(name) for name in self.receivers)

    def _keep_bounded(self, receiver: str) -> None:
        if time.monotonic() - self.pruned_at.get(receiver, -PRUNE_EVERY_S) >= PRUNE_EVERY_S:
            self.dropped.update(prune(self.store, receiver))
            self.pruned_at[receiver] = time.monotonic()

    def _post(self, row: dict) -> str:
        """Post one notification and record what came of it: delivered, rejected or failed."""
        status, error, retry_after = self._send(row)
        attempts = row["attempts"] + 1
        if status is not None and 200 <= status < 300:
            self.posts["delivered"] += 1
            self._save(row, attempts=attempts, delivered_at=now_ms(), last_error="")
            return "delivered"
        if status is not None and status not in RETRYABLE and status < 500:
            self.posts["rejected"] += 1
            log.warning(
                "webhook %s: refused for good (%s); notification %s given up", row["receiver"], error, row["id"]
            )
            give_up(self.store, [{**row, "attempts": attempts, "last_error": error}], "rejected")
            return "rejected"
        self.posts["failed"] += 1
        wait = max(DELIVERY.delay_s(attempts), min(retry_after or 0.0, RETRY_AFTER_MAX_S))
        self._save(row, attempts=attempts, next_at=now_ms() + int(wait * 1000), last_error=error)
        log.warning("webhook %s: %s (try %d; again in %.0fs)", row["receiver"], error, attempts, wait)
        return "failed"

    def _send(self, row: dict) -> tuple[int | None, str, float | None]:
        """(HTTP status or None, what went wrong, Retry-After seconds)."""
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: row["id"]}
        receiver = self.receivers.get(row["receiver"])
        if receiver is not None and receiver.secret:
            headers[SIGNATURE_HEADER] = sign(receiver.secret, row["body"])
        client = self.clients.get(row["receiver"]) or httpx.Client(timeout=TIMEOUT_S)
        try:
            with client.stream("POST", row["url"], content=row["body"].encode(), headers=headers) as response:
                answer = read_at_most(response, ANSWER_BYTES)
                status = response.status_code
                retry_after = retry_after_s(response.headers.get("retry-after"))
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300], None
        text = answer.decode("utf-8", "replace")[:200]
        return status, "" if 200 <= status < 300 else f"HTTP {status}: {text}", retry_after

    def _save(self, row: dict, **changes) -> None:
        kept = {c: row[c] for c in WEBHOOK_OUTBOX.columns}
        self.store.insert("webhook_outbox", [WEBHOOK_OUTBOX.Row(**{**kept, **changes, "version": now_ms()})])

    def pending(self) -> int:
        return int(
            self.store.scalar(
                "SELECT count() FROM webhook_outbox FINAL WHERE delivered_at IS NULL AND given_up_at IS NULL"
            )
            or 0
        )


def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """A streamed answer's first `limit` bytes (the rest is never read)."""
    out = bytearray()
    for chunk in response.iter_raw():
        out += chunk[: limit - len(out)]
        if len(out) >= limit:
            break
    return bytes(out)


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
