"""`podslo simulate`: serve the simulated cluster, or run it to a time and record it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO

import orjson

from simulator.engine import Engine
from simulator.objects import ts


def recorder(out: IO[bytes]):
    """A listener writing each applied change as contract 1 (with its simulated receive time)."""

    def write(at: int, event: dict) -> None:
        stamp = datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.write(orjson.dumps({**event, "time": stamp}) + b"\n")

    return write


def run_until(engine: Engine, seconds: float, step_s: float = 60.0) -> int:
    """Play `seconds` of cluster time as fast as the machine allows; returns changes applied."""
    applied, end = 0, engine.now_ms + int(seconds * 1000)
    while engine.now_ms < end:
        applied += engine.advance(min(end, engine.now_ms + int(step_s * 1000)))
    return applied


def recording(profile: str, seconds: float, seed: int, nodes: int, pods_per_minute: float) -> tuple[Engine, bytes]:
    """A simulated cluster run for `seconds`, and everything it served (as `podslo replay` reads)."""
    import io

    from simulator.profile import load_profile

    engine = Engine(load_profile(profile), seed=seed, nodes=nodes, pods_per_minute=pods_per_minute)
    out = io.BytesIO()
    engine.listeners.append(recorder(out))
    run_until(engine, seconds)
    return engine, out.getvalue()


def write_truth(engine: Engine, out: IO[bytes]) -> int:
    """Truth as JSON lines: one per pod, then one per node with its injected faults."""
    truth = engine.truth()
    for pod in truth["pods"]:
        out.write(orjson.dumps({"kind": "pod", **pod}) + b"\n")
    for node in truth["nodes"]:
        faults = [{**f, "start": _iso(f["start"]), "end": _iso(f["end"])} for f in node["faults"]]
        out.write(orjson.dumps({"kind": "node", "name": node["name"], "faults": faults}) + b"\n")
    return len(truth["pods"])


def _iso(value: int | None) -> str | None:
    return None if value is None else ts(datetime.fromtimestamp(value / 1000, UTC))
