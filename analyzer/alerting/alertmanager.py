"""Alerts pushed to Alertmanager as Prometheus pushes them (POST /api/v2/alerts).

Every firing alert is sent with `endsAt` a while ahead (HOLD_ROUNDS x the longer of the
analysis and resend intervals) and sent again every resend interval, so Alertmanager never
resolves it on its own and one that restarted has it back within one interval; a resolved
alert is sent with `endsAt` at its resolve time for RESOLVED_KEPT_S. A change (an alert fires
or resolves) is sent at once. A failed push is tried again with backoff; nothing is queued,
because the next push carries the whole current state.

Alert times are the cluster's; Alertmanager judges them by its own clock, so they are moved
by the cluster's offset from the wall clock at its last analysis round (nothing in live
collection, where the two agree; the whole difference for a replay or a faster simulated
clock) and never later than now."""

from __future__ import annotations

import base64
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import orjson

from analyzer.alerting.delivery import read_at_most
from podslo.backoff import DELIVERY, FailureLog
from podslo.store import Store
from podslo.timeutil import iso, ms_of, now_ms
from slo_rules.loader import AlertmanagerSpec

log = logging.getLogger(__name__)
HOLD_ROUNDS = 4  # a firing alert's endsAt is this many intervals ahead (Prometheus's factor)
RESOLVED_KEPT_S = 15 * 60  # a resolved alert is sent again this long (Prometheus's resolvedRetention)
ANSWER_BYTES = 16 << 10  # what is read of Alertmanager's answer
PATH = "/api/v2/alerts"

_ALERTS = """SELECT * FROM alerts FINAL
WHERE status = 'firing'
   OR fromUnixTimestamp64Milli(toInt64(version)) >= now64(3) - toIntervalSecond({kept:UInt32})
ORDER BY starts_at"""


@dataclass
class AlertmanagerTarget:
    """Where alerts are pushed and how: its URL, credentials (from the environment), timeout
    and resend interval."""

    name: str
    url: str
    timeout_s: float = 10.0
    resend_every_s: float = 60.0
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, name: str, spec: AlertmanagerSpec) -> AlertmanagerTarget:
        headers = {}
        if spec.bearer_token_env:
            headers["Authorization"] = f"Bearer {os.environ.get(spec.bearer_token_env, '')}"
        elif spec.basic_auth:
            secret = f"{spec.basic_auth.username}:{os.environ.get(spec.basic_auth.password_env, '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        return cls(name, spec.url.rstrip("/"), spec.timeout.s, spec.resend_every.s, headers)


def alertmanagers_of(specs: list[AlertmanagerSpec], urls: list[str]) -> list[AlertmanagerTarget]:
    """The rule file's Alertmanagers, and one per --alertmanager URL."""
    targets = [AlertmanagerTarget.of(f"alertmanager-{i + 1}", spec) for i, spec in enumerate(specs)]
    return targets + [
        AlertmanagerTarget(f"alertmanager-{len(specs) + i + 1}", url.rstrip("/")) for i, url in enumerate(urls)
    ]


def postable(row: dict, offset_ms: int, wall_ms: int, hold_ms: int, generator_url: str) -> dict:
    """One alert row as Alertmanager's postableAlert, its times on the wall clock."""
    starts = min(row["starts_at"] + offset_ms, wall_ms)
    if row["status"] == "firing":
        ends = wall_ms + hold_ms
    else:
        ends = max(min((row["ends_at"] or wall_ms) + offset_ms, wall_ms), starts)
    return {
        "labels": dict(row["labels"]),
        "annotations": {k: v for k, v in dict(row["annotations"]).items() if v},
        "startsAt": iso(starts),
        "endsAt": iso(ends),
        "generatorURL": generator_url,
    }


class AlertmanagerPush:
    """Pushes the stored alert state to one Alertmanager (`run`: one supervised step)."""

    def __init__(
        self,
        store: Store,
        target: AlertmanagerTarget,
        analysis_every_s: float,
        external_url: str,
        board_url: str | None = None,
        offsets: Callable[[], dict[str, int]] = dict,
    ):
        self.store, self.target = store, target
        self.hold_ms = int(HOLD_ROUNDS * max(analysis_every_s, target.resend_every_s) * 1000)
        self.external_url, self.board_url, self.offsets = external_url.rstrip("/"), board_url, offsets
        self.client = httpx.Client(timeout=target.timeout_s, headers={"User-Agent": "podslo-alertmanager"})
        self.posts: Counter = Counter()  # result -> count: sent, failed
        self.sent_state: frozenset = frozenset()
        self.sent_at = float("-inf")  # monotonic
        self.retry_at, self.failures = 0.0, 0
        self.failure_log = FailureLog(f"alertmanager {target.url}")

    def run(self) -> None:
        """Push when the alert state changed, or the resend interval has passed."""
        if time.monotonic() < self.retry_at:
            return
        rows = self.current()
        state = frozenset((r["fingerprint"], r["starts_at"], r["status"]) for r in rows)
        if state == self.sent_state and time.monotonic() - self.sent_at < self.target.resend_every_s:
            return
        if not rows and not self.sent_state:
            self.sent_at = time.monotonic()
            return
        error = self._post([self._postable(r) for r in rows])
        if error is None:
            self.posts["sent"] += 1
            self.sent_state, self.sent_at, self.failures = state, time.monotonic(), 0
            self.failure_log.worked()
            return
        self.posts["failed"] += 1
        self.failures += 1
        wait = min(DELIVERY.delay_s(self.failures), self.target.resend_every_s)
        self.retry_at = time.monotonic() + wait
        self.failure_log.failed(error, f"; again in {wait:.0f}s")

    def current(self) -> list[dict]:
        """Each alert's newest episode: firing, or resolved within RESOLVED_KEPT_S."""
        newest: dict[str, dict] = {}
        for row in self.store.dicts(_ALERTS, kept=RESOLVED_KEPT_S):
            for key in ("starts_at", "ends_at"):
                row[key] = ms_of(row[key])
            newest[row["fingerprint"]] = row  # ordered by start: the latest episode wins
        return list(newest.values())

    def _postable(self, row: dict) -> dict:
        offsets = self.offsets()
        return postable(row, offsets.get(row["cluster"], 0), now_ms(), self.hold_ms, self._generator_url(row))

    def _generator_url(self, row: dict) -> str:
        where = f"cluster={quote(row['cluster'], safe='')}&slo={quote(row['slo'], safe='')}"
        if self.board_url:
            return f"{self.board_url.rstrip('/')}/?{where}"
        return f"{self.external_url}/api/v1/alerts?cluster={quote(row['cluster'], safe='')}"

    def _post(self, alerts: list[dict]) -> str | None:
        """None when Alertmanager took the alerts, else what went wrong."""
        headers = {"Content-Type": "application/json", **self.target.headers}
        try:
            with self.client.stream(
                "POST", self.target.url + PATH, content=orjson.dumps(alerts), headers=headers
            ) as response:
                answer = read_at_most(response, ANSWER_BYTES)
                status = response.status_code
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= status < 300:
            return None
        return f"HTTP {status}: {answer.decode('utf-8', 'replace')[:200]}"
