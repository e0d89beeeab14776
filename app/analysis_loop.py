"""serve's analysis loop: for each cluster, every few seconds, verdicts and SLI minutes, SLO
status, alert conditions and the alert state; then the notifications that state owes.

Each cluster's round is isolated: one that raises is retried with backoff, counted and
logged once per backoff step, and the others go on."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from analyzer.alerting.conditions import settled_annotations
from analyzer.alerting.evaluation import conditions_now
from analyzer.alerting.health import healths
from analyzer.alerting.outbox import enqueue_owed
from analyzer.alerting.receivers import Receiver
from analyzer.alerting.state import advance
from analyzer.lifecycle.verdicts import analyze
from analyzer.slo.budget import SloStatus
from analyzer.slo.counters import SliCounters
from analyzer.slo.evaluate import evaluate
from podslo.backoff import Backoff, FailureLog
from podslo.store import Store
from podslo.timeutil import now_ms
from slo_rules import Rules

log = logging.getLogger(__name__)
CLUSTER_RETRY = Backoff(5.0, 300.0, "equal")  # a cluster whose round raised is tried again after this


@dataclass
class RoundResult:
    """What the last analysis round found, kept for /metrics."""

    seconds: float = 0.0
    statuses: list[SloStatus] = field(default_factory=list)
    health: dict[str, str] = field(default_factory=dict)


@dataclass
class ClusterRetry:
    """A cluster whose round keeps failing: when to try again, and its failure log."""

    log: FailureLog
    failures: int = 0
    next_at: float = 0.0  # monotonic


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
        self.started_ms = now_ms()  # silence is counted from here at the earliest
        self.retries: dict[str, ClusterRetry] = {}
        self.failures: Counter = Counter()  # cluster -> rounds that raised, since start
        self.counters = SliCounters(rules)  # SLI events for Prometheus (/metrics)
        self.offsets: dict[str, int] = {}  # cluster -> wall clock minus the cluster's, at its last round (ms)

    def clusters(self) -> list[str]:
        return list(self.names) if self.names is not None else self.store.clusters()

    def run_round(self) -> RoundResult:
        started = time.monotonic()
        statuses, analyzed = [], []
        for cluster in self.clusters():
            retry = self.retries.get(cluster)
            if retry is not None and time.monotonic() < retry.next_at:
                continue
            try:
                found = self.analyze_cluster(cluster)
            except Exception as exc:  # this cluster waits; the others go on
                self._failed(cluster, exc)
                continue
            if retry is not None:
                retry.log.worked()
                del self.retries[cluster]
            if found is not None:
                statuses += found
                analyzed.append(cluster)
        enqueue_owed(self.store, self.receivers, self.external_url, self.names)
        self.last = RoundResult(time.monotonic() - started, statuses, healths(self.store, analyzed))
        self.rounds += 1
        self.busy_s += self.last.seconds
        return self.last

    def analyze_cluster(self, cluster: str) -> list[SloStatus] | None:
        """One cluster's round: verdicts, SLOs, alert state. None when it holds no data yet."""
        result = analyze(self.store, cluster, self.rules)
        if not result.now:
            return None
        self.offsets[cluster] = now_ms() - int(result.now)
        found = evaluate(self.store, self.rules, cluster, result.now)
        self.counters.update(self.store, cluster, result.now)
        conditions = conditions_now(self.store, self.rules, cluster, result.now, found, self.board_url, self.started_ms)
        by_slo = {s.slo: s for s in found}

        def settled(slo: str, severity: str) -> dict | None:
            status = by_slo.get(slo)
            return settled_annotations(status, self.rules, severity, self.board_url) if status else None

        for change in advance(self.store, self.rules, cluster, result.now, conditions, settled):
            log.warning("cluster %s: alert %s", cluster, change)
        return found

    def _failed(self, cluster: str, exc: Exception) -> None:
        retry = self.retries.setdefault(cluster, ClusterRetry(FailureLog(f"analysis of cluster {cluster}")))
        retry.failures += 1
        self.failures[cluster] += 1
        wait = CLUSTER_RETRY.delay_s(retry.failures)
        retry.next_at = time.monotonic() + wait
        retry.log.failed(f"{type(exc).__name__}: {exc}"[:300], f"; again in {wait:.0f}s", exc_info=True)

    def unwell(self) -> str | None:
        """For /healthz: clusters whose analysis has failed for a while."""
        stuck = sorted(c for c, r in self.retries.items() if r.failures >= 5)
        return f"analysis failing for cluster(s) {', '.join(stuck)}" if stuck else None
