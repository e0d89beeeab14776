"""The weekly report: what an SRE lead reads on Monday morning, per cluster and for the fleet,
this period beside the one before. Built from the same tables and functions as the API, so
the figures in the mail, on the board and in the API agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from analyzer import read
from analyzer.alerting.health import health, slo_health
from analyzer.alerting.state import firing as firing_alerts
from analyzer.lifecycle.facts import cluster_now
from analyzer.slo.evaluate import series
from podslo.errors import ConfigError
from podslo.formats import pct
from podslo.store import Store
from podslo.timeutil import iso
from slo_rules import Rules

TOP_REASONS = 5
HEALTH_ORDER = ["Healthy", "Warning", "Unknown", "Fatal"]


@dataclass(frozen=True)
class Period:
    start: int  # unix seconds, inclusive
    end: int  # exclusive
    label: str

    def previous(self) -> Period:
        length = self.end - self.start
        # a week's label from its middle: its Monday 00:00 in a zone far from UTC is another UTC day
        label = _week_label(self.start - length // 2) if self.label.count("-W") else f"the {_span(length)} before"
        return Period(self.start - length, self.start, label)


def _week_label(start_s: int) -> str:
    year, week, _ = datetime.fromtimestamp(start_s, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _span(seconds: int) -> str:
    return f"{seconds / 86400:.3g} days" if seconds >= 86400 else f"{seconds / 3600:.3g} hours"


def iso_week(text: str) -> Period:
    """`2026-W48`: Monday 00:00 UTC to the next Monday."""
    try:
        year, week = text.upper().split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise ConfigError(f"--week {text!r}: expected an ISO week such as 2026-W48") from None
    start = int(datetime(monday.year, monday.month, monday.day, tzinfo=UTC).timestamp())
    return Period(start, start + 7 * 86400, f"{int(year)}-W{int(week):02d}")


def between(start_text: str, end_text: str) -> Period:
    """--from/--to: ISO-8601 times (UTC unless they say) or unix seconds; the end is exclusive
    (a time to the minute or second counts its own last second)."""
    start, end = _instant(start_text, "--from"), _instant(end_text, "--to") + 1
    if end <= start:
        raise ConfigError("--to must be after --from")
    return Period(
        start, end, f"{iso(start * 1000)[:16].replace('T', ' ')} to {iso(end * 1000)[:16].replace('T', ' ')} UTC"
    )


def _instant(text: str, option: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected an ISO-8601 time or unix seconds") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def week_of(now_s: int, tz) -> Period:
    """The ISO week (in time zone `tz`) holding `now_s`."""
    return week_before(now_s + 7 * 86400, tz)


def week_before(now_s: int, tz) -> Period:
    """The last whole ISO week (in time zone `tz`) before `now_s`."""
    local = datetime.fromtimestamp(now_s, tz)
    monday = (local - timedelta(days=local.weekday() + 7)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = int(monday.timestamp())
    end = int((monday + timedelta(days=7)).timestamp())
    year, week, _ = monday.isocalendar()
    return Period(start, end, f"{year}-W{week:02d}")


# -- figures --------------------------------------------------------------------------------
def period_sli(store: Store, rules: Rules, slo, cluster: str, period: Period) -> dict:
    """An SLO's SLI over the period: the API's series at `to` with one step as long as the period."""
    point = series(store, rules, slo, cluster, period.end, period.end, period.end - period.start)[0]
    counted = point["step_counted"]
    good = 0.0 if point["step_sli"] is None else point["step_sli"] * counted
    return {"sli": point["step_sli"], "good": good, "counted": counted}


def _slo_rows(store: Store, rules: Rules, cluster: str, period: Period, firing: list[dict]) -> list[dict]:
    fired = dict(
        store.rows(
            "SELECT slo, count() FROM alerts FINAL WHERE cluster = {c:String} AND "
            "starts_at >= toDateTime64({s:Int64}, 3) AND starts_at < toDateTime64({e:Int64}, 3) "
            "GROUP BY slo",
            c=cluster,
            s=period.start,
            e=period.end,
        )
    )
    rows = []
    for slo in rules.spec.slos:
        this, last = (period_sli(store, rules, slo, cluster, p) for p in (period, period.previous()))
        rows.append(
            {
                "slo": slo.name,
                "sli": slo.sli,
                "objective": slo.objective,
                "this": this,
                "last": last,
                "budget_used": _budget_used(this, slo.objective),
                "alerts_fired": int(fired.get(slo.name, 0)),
                "health": slo_health(firing, cluster, slo.name),  # now, as the cluster's
            }
        )
    return rows


def _budget_used(figures: dict, objective: float) -> float | None:
    """Share of the period's error budget spent (1: all of it; the period's burn rate)."""
    if not figures["counted"]:
        return None
    return round((figures["counted"] - figures["good"]) / (figures["counted"] * (1 - objective)), 4)


def _top_reasons(store: Store, cluster: str, period: Period, board_url: str | None) -> list[dict]:
    last_period = period.previous()
    this = read.platform_reasons(store, cluster, period.start, period.end)
    last = read.platform_reasons(store, cluster, last_period.start, last_period.end)
    rows = []
    for reason, pods in list(this.items())[:TOP_REASONS]:
        example = read.pod_page(
            store, cluster, 1, None, reason=reason, attribution="system", since=period.start - 86400, until=period.end
        )[0]
        pod = example[0] if example else None
        rows.append(
            {
                "reason": reason,
                "pods": pods,
                "last": last.get(reason, 0),
                "change": pods - last.get(reason, 0),
                "example": pod and f"{pod['namespace']}/{pod['name']}",
                "example_url": pod
                and board_url
                and f"{board_url.rstrip('/')}/trace?cluster={cluster}&uid={pod['uid']}",
            }
        )
    return rows


_STARTUP = """
SELECT count(), quantilesExact(0.5, 0.9, 0.99)(startup_s), quantilesExact(0.5, 0.9, 0.99)(create_to_schedule_s),
       quantilesExact(0.5, 0.9, 0.99)(schedule_to_run_s), quantilesExact(0.5, 0.9, 0.99)(run_to_watch_s)
FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND startup_s IS NOT NULL AND decided_at >= toDateTime64({start:Int64}, 3)
  AND decided_at < toDateTime64({end:Int64}, 3)"""
_PHASES = ("create_to_schedule", "schedule_to_run", "run_to_watch")


def _startup(store: Store, cluster: str, period: Period) -> dict:
    """The week's SIG-Scalability startup latency with clusterloader2's phases (None: no pod)."""
    pods, total, *phases = store.rows(_STARTUP, cluster=cluster, start=period.start, end=period.end)[0]

    def percentiles(q) -> dict:
        return {k: round(v, 3) if pods else None for k, v in zip(("p50_s", "p90_s", "p99_s"), q)}

    return {"pods": int(pods), **percentiles(total), "phases": {n: percentiles(q) for n, q in zip(_PHASES, phases)}}


def _new_unknowns(store: Store, cluster: str, period: Period) -> list[dict]:
    from analyzer.read.patterns import unknown_patterns

    before = {p["pattern"] for p in unknown_patterns(store, cluster, None, period.start)}
    return [p for p in unknown_patterns(store, cluster, period.start, period.end) if p["pattern"] not in before][:10]


def cluster_report(store: Store, rules: Rules, cluster: str, period: Period, firing: list[dict]) -> dict:
    """One cluster's part of the report (`firing`: the alerts firing now, for health)."""
    board_url, last = rules.spec.board_url, period.previous()
    return {
        "cluster": cluster,
        "health": health([a for a in firing if a["cluster"] == cluster]),
        "slos": _slo_rows(store, rules, cluster, period, firing),
        "delivery": read.delivery(store, cluster, period.start, period.end),
        "delivery_last": read.delivery(store, cluster, last.start, last.end),
        "top_reasons": _top_reasons(store, cluster, period, board_url),
        # ages at the period's end, or at the newest data when that is earlier (a partial week)
        "terminating": read.terminating(
            store, cluster, min(period.end * 1000, cluster_now(store, cluster)[0] or 2**62)
        ),
        "repair": [n for n in read.nodes(store, cluster) if n["needs_manual_repair"]],
        "startup": _startup(store, cluster, period),
        "new_unknowns": _new_unknowns(store, cluster, period),
    }


