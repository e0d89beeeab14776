"""The SLO arithmetic without a store: hand-computed windows (Pyrra's and Sloth's habit)."""

from __future__ import annotations

import pytest

from analyzer.slo.budget import SloStatus, Window, budget_left, burn_rate, ratio, runs_out_at, series_points, status_of


@pytest.mark.parametrize(
    ("good", "total", "objective", "burn", "left"),
    [
        (990, 1000, 0.99, 1.0, 0.0),  # 1 % bad against a 1 % budget: spent exactly
        (1000, 1000, 0.99, 0.0, 1.0),  # nothing bad
        (856, 1000, 0.99, 14.4, -13.4),  # the page factor
        (995, 1000, 0.99, 0.5, 0.5),  # half the budget
        (0, 0, 0.99, None, 1.0),  # no events: no burn, and the budget is untouched
        (95, 100, 0.95, 1.0, 0.0),
    ],
)
def test_burn_and_budget(good, total, objective, burn, left):
    assert burn_rate(good, total, objective) == (None if burn is None else pytest.approx(burn))
    assert budget_left(good, total, objective) == pytest.approx(left)


def test_ratio_has_no_value_without_events():
    assert ratio(0, 0) is None and ratio(3, 4) == 0.75


def test_the_budget_runs_out_at_the_last_hours_pace():
    now = 1_000_000_000
    # 10,000 events, 50 bad, 99 %: 100 allowed, 50 left; the last hour had 36 bad -> 0.01 a second
    status = SloStatus("s", "c", "delivery", 0.99, "28d", "", now, good=9950, total=10000)
    assert runs_out_at(status, Window("1h", 3600, good=964, total=1000), now) == now + 5_000_000
    assert runs_out_at(status, Window("1h", 3600, good=1000, total=1000), now) is None  # no bad events lately
    spent = SloStatus("s", "c", "delivery", 0.99, "28d", "", now, good=9800, total=10000)
    assert runs_out_at(spent, Window("1h", 3600), now) == now  # already spent


def test_a_status_carries_each_alert_windows_burn_and_events():
    windows = [Window("1h", 3600, good=90, total=100), Window("5m", 300, good=0, total=0)]
    status = status_of(
        "s", "c", "delivery", 0.99, Window("28d", 28 * 86400, 990, 1000), "", 0, windows, Window("1h", 3600, 90, 100)
    )
    assert status.burn == {"1h": pytest.approx(10.0), "5m": None}
    assert status.events == {"1h": 100, "5m": 0} and status.sli_by_window == {"1h": 0.9, "5m": None}
    assert status.current == 0.99 and status.budget_left == pytest.approx(0.0)


def test_series_sums_whole_minutes_in_each_window():
    first = 0
    # minute 0: 10 good of 10; minute 60: 5 good of 10; minute 120: nothing
    minutes = [(0, 10, 10), (60, 5, 10)]
    points = series_points(minutes, first, 60, 180, 60, slo_window_s=120, widths={"1m": 60}, objective=0.9)
    assert [p["at"] for p in points] == [60, 120, 180]
    assert [p["sli"] for p in points] == [1.0, 0.75, 0.5]  # the 2-minute window slides
    assert [p["step_sli"] for p in points] == [1.0, 0.5, None]
    assert [p["burn"]["1m"] for p in points] == [0.0, 5.0, None]  # 50 % bad against 10 % allowed
    assert [p["budget_left"] for p in points] == [1.0, pytest.approx(-1.5), pytest.approx(-4.0)]


def test_no_data_is_no_budget_figure():
    points = series_points([(600, 9, 10)], 0, 60, 660, 600, slo_window_s=120, widths={"1m": 60}, objective=0.9)
    assert [p["budget_left"] for p in points] == [None, pytest.approx(0.5)]  # nothing counted: not a full budget
    assert [p["covered"] for p in points] == [0.0, 0.5]  # a minute of data in a 2-minute window: half spent
