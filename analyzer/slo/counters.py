"""SLI events as Prometheus counters: per cluster and SLO, good and bad events; the pod startup
latency histogram (the startup SLI's buckets); node-seconds by state. Prometheus-based SLO
tools (Sloth, Pyrra, recording rules) compute the SLIs from these with rate().

A counter only grows. Each minute's events are read from the SLI minutes and what a minute
adds since it was last read is counted; a minute whose count falls (a verdict decided again
moved its pod to another result or minute) counts nothing, so the event is counted once more
where it went. Minutes older than RECOUNT_S are not read again. A process starts its counters
at the stored totals (Prometheus's rate() takes a restart as a counter reset)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from analyzer.lifecycle.sli_minutes import namespace_match
from analyzer.slo.evaluate import slo_conditions, slo_scope
from podslo.store import Store
from slo_rules import Rules
from slo_rules.loader import STARTUP_BUCKETS

RECOUNT_S = 3 * 3600  # minutes this recent are read again (verdicts are decided near now)
COUNT_EVERY_S = 10.0  # wall seconds between reads of a cluster's minutes

_SLO_FILTER = (
    "sli = {{sli{i}:String}} AND scope = {{scope{i}:String}} AND (empty({{ns{i}:Array(String)}}) "
    "OR arrayExists(p -> match(namespace, p), {{ns{i}:Array(String)}}))"
)
_STARTUP = "sli = 'startup' AND scope = ''"


@dataclass(frozen=True)
class Column:
    """One counted series: its family and label values (cluster aside)."""

    family: str  # "slo", "startup_bucket", "startup_sum", "node"
    labels: tuple[str, ...]


def _bucket(le: float) -> str:
    return "+Inf" if le == float("inf") else f"{le:g}"


class SliCounters:
    """Monotonic SLI event counters per cluster, read from the SLI minutes."""

    def __init__(self, rules: Rules):
        self.columns: list[Column] = []
        exprs, self.params = [], {}
        for i, slo in enumerate(rules.spec.slos):
            good, counted = slo_conditions(slo)
            where = _SLO_FILTER.format(i=i)
            exprs += [f"sumIf(events, {where} AND {good})", f"sumIf(events, {where} AND {counted} AND NOT ({good}))"]
            self.columns += [Column("slo", (slo.name, slo.sli, "good")), Column("slo", (slo.name, slo.sli, "bad"))]
            self.params.update(
                {
                    f"sli{i}": slo.sli,
                    f"scope{i}": slo_scope(slo),
                    f"ns{i}": namespace_match(slo.selector.namespaces),
                }
            )
        for le in STARTUP_BUCKETS:
            le_sql = "toFloat64('inf')" if le == float("inf") else repr(le)
            exprs.append(f"sumIf(events, {_STARTUP} AND result = 'observed' AND le <= {le_sql})")
            self.columns.append(Column("startup_bucket", (_bucket(le),)))
        exprs.append(f"sumIf(events, {_STARTUP} AND result = 'sum_ms') / 1000")
        self.columns.append(Column("startup_sum", ()))
        for result, state in (("good", "ready"), ("bad", "unready")):
            exprs.append(f"sumIf(events, sli = 'node_time' AND result = '{result}')")
            self.columns.append(Column("node", (state,)))
        self.sql = (
            f"SELECT toUnixTimestamp(minute), {', '.join(exprs)} FROM sli_minutes FINAL "
            "WHERE cluster = {cluster:String} AND minute >= toDateTime({since:Int64}) GROUP BY minute"
        )
        self.totals: dict[str, list[float]] = {}  # cluster -> a total per column
        self.seen: dict[str, dict[int, tuple[float, ...]]] = {}  # cluster -> minute -> its counts when read
        self.read_at: dict[str, float] = {}  # cluster -> monotonic time of the last read

    def update(self, store: Store, cluster: str, now_ms: int, force: bool = False) -> None:
        """Count what the cluster's minutes added since they were last read (at most every
        COUNT_EVERY_S unless `force`)."""
        if not force and time.monotonic() - self.read_at.get(cluster, -COUNT_EVERY_S) < COUNT_EVERY_S:
            return
        self.read_at[cluster] = time.monotonic()
        horizon = int(now_ms // 1000) - RECOUNT_S
        first = cluster not in self.seen
        seen = self.seen.setdefault(cluster, {})
        totals = self.totals.setdefault(cluster, [0.0] * len(self.columns))
        for minute, *values in store.rows(self.sql, cluster=cluster, since=0 if first else horizon, **self.params):
            before = seen.get(minute)
            for i, value in enumerate(values):
                added = value - (before[i] if before else 0.0)
                if added > 0:
                    totals[i] += added
            if minute >= horizon:
                seen[minute] = tuple(values)
        for minute in [m for m in seen if m < horizon]:
            del seen[minute]

    def series(self) -> list[tuple[str, Column, float]]:
        """(cluster, column, total) of every counted series."""
        return [
            (cluster, column, total)
            for cluster, totals in self.totals.items()
            for column, total in zip(self.columns, totals)
        ]
