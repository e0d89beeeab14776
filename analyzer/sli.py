"""Service-level indicators computed from verdicts."""

from __future__ import annotations

COUNTED = ("success", "failed", "timeout")


def delivery_success_rate(verdicts: list[dict]) -> tuple[int, int]:
    """(delivered, due): delivered on time / (all due - pods failed by the user).

    Pending and cancelled pods are not due; user-attributed failures are left out.
    """
    due = [v for v in verdicts if v["outcome"] in COUNTED and v["attribution"] != "user"]
    return sum(v["outcome"] == "success" for v in due), len(due)