def _fleet(clusters: list[dict]) -> dict:
    """The clusters summed: each SLO's good and counted events, delivery counts."""
    slos = []
    for i, first in enumerate(clusters[0]["slos"] if clusters else []):
        rows = [c["slos"][i] for c in clusters]
        merged = {}
        for when in ("this", "last"):
            good, counted = sum(r[when]["good"] for r in rows), sum(r[when]["counted"] for r in rows)
            merged[when] = {"sli": round(good / counted, 6) if counted else None, "good": good, "counted": counted}
        slos.append(
            {
                **first,
                **merged,
                "budget_used": _budget_used(merged["this"], first["objective"]),
                "alerts_fired": sum(r["alerts_fired"] for r in rows),
                "health": max((r["health"] for r in rows), key=HEALTH_ORDER.index),
            }
        )
    counts = ("pods", "delivered", "failed_user", "failed_system", "cancelled")
    delivery = {k: sum(c["delivery"][k] for c in clusters) for k in counts}
    due = delivery["delivered"] + delivery["failed_system"]
    delivery["success_rate"] = round(delivery["delivered"] / due, 6) if due else None
    return {"slos": slos, "delivery": delivery}


def actions(rules: Rules, clusters: list[dict]) -> list[dict]:
    """This week's actions, in plain language: whose move and what to check first."""
    out = []
    for c in clusters:
        for slo in c["slos"]:
            if slo["budget_used"] is not None and slo["budget_used"] > 1:
                out.append(
                    {
                        "cluster": c["cluster"],
                        "move": "platform",
                        "what": f"{slo['slo']} spent {slo['budget_used']:.0%} of the week's error budget "
                        f"({pct(slo['this']['sli'])} against {pct(slo['objective'])})",
                        "check": "the top reasons below",
                    }
                )
        for reason in c["top_reasons"][:3]:
            text = rules.explain(reason["reason"]) or {}
            out.append(
                {
                    "cluster": c["cluster"],
                    "move": text.get("move", "platform"),
                    "what": f"{reason['pods']} pods failed by {reason['reason']}"
                    + (f" (e.g. {reason['example']})" if reason["example"] else ""),
                    "check": text.get("check", "the pod's trace"),
                }
            )
        for node in c["repair"]:
            out.append(
                {
                    "cluster": c["cluster"],
                    "move": "platform",
                    "what": f"node {node['name']} needs hands ({', '.join(node['reasons']) or 'down'})",
                    "check": node["evidence"] or "the node",
                }
            )
        for stuck in c["terminating"][:3]:
            text = rules.explain(stuck["reason"]) or {}
            out.append(
                {
                    "cluster": c["cluster"],
                    "move": text.get("move", "platform"),
                    "what": f"{stuck['pods']} pods left Terminating ({stuck['reason']})",
                    "check": text.get("check", "the pods' finalizers and their node"),
                }
            )
    return out


_SPAN = """SELECT toUnixTimestamp64Milli(min(decided_at)), toUnixTimestamp64Milli(max(decided_at)),
       countIf(decided_at >= toDateTime64({start:Int64}, 3) AND decided_at < toDateTime64({end:Int64}, 3))
FROM pod_verdicts FINAL WHERE has({clusters:Array(String)}, cluster) AND decided_at IS NOT NULL"""


def coverage(store: Store, clusters: list[str], period: Period) -> dict:
    """What the data covers of the period: the pods decided in it, the span of all decided data,
    and whether the period is empty or only partly covered (it ends after the newest data, or
    starts before the oldest)."""
    first, last, pods = store.rows(_SPAN, clusters=clusters, start=period.start, end=period.end)[0]
    if not pods:
        return {
            "pods": 0,
            "empty": True,
            "partial": False,
            "newest_data": iso(last) if last else None,
            "newest_week": _week_label(int(last) // 1000) if last else None,
        }
    partial = bool(first and first > period.start * 1000) or bool(last and last < period.end * 1000 - 3_600_000)
    return {
        "pods": int(pods),
        "empty": False,
        "partial": partial,
        "from": iso(max(first, period.start * 1000)),
        "to": iso(min(last, period.end * 1000)),
        "newest_data": iso(last),
        "newest_week": _week_label(int(last) // 1000),
    }


def build_report(store: Store, rules: Rules, clusters: list[str], period: Period) -> dict:
    """The report's figures (its JSON form); html/text rendering lives in analyzer.report.render."""
    firing = firing_alerts(store)
    sections = [cluster_report(store, rules, c, period, firing) for c in clusters]
    last = period.previous()
    return {
        "coverage": coverage(store, clusters, period),
        "period": {"label": period.label, "from": iso(period.start * 1000), "to": iso(period.end * 1000)},
        "previous": {"label": last.label, "from": iso(last.start * 1000), "to": iso(last.end * 1000)},
        "clusters": sections,
        "fleet": _fleet(sections),
        "actions": actions(rules, sections),
        "board_url": rules.spec.board_url,
    }
