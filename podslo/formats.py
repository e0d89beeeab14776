"""Figures as people read them, the same on the board, in the report and in the demo."""

from __future__ import annotations


def pct(share: float | None, missing: str = "no data") -> str:
    """A share (0..1) in percent, to two decimals."""
    return missing if share is None else f"{100 * share:.2f} %"
