"""Exponential backoff: the one policy behind every retry in podslo (the collector's watches
and relists, webhook delivery, the weekly report's sends, a failing loop or cluster), and
the one way a run of failures is logged: once per backoff step."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

log = logging.getLogger(__name__)


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


class FailureLog:
    """Logs a run of failures once per backoff step - the 1st, 2nd, 4th, 8th... in a row, not
    every attempt - and says when it ends."""

    def __init__(self, what: str):
        self.what, self.count = what, 0

    def failed(self, why: str, then: str = "", exc_info: bool = False) -> None:
        self.count += 1
        if self.count & (self.count - 1) == 0:
            log.warning(
                "%s failed (%s)%s%s",
                self.what,
                why,
                then,
                f"; {self.count} times in a row, next said at {2 * self.count}" if self.count > 1 else "",
                exc_info=exc_info,
            )

    def worked(self) -> None:
        if self.count:
            log.warning("%s works again, after %d failure(s)", self.what, self.count)
        self.count = 0
