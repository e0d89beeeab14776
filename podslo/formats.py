"""Figures as people read them, the same on the board, in the report and in the demo."""

from __future__ import annotations


def pct(share: float | None, missing: str = "no data") -> str:
    """A share (0..1) in percent, to two decimals."""
    return missing if share is None else f"{100 * share:.2f} %"


def duration(seconds: float | None, digits: int = 1) -> str:
    """Seconds as a person reads them: `12.5 s` up to two minutes, then `4.2 min`, then `3.1 h`;
    `-` for none. `digits` sets the seconds' decimals (a trace shows milliseconds)."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.{digits}f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def kubelet_check(check: dict | None, missing: str = "-") -> str:
    """A node's kubelet cross-check of its pods' startup figures (`missing` without kubelet logs)."""
    if not isinstance(check, dict):
        return missing
    agree = "agrees" if not check["disagreeing"] else f"{check['disagreeing']} differ"
    return f"{check['pods']} pods, {agree} (median {check['median_diff_s']:+.1f}s)"
