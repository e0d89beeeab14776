"""A stream of many pods drawn from the stories with realistic weights (seeded).

Used by the demo and the verdict benchmark until the full simulator serves a live API.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import IO

import orjson

from simulator.objects import Recorder
from simulator.stories import STORIES, Scene

# Mostly healthy pods; a few percent of each failure family.
WEIGHTS = {"ok_service": 70, "ok_job": 12, "ok_job_app_fails": 2, "ok_after_transient_sandbox_error": 2,
           "cancelled": 2, "stuck_finalizer": 0.3, "stuck_kubelet_not_confirming": 0.2, "stuck_volume_detach": 0.2,
           "stuck_prestop_hang": 0.2, "stuck_unknown": 0.1}
_FAILURES = [n for n in STORIES if n not in WEIGHTS and n not in ("pending", "node_not_ready", "stuck_node_lost")]
WEIGHTS.update({name: 0.4 for name in _FAILURES})
START = datetime(2026, 3, 2, 0, 0, 0, tzinfo=timezone.utc)


def write_mix(out: IO[bytes], pods: int, seed: int = 1, every_s: float = 6.0, chunk: int = 500) -> dict[str, int]:
    """Write `pods` pod stories, one every `every_s` seconds, as JSON lines. Returns story counts."""
    rng = random.Random(seed)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    counts: dict[str, int] = {}
    rec = Recorder()
    scene = Scene(START, nodes=3, rec=rec)
    for i in range(pods):
        story = rng.choices(names, weights)[0]
        counts[story] = counts.get(story, 0) + 1
        t0 = START + timedelta(seconds=i * every_s)
        STORIES[story](scene, f"{story.replace('_', '-')}-{i:07d}", t0)
        if (i + 1) % chunk == 0:
            _flush(rec, out)
    scene.heartbeat(START + timedelta(seconds=pods * every_s + 2400))
    _flush(rec, out)
    return counts


def _flush(rec: Recorder, out: IO[bytes]) -> None:
    """Write what is recorded so far (stories overlap little: they run minutes, start seconds apart)."""
    for item in rec.stream():
        out.write(orjson.dumps(item) + b"\n")
    rec.items.clear()
