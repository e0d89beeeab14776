"""`podslo bench ingest`: the real collector path (HTTP watch -> rows -> store) against a
pre-rendered watch stream served by a separate process over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import orjson

from collector.collect import Collector, tune_gc_for_ingest
from collector.source import KubeSource
from podslo.store import Store
from podslo.webserver import free_port
from simulator.engine import Engine
from simulator.profile import load_profile

# The stream server: lists are empty at resourceVersion 1; the pod watch is the file.
_SERVER = r"""
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
path, port = sys.argv[1], int(sys.argv[2])
async def pods(request):
    if request.query_params.get("watch") not in ("true", "1"):
        return Response(b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}',
                        media_type="application/json")
    def body():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
    return StreamingResponse(body(), media_type="application/json")
async def version(request):
    return Response(b'{"major":"1","minor":"31"}', media_type="application/json")
uvicorn.run(Starlette(routes=[Route("/api/v1/pods", pods), Route("/version", version)]),
            host="127.0.0.1", port=port, log_level="warning")
"""


def render_stream(path: str, events: int, seed: int = 1) -> int:
    """Pod watch events as the simulator serves them (a realistic mix), one per line."""
    engine = Engine(load_profile("default"), seed=seed, nodes=200, pods_per_minute=1200)
    written = 0
    with open(path, "wb") as out:
        while written < events:
            start = len(engine.log)
            engine.advance(engine.now_ms + 60_000)
            for _, resource, kind, obj in engine.log[start:]:
                if resource == "pods" and written < events:
                    out.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")
                    written += 1
            engine.compact()
    return written


def run_ingest_bench(events: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="podslo-ingest-") as tmp:
        stream = os.path.join(tmp, "watch.jsonl")
        rendered = render_stream(stream, events)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", _SERVER, stream, str(port)])
        try:
            _wait_up(port)
            store = Store(f"chdb://{tmp}/db")
            collector = Collector(store, KubeSource(server=f"http://127.0.0.1:{port}"), "bench", ("pods",),
                                  batch_rows=20_000, flush_s=1.0, watch_timeout_s=(3600, 3600))
            tune_gc_for_ingest()  # as `podslo collect` does
            cpu0, wall0 = time.process_time(), time.perf_counter()
            collector.start()
            while collector.stats.received["pods"] < rendered:
                time.sleep(0.05)
            collector.shutdown()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            stored = store.scalar("SELECT count() FROM raw_pods FINAL")
        finally:
            server.terminate()
            server.wait(10)
    return {"events": rendered, "stored_rows": stored,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "events_per_s": round(rendered / cpu),
            "events_per_wall_s": round(rendered / wall)}


def _wait_up(port: int) -> None:
    import urllib3
    http = urllib3.PoolManager()
    for _ in range(200):
        try:
            if http.request("GET", f"http://127.0.0.1:{port}/version", timeout=1, retries=False).status == 200:
                return
        except urllib3.exceptions.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("the stream server did not start")
