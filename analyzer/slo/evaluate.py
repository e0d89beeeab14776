"""SLO status from the SLI minutes: the one query per SLO that feeds the arithmetic in
`analyzer.slo.budget`, at a cluster's now or over time."""

from __future__ import annotations

from analyzer.lifecycle.sli_minutes import namespace_match
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
        "scope": slo.name if slo.selector.labels and slo.sli != "node_time" else "",
        "namespaces": namespace_match(slo.selector.namespaces),
    }


def count_windows(store: Store, slo: SloSpec, cluster: str, now: int, windows: list[Window]) -> None:
    """Set each window's good and total events ending at `now` (ms), in one query."""
    good, counted = slo_conditions(slo)
    starts = [int(now // 1000 - w.seconds) for w in windows]
    exprs = []
    for i in range(len(windows)):
        exprs.append(f"sumIf(events, {good} AND minute >= toDateTime({{from{i}:Int64}}))")
        exprs.append(f"sumIf(events, {counted} AND minute >= toDateTime({{from{i}:Int64}}))")
    params = {**_slo_params(slo, cluster, min(starts), now // 1000), **{f"from{i}": t for i, t in enumerate(starts)}}
    row = store.rows(f"SELECT {', '.join(exprs)} {_SLO_ROWS}", **params)[0]
    for i, w in enumerate(windows):
        w.good, w.total = float(row[2 * i] or 0), float(row[2 * i + 1] or 0)


def series(store: Store, rules: Rules, slo: SloSpec, cluster: str, from_s: int, to_s: int, step_s: int) -> list[dict]:
    """The SLO over time: at each step from `from_s` to `to_s` (unix seconds), the SLI over its
    window and over the step just ended, the budget left and the burn per alert window."""
    pairs = rules.alerting(slo).windows
    widths = {str(slo.window): slo.window.s, **{str(w): w.s for p in pairs for w in (p.long, p.short)}}
    first = (from_s - int(max(*widths.values(), step_s))) // 60 * 60
    good, counted = slo_conditions(slo)
    rows = store.rows(
        f"SELECT toUnixTimestamp(minute), sumIf(events, {good}), sumIf(events, {counted}) {_SLO_ROWS} GROUP BY minute",
        **_slo_params(slo, cluster, first, to_s),
    )
    return series_points(rows, first, from_s, to_s, step_s, slo.window.s, widths, slo.objective)
