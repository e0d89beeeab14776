"""The SLO arithmetic, pure: burn rates, error budgets, when a budget runs out, and an SLO's
figures over time from per-minute counts. No store here (the SQL that feeds it is
`analyzer.slo.evaluate`), so every formula is tested with hand-computed windows.

A window is the whole minutes that start within it, ending at the cluster's "now".
Burn rate = the window's error rate / the error rate the objective allows (1 - objective):
at 1 the budget lasts exactly the SLO window, at 14.4 a 30-day budget is gone in two days.

A window the data does not yet cover (a new install, 13 minutes of a 28-day SLO) says how
much it covers; its burn is the burn over that part, and the budget is the whole window's,
with the events to come expected at the rate seen so far: 13 bad minutes spend a sliver of
a 28-day budget, not twelve budgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CURRENT_BURN_S = 3600  # "the current burn" that dates the budget's end: the last hour


def ratio(good: float, total: float) -> float | None:
    """good / total; None with no events."""
    return None if total <= 0 else good / total


def burn_rate(good: float, total: float, objective: float) -> float | None:
    """How fast the window spends the budget (1: exactly over the SLO window); None with no events."""
    return None if total <= 0 else ((total - good) / total) / (1 - objective)


def budget_left(good: float, total: float, objective: float, covered: float = 1.0) -> float:
    """Share of the error budget left (negative once overspent; 1 with no events). `covered`:
    the share of the window the data covers; the window's whole budget is the events seen
    so far scaled to the whole window."""
    return 1.0 if total <= 0 else 1 - (total - good) * min(max(covered, 0.0), 1.0) / (total * (1 - objective))


@dataclass
class Window:
    name: str  # as written: 5m, 1h, 28d
    seconds: float
    good: float = 0.0
    total: float = 0.0
    covered_s: float | None = None  # how much of it the data covers (None: all of it)

    @property
    def covered(self) -> float:
        """The share of the window the data covers (0..1)."""
        return 1.0 if self.covered_s is None else min(max(self.covered_s / self.seconds, 0.0), 1.0)

    @property
    def bad(self) -> float:
        return self.total - self.good

    def burn(self, objective: float) -> float | None:
        return burn_rate(self.good, self.total, objective)


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
    covered: float = 1.0  # share of the SLO window the data covers
    covered_by_window: dict[str, float] = field(default_factory=dict)  # per alert window
    data_s: float | None = None  # seconds of data behind the figures (None: more than every window)

    @property
    def current(self) -> float | None:
        return ratio(self.good, self.total)

    @property
    def budget_events(self) -> float:
        """Bad events the objective allows over the whole window: the events counted so far,
        scaled to the whole window when the data covers only part of it."""
        return self.total / max(self.covered, 1e-9) * (1 - self.objective)

    @property
    def budget_left_events(self) -> float:
        return self.budget_events - (self.total - self.good)

    @property
    def budget_left(self) -> float:
        return budget_left(self.good, self.total, self.objective, self.covered)

    def to_dict(self) -> dict:
        return {
            "slo": self.slo,
            "cluster": self.cluster,
            "sli": self.indicator,
            "objective": self.objective,
            "window": self.window,
            "description": self.description,
            "current": _round(self.current),
            "good": self.good,
            "total": self.total,
            "budget_left": _round(self.budget_left) if self.total > 0 else None,
            "budget_left_events": round(self.budget_left_events, 3),
            "burn": {k: _round(v) for k, v in self.burn.items()},
            "events": self.events,
            "sli_by_window": {k: _round(v) for k, v in self.sli_by_window.items()},
            "runs_out_at": self.runs_out_at,
            "alerts": self.alerts,
            "covered": round(self.covered, 6),
            "covered_by_window": {k: round(v, 6) for k, v in self.covered_by_window.items()},
            "data_s": self.data_s,
            "now": self.now,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def status_of(
    name: str,
    cluster: str,
    indicator: str,
    objective: float,
    window: Window,
    description: str,
    now: int,
    alert_windows: list[Window],
    last_hour: Window,
) -> SloStatus:
    """An SLO's status at `now` (ms) from its filled windows: the SLO window, the alert windows
    and the last hour (which dates the budget's end)."""
    status = SloStatus(name, cluster, indicator, objective, window.name, description, now, window.good, window.total)
    status.covered, status.data_s = window.covered, window.covered_s
    for w in alert_windows:
        status.burn[w.name] = w.burn(objective)
        status.events[w.name] = w.total
        status.sli_by_window[w.name] = ratio(w.good, w.total)
        status.covered_by_window[w.name] = w.covered
    status.runs_out_at = runs_out_at(status, last_hour, now)
    return status


def runs_out_at(status: SloStatus, last_hour: Window, now: int) -> int | None:
    """When the budget left is spent if bad events keep coming as in the last hour."""
    if status.budget_left_events <= 0:
        return now if status.total > 0 else None
    rate = last_hour.bad / last_hour.seconds  # bad events a second
    return None if rate <= 0 else now + int(status.budget_left_events / rate * 1000)


def series_points(
    minutes: list[tuple[int, float, float]],
    first: int,
    from_s: int,
    to_s: int,
    step_s: int,
    slo_window_s: float,
    widths: dict[str, float],
    objective: float,
) -> list[dict]:
    """The SLO at each step from `from_s` to `to_s` (unix seconds): the SLI over its window
    and over the step just ended, the budget left and the burn per window of `widths`, from
    (minute, good, counted) rows starting at `first` (running sums, so any step costs the same)."""
    count = max((to_s - first) // 60 + 1, 1)
    good, counted = np.zeros(count + 1), np.zeros(count + 1)  # [i]: minutes before first + i*60
    for minute, good_n, counted_n in minutes:
        good[(minute - first) // 60 + 1] += good_n
        counted[(minute - first) // 60 + 1] += counted_n
    good, counted = np.cumsum(good), np.cumsum(counted)
    seen = [minute for minute, _, counted_n in minutes if counted_n > 0]
    data_first = min(seen) if seen else None

    def covered(t: int, width: float) -> float:
        """The share of the window of `width` ending at `t` the data covers (as `evaluate`)."""
        if data_first is None or data_first < t - width + 60:
            return 1.0
        return min(max((t - data_first) / width, 0.0), 1.0)

    def window(t: int, width: float) -> tuple[float, float]:
        hi = min((t - first + 59) // 60, count)  # minutes starting before t
        lo = min(max((int(t - width) - first + 59) // 60, 0), hi)  # ... and at or after t - width
        return float(good[hi] - good[lo]), float(counted[hi] - counted[lo])

    points = []
    for t in range(from_s, to_s + 1, step_s):
        good_w, counted_w = window(t, slo_window_s)
        burn = {name: _round(burn_rate(*window(t, width), objective)) for name, width in widths.items()}
        good_s, counted_s = window(t, step_s)
        points.append(
            {
                "at": t,
                "sli": _round(ratio(good_w, counted_w)),
                "counted": counted_w,
                "step_sli": _round(ratio(good_s, counted_s)),
                "step_counted": counted_s,
                "budget_left": (
                    round(budget_left(good_w, counted_w, objective, covered(t, slo_window_s)), 6)
                    if counted_w > 0
                    else None
                ),
                "covered": round(covered(t, slo_window_s), 6),
                "burn": burn,
            }
        )
    return points
