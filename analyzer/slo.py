"""SLO status from the SLI minutes: the SLI over its window, the error budget left, the burn
rate per alert window, and when the budget runs out at the current burn.

A window is the whole minutes that start within it, ending at the cluster's "now".
Burn rate = the window's error rate / the error rate the objective allows (1 - objective):
at 1 the budget lasts exactly the SLO window, at 14.4 a 30-day budget is gone in two days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analyzer.sli import namespace_match
from podslo.store import Store
from slo_rules import Rules
from slo_rules.loader import SloSpec

CURRENT_BURN_S = 3600  # "the current burn" that dates the budget's end: the last hour


@dataclass
class Window:
    name: str  # as written: 5m, 1h, 28d
    seconds: float
    good: float = 0.0
    total: float = 0.0

    @property
    def bad(self) -> float:
        return self.total - self.good

    def burn(self, objective: float) -> float | None:
        """None when the window holds no events."""
        return None if self.total <= 0 else (self.bad / self.total) / (1 - objective)


@dataclass
class SloStatus:
    slo: str
    cluster: str
    indicator: str
    objective: float
    window: str
    description: str
    now: int  # cluster time, ms
    good: float
    total: float
    burn: dict[str, float | None] = field(default_factory=dict)  # per alert window
    events: dict[str, float] = field(default_factory=dict)  # per alert window
    sli_by_window: dict[str, float | None] = field(default_factory=dict)  # good / counted
    runs_out_at: int | None = None  # ms; None: not at the current burn
    alerts: dict[str, str] = field(default_factory=dict)  # severity -> firing|inactive (filled by alerting)

    @property
    def current(self) -> float | None:
        return None if self.total <= 0 else self.good / self.total

    @property
    def budget_events(self) -> float:
        """Bad events the objective allows over the window so far."""
        return self.total * (1 - self.objective)

    @property
    def budget_left_events(self) -> float:
        return self.budget_events - (self.total - self.good)

    @property
    def budget_left(self) -> float:
        """Fraction of the error budget left (negative once overspent; 1 with no events)."""
        return 1.0 if self.total <= 0 else self.budget_left_events / self.budget_events

    def to_dict(self) -> dict:
        return {"slo": self.slo, "cluster": self.cluster, "sli": self.indicator, "objective": self.objective,
                "window": self.window, "description": self.description, "current": _round(self.current),
                "good": self.good, "total": self.total, "budget_left": _round(self.budget_left),
                "budget_left_events": round(self.budget_left_events, 3), "burn": {k: _round(v) for k, v in self.burn.items()},
                "events": self.events, "sli_by_window": {k: _round(v) for k, v in self.sli_by_window.items()}, "runs_out_at": self.runs_out_at, "alerts": self.alerts, "now": self.now}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def evaluate(store: Store, rules: Rules, cluster: str, now: int) -> list[SloStatus]:
    """Every SLO of the rules for one cluster at `now` (cluster time, ms)."""
    return [evaluate_slo(store, rules, slo, cluster, now) for slo in rules.spec.slos]


def evaluate_slo(store: Store, rules: Rules, slo: SloSpec, cluster: str, now: int) -> SloStatus:
    pairs = rules.alerting(slo).windows
    windows = {slo.window: Window(slo.window, slo.window.s), "1h": Window("1h", CURRENT_BURN_S)}
    for pair in pairs:
        for name in (pair.long, pair.short):
            windows.setdefault(str(name), Window(str(name), name.s))
    _fill(store, slo, cluster, now, list(windows.values()))
    whole = windows[slo.window]
    status = SloStatus(slo.name, cluster, slo.sli, slo.objective, str(slo.window), slo.description, now,
                       whole.good, whole.total)
    for pair in pairs:
        for name in (str(pair.long), str(pair.short)):
            status.burn[name] = windows[name].burn(slo.objective)
            status.events[name] = windows[name].total
            status.sli_by_window[name] = windows[name].good / windows[name].total if windows[name].total else None
    status.runs_out_at = _runs_out_at(status, windows["1h"], now)
    return status


def _runs_out_at(status: SloStatus, last_hour: Window, now: int) -> int | None:
    """When the budget left is spent if bad events keep coming as in the last hour."""
    if status.budget_left_events <= 0:
        return now if status.total > 0 else None
    rate = last_hour.bad / last_hour.seconds  # bad events a second
    return None if rate <= 0 else now + int(status.budget_left_events / rate * 1000)


def _conditions(slo: SloSpec) -> tuple[str, str]:
    """SQL for (good, counted) rows of the SLO's SLI."""
    if slo.threshold_s is not None:
        return f"le <= {float(slo.threshold_s)!r}", "result = 'observed'"
    return "result = 'good'", "result IN ('good', 'bad')"


