"""Webhook delivery from the durable outbox: at least once, in order per receiver, with
exponential backoff and jitter, signed when the receiver has a secret.

X-Podslo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>; a receiver
checks it and refuses a t too far from its own clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time

import httpx

from podslo.backoff import DELIVERY
from podslo.schema import WEBHOOK_OUTBOX
from podslo.store import Store
from podslo.timeutil import now_ms

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Podslo-Signature"
TIMEOUT_S = 10.0

_DUE = """SELECT id, receiver, url, body, created_at, attempts FROM webhook_outbox FINAL
WHERE delivered_at IS NULL AND next_at <= {now:DateTime64(3)} ORDER BY created_at, id LIMIT 500"""


def sign(secret: str, body: str, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class Outbox:
    """Delivers what the outbox holds, each post signed with its receiver's secret."""

    def __init__(self, store: Store, receivers: list):
        self.store = store
        self.secrets = {r.name: r.secret for r in receivers}
        self.client = httpx.Client(timeout=TIMEOUT_S, headers={"User-Agent": "podslo-webhook"})
        self.delivered = 0
        self.failed = 0

    def deliver_due(self) -> int:
        """Try everything due; a receiver that fails is not tried again this round, so its
        notifications arrive in the order they were made."""
        rows = self.store.rows(_DUE, now=now_ms() / 1000)
        blocked: set[str] = set()
        sent = 0
        for ident, receiver, url, body, created_at, attempts in rows:
            if receiver in blocked:
                continue
            error = self._post(receiver, url, body)
            done = error is None
            attempts += 1
            next_at = now_ms() + int(DELIVERY.delay_s(attempts) * 1000)
            self.store.insert(
                "webhook_outbox",
                [
                    WEBHOOK_OUTBOX.Row(
                        id=ident,
                        receiver=receiver,
                        url=url,
                        body=body,
                        created_at=created_at,
                        attempts=attempts,
                        next_at=next_at,
                        delivered_at=now_ms() if done else None,
                        last_error=error or "",
                        version=now_ms(),
                    )
                ],
            )
            if done:
                sent += 1
                self.delivered += 1
            else:
                blocked.add(receiver)
                self.failed += 1
                log.warning(
                    "webhook %s: %s (try %d; again in %.0fs)", receiver, error, attempts, (next_at - now_ms()) / 1000
                )
        return sent

    def _post(self, receiver: str, url: str, body: str) -> str | None:
        headers = {"Content-Type": "application/json"}
        secret = self.secrets.get(receiver)
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            response = self.client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if response.is_success:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def run(self, stop: threading.Event, every_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the store away for a moment: try again next round
                log.exception("webhook delivery round failed")
            stop.wait(every_s)

    def pending(self) -> int:
        return int(self.store.scalar("SELECT count() FROM webhook_outbox FINAL WHERE delivered_at IS NULL") or 0)
