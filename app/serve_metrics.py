"""serve's own series on /metrics: SLO gauges, verdict counts, cluster health, the analysis
round and webhook delivery."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from analyzer.alerting.delivery import Outbox
from analyzer.alerting.state import firing as firing_alerts
from app.analysis_loop import AnalysisLoop
from podslo.supervisor import Supervisor

_VERDICT_COUNTS = """SELECT cluster, outcome, ifNull(attribution, ''), ifNull(reason, ''), count()
FROM pod_verdicts FINAL GROUP BY cluster, outcome, attribution, reason"""


class ServeMetrics:
    """SLO gauges and verdict counts for /metrics, from the last analysis round."""

    def __init__(self, analyst: AnalysisLoop, outbox: Outbox, supervisor: Supervisor | None = None):
        self.analyst, self.outbox, self.supervisor = analyst, outbox, supervisor

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
            slo["budget_remaining"].add_metric([s.slo, s.cluster], s.budget_left)
            slo["sli"].add_metric([s.slo, s.cluster, s.window], s.current if s.current is not None else float("nan"))
            for window, value in s.sli_by_window.items():
                if window != s.window:
                    slo["sli"].add_metric([s.slo, s.cluster, window], value if value is not None else float("nan"))
            for window, burn in s.burn.items():
                slo["burn_rate"].add_metric([s.slo, s.cluster, window], burn if burn is not None else 0.0)
        for a in firing_alerts(self.analyst.store):
            slo["alert_firing"].add_metric([a["slo"], a["cluster"], a["severity"]], 1)
        yield from slo.values()
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
            health_family.add_metric([cluster, value], 1)
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
