"""Charts (Altair) of the API's answers, shared by the board and the weekly report."""

from __future__ import annotations

import altair as alt
import pandas as pd

PHASE_ORDER = ["scheduling", "sandbox", "image_pull", "container_start", "readiness"]


def _time(seconds) -> pd.Series:
    return pd.to_datetime(seconds, unit="s", utc=True)


TIME_FORMAT = "%m-%d %H:%M"  # one 24-hour UTC format on every chart, whatever the viewer's zone


UTC_MINUTES = "utcyearmonthdatehoursminutes(at):T"  # read and shown in UTC, not the viewer's zone


def time_x(title: str = "time (UTC)") -> alt.X:
    return alt.X(UTC_MINUTES, title=title, axis=alt.Axis(format=TIME_FORMAT, labelAngle=0))


def time_tip(title: str = "until") -> alt.Tooltip:
    return alt.Tooltip(UTC_MINUTES, title=f"{title} (UTC)", format="%Y-%m-%d %H:%M")


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
            x=time_x(),
            y=alt.Y("value:Q", title=f"{what} (%)", scale=alt.Scale(zero=False)),
            tooltip=[
                time_tip(),
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


TOP_REASONS = 6  # a legend's reasons; the rest are "other"
FAULTS = (("system", "the platform's fault", "tableau10"), ("user", "the workload's own fault", "set2"))


def reasons_stacked(rows: list[dict], step_s: int, width: int | None = None) -> alt.VConcatChart:
    """Pods not delivered per interval, stacked by reason: one panel per whose fault, each with
    its own legend of its top reasons (the rest as "other") in a palette that does not repeat."""
    frame = pd.DataFrame(rows)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    panels = []
    for attribution, title, scheme in FAULTS:
        part = frame[frame["attribution"] == attribution]
        if part.empty:
            continue
        top = part.groupby("reason")["pods"].sum().sort_values(ascending=False).index[:TOP_REASONS]
        part = part.assign(reason=part["reason"].where(part["reason"].isin(top), "other"))
        order = [*top, "other"]
        panels.append(
            alt.Chart(part, title=title)
            .mark_bar(width={"band": 0.9})
            .encode(
                x=time_x(f"interval start (UTC, {step_s // 60} min bins)"),
                y=alt.Y("sum(pods):Q", title="pods not delivered"),
                color=alt.Color(
                    "reason:N", sort=order, scale=alt.Scale(scheme=scheme, domain=order), legend=alt.Legend(title=None)
                ),
                tooltip=[time_tip("from"), "reason:N", alt.Tooltip("sum(pods):Q", title="pods")],
            )
            .properties(height=200, **({"width": width} if width else {}))
        )
    return alt.vconcat(*panels).resolve_scale(color="independent")


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


def stuck_phase(verdict: dict) -> tuple[str, float, float] | None:
    """For a pod the platform or its user failed before delivery: the phase it never finished,
    from when (seconds since creation) until its deadline; None otherwise."""
    if verdict["outcome"] not in ("failed", "timeout") or verdict.get("delivery_s") is not None:
        return None
    at, last = 0.0, -1
    for i, phase in enumerate(PHASE_ORDER):
        seconds = verdict["phases"].get(f"{phase}_s")
        if seconds is not None:
            at, last = at + seconds, i
    if last + 1 >= len(PHASE_ORDER):
        return None
    return PHASE_ORDER[last + 1], at, max(at, float(verdict["deadline_s"]))


def phase_gantt(verdict: dict) -> alt.Chart | None:
    """One pod's phases one after another, in seconds from its creation, and for a failed pod the
    phase it failed in, in red up to its deadline (None when nothing was measured)."""
    rows, at = [], 0.0
    for phase in PHASE_ORDER:
        seconds = verdict["phases"].get(f"{phase}_s")
        if seconds is None:
            continue
        rows.append({"phase": phase, "from_s": at, "to_s": at + seconds, "seconds": round(seconds, 3), "failed": False})
        at += seconds
    stuck = stuck_phase(verdict)
    if stuck:
        phase, start, end = stuck
        rows.append({"phase": phase, "from_s": start, "to_s": end, "seconds": round(end - start, 3), "failed": True})
    if not rows:
        return None
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(
            y=alt.Y("phase:N", sort=PHASE_ORDER, title=None),
            x=alt.X("from_s:Q", title="seconds since the pod was created"),
            x2="to_s:Q",
            color=alt.condition("datum.failed", alt.value("#d62728"), alt.value("#1f77b4")),
            tooltip=[
                "phase:N",
                alt.Tooltip("seconds:Q", title="seconds"),
                alt.Tooltip("failed:N", title="failed here"),
            ],
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
            x=time_x(),
            y=alt.Y("value:Q", title=f"{what} (%)", scale=alt.Scale(domainMin=0), axis=alt.Axis(format=".1f")),
            tooltip=[time_tip(), alt.Tooltip("value:Q", title="%", format=".2f")],
        )
        .properties(height=220)
    )


def count_bars(rows: list[dict], category: str, value: str, title: str, color: str = "#d62728") -> alt.Chart:
    """Horizontal bars of counts, the largest first: whole-number ticks, labels shown whole,
    a bar per category however few there are."""
    frame = pd.DataFrame(rows).groupby(category, as_index=False)[value].sum()
    return (
        alt.Chart(frame)
        .mark_bar(color=color, size=22)
        .encode(
            y=alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=0)),
            x=alt.X(f"{value}:Q", title=title, axis=alt.Axis(tickMinStep=1, format="d")),
            tooltip=[f"{category}:N", f"{value}:Q"],
        )
        .properties(height=alt.Step(32))
    )


def budget_burn_down(points: list[dict]) -> alt.LayerChart:
    """The error budget left over time, in percent (below 0: overspent), with the zero line."""
    known = [p for p in points if p["budget_left"] is not None]  # no figure before the data
    frame = pd.DataFrame({"at": _time([p["at"] for p in known]), "value": [100 * p["budget_left"] for p in known]})
    line = (
        alt.Chart(frame)
        .mark_area(line=True, point=True, opacity=0.3, color="#1f77b4")
        .encode(
            x=time_x(),
            y=alt.Y("value:Q", title="error budget left (%)", scale=alt.Scale(domainMax=100)),
            tooltip=[time_tip("at"), alt.Tooltip("value:Q", title="% left", format=".1f")],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#d62728").encode(y="y:Q")
    return (line + zero).properties(height=240)
