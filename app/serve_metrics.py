"""serve's own series on /metrics: SLO gauges, verdict counts, cluster health, the analysis
round and webhook delivery."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from analyzer.alerting.conditions import DATA_SLO, GUARD_SLO
from analyzer.alerting.delivery import Outbox
from analyzer.alerting.health import HEALTHS
from analyzer.alerting.state import firing as firing_alerts
from app.analysis_loop import AnalysisLoop
from podslo.supervisor import Supervisor

_VERDICT_COUNTS = """SELECT cluster, outcome, ifNull(attribution, ''), ifNull(reason, ''), count()
FROM pod_verdicts FINAL GROUP BY cluster, outcome, attribution, reason"""


class ServeMetrics:
    """SLO gauges and verdict counts for /metrics, from the last analysis round."""

    def __init__(self, analyst: AnalysisLoop, outbox: Outbox, supervisor: Supervisor | None = None, pushes: list = ()):
        self.analyst, self.outbox, self.supervisor, self.pushes = analyst, outbox, supervisor, pushes

    def collect(self):
        last = self.analyst.last
        slo = {
            name: GaugeMetricFamily(f"podslo_slo_{name}", text, labels=labels)
            for name, text, labels in (
                ("objective", "The SLO's objective (0..1).", ["slo", "cluster"]),
                ("sli", "The SLI over a window (good / counted).", ["slo", "cluster", "window"]),
                (
                    "budget_remaining",
                    "Share of the error budget left over the SLO window (negative: overspent).",
                    ["slo", "cluster"],
                ),
                (
                    "burn_rate",
                    "Error budget burn rate over a window (1: spent exactly by the window's end).",
                    ["slo", "cluster", "window"],
                ),
                ("alert_firing", "1 while the SLO's alert of this severity fires.", ["slo", "cluster", "severity"]),
            )
        }
        for s in last.statuses:
            slo["objective"].add_metric([s.slo, s.cluster], s.objective)
            if s.total > 0:  # no data is no figure, not a full budget
                slo["budget_remaining"].add_metric([s.slo, s.cluster], s.budget_left)
            slo["sli"].add_metric([s.slo, s.cluster, s.window], s.current if s.current is not None else float("nan"))
            for window, value in s.sli_by_window.items():
                if window != s.window:
                    slo["sli"].add_metric([s.slo, s.cluster, window], value if value is not None else float("nan"))
            for window, burn in s.burn.items():
                slo["burn_rate"].add_metric([s.slo, s.cluster, window], burn if burn is not None else 0.0)
        firing = {(a["slo"], a["cluster"], a["severity"]) for a in firing_alerts(self.analyst.store)}
        for key in sorted(
            firing
            | {(name, c, sev) for name in self._alerting_slos() for c in last.health for sev in ("page", "ticket")}
        ):
            slo["alert_firing"].add_metric(list(key), 1 if key in firing else 0)
        yield from slo.values()
        yield from self._sli_counters()
        verdicts = GaugeMetricFamily(
            "podslo_pod_verdicts",
            "Pods by verdict (a verdict can still change while its pod lives, so this is a gauge).",
            labels=["cluster", "outcome", "attribution", "reason"],
        )
        for cluster, outcome, attribution, reason, count in self.analyst.store.rows(_VERDICT_COUNTS):  # at scrape time
            verdicts.add_metric([cluster, outcome, attribution, reason], count)
        yield verdicts
        health_family = GaugeMetricFamily(
            "podslo_cluster_health",
            "1 for the cluster's health (Healthy, Warning, Fatal: from the firing alerts' severities; Unknown while its data is missing).",
            labels=["cluster", "health"],
        )
        for cluster, value in last.health.items():
            for state in HEALTHS:
                health_family.add_metric([cluster, state], 1 if state == value else 0)
        yield health_family
        yield GaugeMetricFamily(
            "podslo_analyzer_round_seconds", "Seconds the last analysis round took.", value=last.seconds
        )
        yield CounterMetricFamily("podslo_analyzer_rounds", "Analysis rounds since start.", value=self.analyst.rounds)
        yield CounterMetricFamily(
            "podslo_analyzer_busy_seconds", "Seconds spent in analysis rounds since start.", value=self.analyst.busy_s
        )
        yield GaugeMetricFamily(
            "podslo_webhook_pending", "Notifications not delivered yet.", value=self.outbox.pending()
        )
        posts = CounterMetricFamily(
            "podslo_webhook_posts",
            "Webhook posts since start, by result (failed: tried again; rejected: a permanent refusal, given up).",
            labels=["result"],
        )
        for result in ("delivered", "failed", "rejected"):
            posts.add_metric([result], self.outbox.posts[result])
        yield posts
        dropped = CounterMetricFamily(
            "podslo_webhook_dropped",
            "Notifications dropped undelivered since start, by why (over-count, too-old; receiver-removed at start).",
            labels=["reason"],
        )
        for reason in ("over-count", "too-old", "receiver-removed"):
            dropped.add_metric([reason], self.outbox.dropped[reason])
        yield dropped
        pushed = CounterMetricFamily(
            "podslo_alertmanager_posts",
            "Pushes of the alert state to each Alertmanager since start, by result (sent, failed: tried again).",
            labels=["alertmanager", "result"],
        )
        for push in self.pushes:
            for result in ("sent", "failed"):
                pushed.add_metric([push.target.url, result], push.posts[result])
        yield pushed
        failures = CounterMetricFamily(
            "podslo_analysis_failures", "Analysis rounds of a cluster that raised, since start.", labels=["cluster"]
        )
        for cluster, count in self.analyst.failures.items():
            failures.add_metric([cluster], count)
        yield failures
        if self.supervisor is not None:
            loops = GaugeMetricFamily(
                "podslo_loop_seconds_since_success",
                "Seconds since each background loop last succeeded.",
                labels=["loop"],
            )
            for name, figures in self.supervisor.health()["loops"].items():
                loops.add_metric([name], figures["last_success_s_ago"])
            yield loops

    def _alerting_slos(self) -> list[str]:
        """Every `slo` label an alert can carry: the SLOs, the deletion guard, missing data."""
        spec = self.analyst.rules.spec
        return (
            [s.name for s in spec.slos] + [GUARD_SLO] * bool(spec.mass_deletion) + [DATA_SLO] * bool(spec.data_missing)
        )

    def _sli_counters(self):
        """SLI events per cluster and SLO, the startup latency histogram and node-seconds by state."""
        events = CounterMetricFamily(
            "podslo_sli_events",
            "SLI events counted since start, per cluster and SLO, good or bad (excluded events are not counted).",
            labels=["cluster", "slo", "sli", "result"],
        )
        nodes = CounterMetricFamily(
            "podslo_node_seconds",
            "Node-seconds counted since start, by state (unready: a condition said the node could not deliver pods).",
            labels=["cluster", "state"],
        )
        startup = HistogramMetricFamily(
            "podslo_pod_startup_seconds",
            "Pod startup latency as the startup SLI counts it (creation to all containers started, image pulls left out).",
            labels=["cluster"],
        )
        by_cluster: dict[str, dict] = {}
        for cluster, column, total in self.analyst.counters.series():
            if column.family == "slo":
                events.add_metric([cluster, *column.labels], total)
            elif column.family == "node":
                nodes.add_metric([cluster, *column.labels], total)
            else:
                by_cluster.setdefault(cluster, {"buckets": [], "sum": 0.0})
                if column.family == "startup_sum":
                    by_cluster[cluster]["sum"] = total
                else:
                    by_cluster[cluster]["buckets"].append((column.labels[0], total))
        for cluster, histogram in by_cluster.items():
            startup.add_metric([cluster], histogram["buckets"], histogram["sum"])
        yield from (events, nodes, startup)
