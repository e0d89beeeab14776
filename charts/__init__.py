"""Charts (Altair) of the API's answers, shared by the board and the weekly report."""

from __future__ import annotations

import altair as alt
import pandas as pd

PHASE_ORDER = ["scheduling", "sandbox", "image_pull", "container_start", "readiness"]


def _time(seconds) -> pd.Series:
    return pd.to_datetime(seconds, unit="s", utc=True)


def sli_over_time(points: list[dict], objective: float, what: str = "success rate") -> alt.LayerChart:
    """Each step's SLI (the share good in that step) against the objective, in percent."""
    frame = pd.DataFrame(
        {
            "at": _time([p["at"] for p in points]),
            "value": [None if p["step_sli"] is None else 100 * p["step_sli"] for p in points],
            "counted": [p["step_counted"] for p in points],
        }
    )
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("at:T", title="time (UTC)"),
            y=alt.Y("value:Q", title=f"{what} (%)", scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("at:T", title="until"),
                alt.Tooltip("value:Q", title="%", format=".2f"),
                alt.Tooltip("counted:Q", title="counted"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"objective": [100 * objective]}))
        .mark_rule(color="#2ca02c", strokeDash=[6, 4])
        .encode(y="objective:Q", tooltip=[alt.Tooltip("objective:Q", title="objective %")])
    )
    return (line + rule).properties(height=260)


def reasons_stacked(rows: list[dict], step_s: int, width: int | None = None) -> alt.FacetChart:
    """Pods not delivered per interval, stacked by reason, one panel per attribution."""
    frame = pd.DataFrame(rows)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return (
        alt.Chart(frame)
        .mark_bar(width={"band": 0.9})
        .encode(
            x=alt.X("at:T", title=f"interval start (UTC, {step_s // 60} min bins)"),
            y=alt.Y("sum(pods):Q", title="pods not delivered"),
            color=alt.Color("reason:N", sort=alt.EncodingSortField("pods", op="sum", order="descending")),
            tooltip=["at:T", "reason:N", "attribution:N", alt.Tooltip("sum(pods):Q", title="pods")],
        )
        .properties(height=220, **({"width": width} if width else {}))
        .facet(row=alt.Row("attribution:N", title="whose fault", sort=["system", "user"]))
    )


def phase_bars(phases: list[dict]) -> alt.Chart:
    """Where a delivered pod's time went: each phase's median and p90, in seconds."""
    frame = pd.DataFrame(
        [
            {"phase": p["phase"], "percentile": q, "seconds": p[f"{q}_s"]}
            for p in phases
            for q in ("p50", "p90")
            if p[f"{q}_s"] is not None
        ]
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("phase:N", sort=PHASE_ORDER, title=None),
            x=alt.X("seconds:Q", title="seconds"),
            yOffset="percentile:N",
            color=alt.Color("percentile:N", title="percentile"),
            tooltip=["phase:N", "percentile:N", alt.Tooltip("seconds:Q", format=".2f")],
        )
        .properties(height=220)
    )


def phase_gantt(verdict: dict) -> alt.Chart | None:
    """One pod's phases one after another, in seconds from its creation (None when none was measured)."""
    rows, at = [], 0.0
    for phase in PHASE_ORDER:
        seconds = verdict["phases"].get(f"{phase}_s")
        if seconds is None:
            continue
        rows.append({"phase": phase, "from_s": at, "to_s": at + seconds, "seconds": round(seconds, 3)})
        at += seconds
    if not rows:
        return None
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            y=alt.Y("phase:N", sort=PHASE_ORDER, title=None),
            x=alt.X("from_s:Q", title="seconds since the pod was created"),
            x2="to_s:Q",
            color=alt.Color("phase:N", legend=None, sort=PHASE_ORDER),
            tooltip=["phase:N", alt.Tooltip("seconds:Q", title="seconds")],
        )
        .properties(height=40 * len(rows) + 40)
    )


def ratio_over_time(points: list[dict], what: str) -> alt.Chart:
    """1 - each step's SLI, in percent (the faulty-node ratio from node time)."""
    frame = pd.DataFrame(
        {
            "at": _time([p["at"] for p in points]),
            "value": [None if p["step_sli"] is None else 100 * (1 - p["step_sli"]) for p in points],
        }
    )
    return (
        alt.Chart(frame)
        .mark_area(line=True, opacity=0.4, color="#d62728")
        .encode(
            x=alt.X("at:T", title="time (UTC)"),
            y=alt.Y("value:Q", title=f"{what} (%)", scale=alt.Scale(domainMin=0), axis=alt.Axis(format=".1f")),
            tooltip=[alt.Tooltip("at:T", title="until"), alt.Tooltip("value:Q", title="%", format=".2f")],
        )
        .properties(height=220)
    )


def count_bars(rows: list[dict], category: str, value: str, title: str, color: str = "#d62728") -> alt.Chart:
    """Horizontal bars, the largest first."""
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar(color=color)
        .encode(
            y=alt.Y(f"{category}:N", sort="-x", title=None),
            x=alt.X(f"{value}:Q", title=title),
            tooltip=[f"{category}:N", f"{value}:Q"],
        )
        .properties(height=max(28 * len(rows), 80))
    )
