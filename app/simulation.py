"""An in-process simulated cluster for `serve --simulate` and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

# A simulation that runs for days stays in bounded memory: its pods live an hour on average
# (a steady population), and it keeps the watch history its collector resumes from (it keeps
# up, in-process; one that falls behind relists) and the truth of its newest pods (the demo's
# summary compares with it).
WATCH_HISTORY = 20_000
TRUTH_KEPT = 50_000
POD_LIFETIME_S = 3600  # mean: a steady population of pods-per-minute x 60 (see simulator.engine)


@dataclass
class Simulation:
    """An in-process simulated cluster (`serve --simulate`)."""

    cluster: str = "sim"
    profile: str = "default"
    speed: float = 1.0
    seed: int = 1
    nodes: int = 20
    pods_per_minute: float = 60.0
    for_s: float | None = None  # cluster seconds after which its clock stops
    engine: object = None  # once started
    clock: object = None

    def start(self):
        """Serve it over the Kubernetes API with its clock running; returns (url, stop)."""
        from simulator.engine import Engine
        from simulator.profile import load_profile
        from simulator.server import Clock, serve_in_thread

        engine = Engine(
            load_profile(self.profile),
            seed=self.seed,
            nodes=self.nodes,
            pods_per_minute=self.pods_per_minute,
            start=clock_start(self.speed),
            retain=WATCH_HISTORY,
            truth_kept=TRUTH_KEPT,
            lifetime_s=POD_LIFETIME_S,
        )
        server, thread, url = serve_in_thread(engine)
        self.engine = engine
        clock = self.clock = Clock(engine, self.speed, self.for_s)
        clock.thread.start()

        def stop() -> None:
            clock.stop.set()
            server.should_exit = True
            thread.join(5)

        return url, stop


def clock_start(speed: float):
    """Where a simulated cluster's clock starts: now, or, faster than wall time, in the past,
    so its timestamps never run ahead of the receive times (which bound "now": analyzer.lifecycle.facts)."""
    from datetime import datetime

    from simulator.engine import START

    return datetime.now(UTC).replace(microsecond=0) if speed <= 1 else START
