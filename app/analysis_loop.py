"""serve's analysis loop: for each cluster, every few seconds, verdicts and SLI minutes, SLO
status, alert conditions and the alert state (which enqueues notifications)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from analyzer.alerting.conditions import burn_conditions
from analyzer.alerting.guard import guard_conditions
from analyzer.alerting.health import healths
from analyzer.alerting.receivers import Receiver
from analyzer.alerting.state import advance
from analyzer.alerting.state import firing as firing_alerts
from analyzer.lifecycle.verdicts import analyze
from analyzer.slo.budget import SloStatus
from analyzer.slo.evaluate import evaluate
from podslo.store import Store
from slo_rules import Rules

log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    """What the last analysis round found, kept for /metrics."""

    seconds: float = 0.0
    statuses: list[SloStatus] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)


class AnalysisLoop:
    """The analysis loop: verdicts, SLIs, SLOs and alerts for each cluster (None: every cluster
    the store holds, looked up each round), every `every_s`."""

    def __init__(
        self,
        store: Store,
        rules: Rules,
        clusters: list[str] | None,
        receivers: list[Receiver],
        external_url: str,
        every_s: float = 5.0,
    ):
        self.store, self.rules, self.names = store, rules, clusters
        self.receivers, self.external_url, self.every_s = receivers, external_url, every_s
        self.board_url = rules.spec.board_url
        self.last = RoundResult()
        self.rounds = 0
        self.busy_s = 0.0

    def clusters(self) -> list[str]:
        return list(self.names) if self.names is not None else self.store.clusters()

    def run_round(self) -> RoundResult:
        started = time.monotonic()
        statuses, analyzed = [], []
        for cluster in self.clusters():
            result = analyze(self.store, cluster, self.rules)
            if not result.now:
                continue
            found = evaluate(self.store, self.rules, cluster, result.now)
            firing = {(a["slo"], a["severity"]) for a in firing_alerts(self.store, cluster)}
            conditions = [c for s in found for c in burn_conditions(self.store, self.rules, s, self.board_url, firing)]
            conditions += guard_conditions(self.store, self.rules, cluster, result.now, self.board_url)
            for change in advance(
                self.store, self.rules, cluster, result.now, conditions, self.receivers, self.external_url
            ):
                log.warning("cluster %s: alert %s", cluster, change)
            statuses += found
            analyzed.append(cluster)
        self.last = RoundResult(time.monotonic() - started, statuses, healths(self.store, analyzed))
        self.rounds += 1
        self.busy_s += self.last.seconds
        return self.last

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_round()
            except Exception:  # one bad round must not end the service; the next one retries
                log.exception("analysis round failed")
            stop.wait(max(0.0, self.every_s - self.last.seconds))
