"""SLO status from the SLI minutes: the one query per SLO that feeds the arithmetic in
`analyzer.slo.budget`, at a cluster's now or over time."""

from __future__ import annotations

from analyzer.lifecycle.sli_minutes import namespace_match, slo_scope
from analyzer.slo.budget import CURRENT_BURN_S, SloStatus, Window, series_points, status_of
from podslo.store import Store
from slo_rules import Rules
from slo_rules.loader import SloSpec


def evaluate(store: Store, rules: Rules, cluster: str, now: int) -> list[SloStatus]:
    """Every SLO of the rules for one cluster at `now` (cluster time, ms)."""
    return [evaluate_slo(store, rules, slo, cluster, now) for slo in rules.spec.slos]


def evaluate_slo(store: Store, rules: Rules, slo: SloSpec, cluster: str, now: int) -> SloStatus:
    pairs = rules.alerting(slo).windows
    windows = {slo.window: Window(str(slo.window), slo.window.s), "1h": Window("1h", CURRENT_BURN_S)}
    for pair in pairs:
        for name in (pair.long, pair.short):
            windows.setdefault(str(name), Window(str(name), name.s))
    count_windows(store, slo, cluster, now, list(windows.values()))
    alert_windows = [windows[str(name)] for pair in pairs for name in (pair.long, pair.short)]
    return status_of(
        slo.name,
        cluster,
        slo.sli,
        slo.objective,
        windows[slo.window],
        slo.description,
        now,
        alert_windows,
        windows["1h"],
    )


def slo_conditions(slo: SloSpec) -> tuple[str, str]:
    """SQL for (good, counted) rows of the SLO's SLI."""
    if slo.threshold_s is not None:
        return f"result = 'observed' AND le <= {float(slo.threshold_s)!r}", "result = 'observed'"
    return "result = 'good'", "result IN ('good', 'bad')"


_SLO_ROWS = (
    "FROM sli_minutes FINAL WHERE cluster = {cluster:String} AND sli = {sli:String} "
    "AND scope = {scope:String} AND minute >= toDateTime({since:Int64}) AND minute < toDateTime({until:Int64}) "
    "AND (empty({namespaces:Array(String)}) OR "
    "arrayExists(p -> match(namespace, p), {namespaces:Array(String)}))"
)


def _slo_params(slo: SloSpec, cluster: str, since_s: int, until_s: int) -> dict:
    """The bound values of _SLO_ROWS: the SLO's SLI rows of a cluster in [since, until)."""
    return {
        "cluster": cluster,
        "sli": slo.sli,
        "since": since_s,
        "until": until_s,
        "scope": slo_scope(slo),
        "namespaces": namespace_match(slo.selector.namespaces),
    }


LOOKBACK_S = 240  # a good-minutes SLO judges each minute by the 5 minutes ending with it


def _minutes(slo: SloSpec) -> str:
    """SQL for the SLO's (m, g, c) per minute in [since, until): its SLI's good and counted
    events, or for the good-minutes form whether the minute was good (the `percentile` of the
    events of the 5 minutes ending with it at or under the threshold) and counted (any event)."""
    good, counted = slo_conditions(slo)
    per_minute = f"SELECT toUnixTimestamp(minute) AS m, sumIf(events, {good}) AS g, sumIf(events, {counted}) AS c"
    if slo.form == "events":
        return f"{per_minute} {_SLO_ROWS} GROUP BY m"
    return (
        f"SELECT m, toFloat64(c5 > 0 AND g5 >= {float(slo.percentile)!r} * c5) AS g, toFloat64(c5 > 0) AS c FROM ("
        f"SELECT m, sum(g) OVER w AS g5, sum(c) OVER w AS c5 FROM ({per_minute} {_SLO_ROWS} GROUP BY m) "
        f"WINDOW w AS (ORDER BY m RANGE BETWEEN {LOOKBACK_S} PRECEDING AND CURRENT ROW)) WHERE m >= {{first:Int64}}"
    )


def _minute_params(slo: SloSpec, cluster: str, since_s: int, until_s: int) -> dict:
    lookback = LOOKBACK_S if slo.form == "good_minutes" else 0
    return {**_slo_params(slo, cluster, since_s - lookback, until_s), "first": since_s}


def count_windows(store: Store, slo: SloSpec, cluster: str, now: int, windows: list[Window]) -> None:
    """Set each window's good and total events (or minutes) ending at `now` (ms), and how much
    of it the data covers (from the SLI's first minute with events), in one query."""
    starts = [int(now // 1000 - w.seconds) for w in windows]
    exprs = []
    for i in range(len(windows)):
        exprs += [f"sumIf(g, m >= {{from{i}:Int64}})", f"sumIf(c, m >= {{from{i}:Int64}})"]
    params = {
        **_minute_params(slo, cluster, min(starts), now // 1000),
        **{f"from{i}": t for i, t in enumerate(starts)},
    }
    exprs.append("minIf(m, c > 0)")
    row = store.rows(f"SELECT {', '.join(exprs)} FROM ({_minutes(slo)})", **params)[0]
    counted = any(row[2 * i + 1] for i in range(len(windows)))
    first = int(row[-1]) if counted else None  # the first minute with events, if any
    for i, w in enumerate(windows):
        w.good, w.total = float(row[2 * i] or 0), float(row[2 * i + 1] or 0)
        if first is None or first >= starts[i] + 60:  # the data starts within the window
            w.covered_s = 0.0 if first is None else float(now // 1000 - first)


def series(store: Store, rules: Rules, slo: SloSpec, cluster: str, from_s: int, to_s: int, step_s: int) -> list[dict]:
    """The SLO over time: at each step from `from_s` to `to_s` (unix seconds), the SLI over its
    window and over the step just ended, the budget left and the burn per alert window."""
    pairs = rules.alerting(slo).windows
    widths = {str(slo.window): slo.window.s, **{str(w): w.s for p in pairs for w in (p.long, p.short)}}
    first = (from_s - int(max(*widths.values(), step_s))) // 60 * 60
    rows = store.rows(f"SELECT m, g, c FROM ({_minutes(slo)})", **_minute_params(slo, cluster, first, to_s))
    return series_points(rows, first, from_s, to_s, step_s, slo.window.s, widths, slo.objective)
