"""Supervised background loops: nothing in a long-running podslo process dies unseen.

Each loop runs in its own thread. A body that raises is logged once per backoff step,
counted, and run again after a backoff; a thread that ends anyway shows as dead. Every loop
keeps the time of its last success, and `health()` names each loop whose last success is
older than it allows, which /healthz turns into a 503 (Prometheus's rule manager keeps
`last_evaluation` per group in the same spirit).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from podslo.backoff import Backoff, FailureLog

RESTART = Backoff(1.0, 60.0, "equal")  # a loop whose body raised runs again after this


@dataclass
class LoopState:
    name: str
    every_s: float
    stale_after_s: float
    last_ok: float = field(default_factory=time.monotonic)  # the start counts: a grace period
    failures: int = 0  # in a row
    failed_total: int = 0
    last_error: str = ""
    thread: threading.Thread | None = None

    def stale(self, now: float) -> str | None:
        """Why this loop is not healthy now, or None."""
        if self.thread is not None and not self.thread.is_alive():
            return "its thread has ended"
        quiet = now - self.last_ok
        if quiet > self.stale_after_s:
            error = f"; last error: {self.last_error}" if self.last_error else ""
            return f"no success for {quiet:.0f}s (allowed {self.stale_after_s:.0f}s){error}"
        return None


class Supervisor:
    """Runs named loops until `stop` is set; see the module's doc."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.loops: dict[str, LoopState] = {}
        self.watched: dict[str, object] = {}  # name -> callable: None when fine, else why not

    def every(self, name: str, body, every_s: float, stale_after_s: float | None = None) -> LoopState:
        """Run `body()` every `every_s` seconds (from the start of one run to the next, or at
        once when a run took longer) in its own thread."""
        state = LoopState(name, every_s, stale_after_s or max(120.0, 10 * every_s))
        state.thread = threading.Thread(target=self._run, args=(state, body), name=name, daemon=True)
        self.loops[name] = state
        state.thread.start()
        return state

    def watch(self, name: str, check) -> None:
        """Something that runs its own threads (a collector): `check()` says why it is unwell, or None."""
        self.watched[name] = check

    def _run(self, state: LoopState, body) -> None:
        failures = FailureLog(f"{state.name} loop")
        while not self.stop.is_set():
            begun = time.monotonic()
            try:
                body()
            except Exception as exc:  # a loop never dies of one bad run: it is counted, said and run again
                state.failures += 1
                state.failed_total += 1
                state.last_error = f"{type(exc).__name__}: {exc}"[:300]
                wait = RESTART.delay_s(state.failures)
                failures.failed(state.last_error, f"; again in {wait:.0f}s", exc_info=True)
                self.stop.wait(wait)
                continue
            state.last_ok = time.monotonic()
            state.failures, state.last_error = 0, ""
            failures.worked()
            self.stop.wait(max(0.0, state.every_s - (state.last_ok - begun)))

    def health(self) -> dict:
        """{"status": "ok" | "unhealthy", "unhealthy": {name: why}, "loops": {name: figures}}"""
        now = time.monotonic()
        unwell = {name: why for name, state in self.loops.items() if (why := state.stale(now))}
        unwell |= {name: why for name, check in self.watched.items() if (why := check())}
        loops = {
            name: {
                "last_success_s_ago": round(now - s.last_ok, 1),
                "failures_in_a_row": s.failures,
                "failures_total": s.failed_total,
            }
            for name, s in self.loops.items()
        }
        return {"status": "unhealthy" if unwell else "ok", "unhealthy": unwell, "loops": loops}

    def join(self, timeout_s: float) -> None:
        """Wait for the loops to end (after `stop`), at most `timeout_s` for all together."""
        deadline = time.monotonic() + timeout_s
        for state in self.loops.values():
            if state.thread is not None:
                state.thread.join(max(0.0, deadline - time.monotonic()))
