"""`podslo bench soak --minutes M`: `podslo serve --simulate` at 30x for M minutes, its RSS
each minute; flat after warm-up is the goal (growth over the last half under 10 %)."""

from __future__ import annotations

import tempfile
import time

from bench.serve_process import ServeProcess


def run_soak(minutes: float = 60, speed: float = 30, say=print) -> dict:
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="podslo-bench-soak-") as tmp:
        serve = ServeProcess(tmp, "--speed", str(speed))
        try:
            serve.wait_ready()
            started = time.monotonic()
            for minute in range(1, int(minutes) + 1):
                time.sleep(max(0.0, started + minute * 60 - time.monotonic()))
                if serve.process.poll() is not None:
                    raise RuntimeError(f"serve ended after {minute - 1} minutes (see {serve.log.name})")
                rss.append(round(serve.rss_mb(), 1))
                say(f"minute {minute}: serve RSS {rss[-1]:.0f} MB")
        finally:
            stop_s = serve.stop()
    half = rss[len(rss) // 2 - 1] if len(rss) >= 2 else rss[0]
    return {
        "minutes": len(rss),
        "speed": speed,
        "rss_mb_by_minute": rss,
        "rss_first_mb": rss[0],
        "rss_last_mb": rss[-1],
        "growth_last_half_pct": round(100 * (rss[-1] - half) / half, 1),
        "sigterm_to_exit_s": round(stop_s, 1),
    }