_SLO_ROWS = ("FROM sli_minutes FINAL WHERE cluster = {cluster:String} AND sli = {sli:String} "
             "AND scope = {scope:String} AND minute >= toDateTime({since:Int64}) AND minute < toDateTime({until:Int64}) "
             "AND (empty({namespaces:Array(String)}) OR "
             "arrayExists(p -> match(namespace, p), {namespaces:Array(String)}))")


def _slo_params(slo: SloSpec, cluster: str, since_s: int, until_s: int) -> dict:
    """The bound values of _SLO_ROWS: the SLO's SLI rows of a cluster in [since, until)."""
    return {"cluster": cluster, "sli": slo.sli, "since": since_s, "until": until_s,
            "scope": slo.name if slo.selector.labels and slo.sli != "node_time" else "",
            "namespaces": namespace_match(slo.selector.namespaces)}


def _fill(store: Store, slo: SloSpec, cluster: str, now: int, windows: list[Window]) -> None:
    good, counted = _conditions(slo)
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
    window and over the step just ended, the budget left and the burn per alert window; one
    query, then running sums."""
    pairs = rules.alerting(slo).windows
    widths = {str(slo.window): slo.window.s, **{str(w): w.s for p in pairs for w in (p.long, p.short)}}
    first = (from_s - int(max(*widths.values(), step_s))) // 60 * 60
    good, counted = _conditions(slo)
    rows = store.rows(f"SELECT toUnixTimestamp(minute), sumIf(events, {good}), sumIf(events, {counted}) {_SLO_ROWS} "
                      "GROUP BY minute", **_slo_params(slo, cluster, first, to_s))
    minutes = max((to_s - first) // 60 + 1, 1)
    g, c = np.zeros(minutes + 1), np.zeros(minutes + 1)  # running sums: [i] = minutes before first + i*60
    for minute, good_n, counted_n in rows:
        g[(minute - first) // 60 + 1] += good_n
        c[(minute - first) // 60 + 1] += counted_n
    g, c = np.cumsum(g), np.cumsum(c)

    def window(t: int, width: float) -> tuple[float, float]:
        hi = min((t - first + 59) // 60, minutes)  # minutes starting before t
        lo = min(max((int(t - width) - first + 59) // 60, 0), hi)  # ... and at or after t - width
        return float(g[hi] - g[lo]), float(c[hi] - c[lo])

    points, allowed = [], 1 - slo.objective
    for t in range(from_s, to_s + 1, step_s):
        good_w, counted_w = window(t, slo.window.s)
        burn = {}
        for name, width in widths.items():
            gw, cw = window(t, width)
            burn[name] = None if cw <= 0 else round((1 - gw / cw) / allowed, 6)
        good_s, counted_s = window(t, step_s)
        points.append({"at": t, "sli": None if counted_w <= 0 else round(good_w / counted_w, 6), "counted": counted_w,
                       "step_sli": None if counted_s <= 0 else round(good_s / counted_s, 6), "step_counted": counted_s,
                       "budget_left": 1.0 if counted_w <= 0 else round(1 - (counted_w - good_w) / (counted_w * allowed), 6),
                       "burn": burn})
    return points


def health(firing_severities: set[str]) -> str:
    """Ant Group's cluster health: a firing page is Fatal, a firing ticket a Warning."""
    return "Fatal" if "page" in firing_severities else "Warning" if "ticket" in firing_severities else "Healthy"
