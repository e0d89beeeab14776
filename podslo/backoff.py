"""Exponential backoff: the one policy behind every retry in podslo (the collector's watches
and relists, webhook delivery, the weekly report's sends)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Wait `first_s` after the first failure in a row, doubling each time up to `cap_s`.

    jitter spreads retries of many clients apart: "none"; "equal" (x0.5 to x1.5 of the wait);
    "full" (anywhere from `floor_s` up to the wait, as client-go's reflector backs off)."""

    first_s: float
    cap_s: float = float("inf")
    jitter: str = "none"
    floor_s: float = 0.0

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after the `attempt`-th failure in a row (1, 2, ...)."""
        wait = min(self.cap_s, self.first_s * 2 ** max(attempt - 1, 0))
        rng = rng or random
        if self.jitter == "equal":
            return wait * rng.uniform(0.5, 1.5)
        if self.jitter == "full":
            return rng.uniform(self.floor_s, wait)
        return wait


# Notifications podslo owes (webhook posts, the weekly report's mail): 2 s doubling to 60 s, +-50%.
DELIVERY = Backoff(2.0, 60.0, "equal")
