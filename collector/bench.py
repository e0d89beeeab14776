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
import asyncio, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
path, port = sys.argv[1], int(sys.argv[2])
served = False
async def pods(request):
    global served
    if request.query_params.get("watch") not in ("true", "1"):
        return Response(b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}',
                        media_type="application/json")
    async def body():  # one HTTP chunk per event, as the apiserver writes a watch
        with open(path, "rb") as f:
            for line in f:
                yield line
    async def quiet():  # a later watch (the collector resuming): nothing new happens
        await asyncio.sleep(3600)
        yield b""
    stream, served = (quiet() if served else body()), True
    return StreamingResponse(stream, media_type="application/json")
async def version(request):
    return Response(b'{"major":"1","minor":"31"}', media_type="application/json")
uvicorn.run(Starlette(routes=[Route("/api/v1/pods", pods), Route("/version", version)]),
            host="127.0.0.1", port=port, log_level="warning")
"""


def render_stream(path: str, events: int, seed: int = 1) -> int:
    """Pod watch events as the apiserver serves them (a realistic mix), one per line."""
    engine = Engine(load_profile("default"), seed=seed, nodes=200, pods_per_minute=1200)
    written = 0
    with open(path, "wb") as out:
        while written < events:
            start = len(engine.log)
            engine.advance(engine.now_ms + 60_000)
            for _, resource, kind, obj in engine.log[start:]:
                if resource == "pods" and written < events:
                    out.write(orjson.dumps({"type": kind, "object": as_served(obj)}) + b"\n")
                    written += 1
            engine.compact()
    return written


def as_served(pod: dict) -> dict:
    """A simulated pod with what a real apiserver adds: defaulted spec fields, the service
    account token volume, and managedFields (a real pod is ~4 KB, as in the kind fixture)."""
    meta, spec = pod["metadata"], pod["spec"]
    mount = {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
             "readOnly": True}
    containers = [{**c, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                   "volumeMounts": [mount]} for c in spec.get("containers", [])]
    spec = {**spec, "containers": containers, "dnsPolicy": "ClusterFirst", "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority", "securityContext": {}, "serviceAccount": "default",
            "serviceAccountName": "default", "tolerations": _TOLERATIONS, "volumes": _TOKEN_VOLUME}
    return {**pod, "metadata": {**meta, "generateName": meta["name"][:-5], "managedFields": _managed_fields(meta)},
            "spec": spec}


_TOLERATIONS = [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                 "tolerationSeconds": 300} for taint in ("not-ready", "unreachable")]
_TOKEN_VOLUME = [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                   "fieldPath": "metadata.namespace"}}]}}]}}]


def _managed_fields(meta: dict) -> list[dict]:
    condition = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
    owner = {f'k:{{"uid":"{o.get("uid", "")}"}}': {".": {}, "f:apiVersion": {}, "f:blockOwnerDeletion": {},
                                                   "f:controller": {}, "f:kind": {}, "f:name": {}, "f:uid": {}}
             for o in meta.get("ownerReferences", [])}
    return [
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
         "time": meta["creationTimestamp"], "fieldsType": "FieldsV1", "fieldsV1": {
             "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, **{f"f:{k}": {} for k in meta.get("labels", {})}},
                            "f:ownerReferences": {".": {}, **owner}},
             "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:imagePullPolicy": {},
                                                               "f:name": {}, "f:resources": {}}},
                        "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                        "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": meta["creationTimestamp"],
         "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {
             "f:conditions": {f'k:{{"type":"{t}"}}': condition
                              for t in ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready")},
             "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
             "f:podIPs": {}, "f:startTime": {}}}},
    ]


def run_ingest_bench(events: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="podslo-ingest-") as tmp:
        stream = os.path.join(tmp, "watch.jsonl")
        rendered = render_stream(stream, events)
        size = os.path.getsize(stream)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", _SERVER, stream, str(port)])
        try:
            _wait_up(port)
            store = Store(f"chdb://{tmp}/db")
            collector = Collector(store, KubeSource(server=f"http://127.0.0.1:{port}"), "bench", ("pods",),
                                  batch_rows=20_000, flush_s=1.0, watch_timeout_s=(3600, 3600))
            tune_gc_for_ingest()  # as `podslo collect` does
            main0, cpu0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
            collector.start()
            while collector.stats.received["pods"] < rendered:
                time.sleep(0.05)
            running = collector.shutdown()
            if running:  # their CPU would be missing from the figure
                raise RuntimeError(f"collector threads did not stop: {running}")
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            # the collector's own CPU: its threads and the main thread's final flush. The
            # rest is the embedded ClickHouse's own threads (parts, merges): work a ClickHouse
            # server does in its own process. What chDB does inside an insert call runs on the
            # calling thread and stays in the collector's figure (conservative).
            own = collector.stats.thread_cpu_s + time.thread_time() - main0
            stored = store.scalar("SELECT count() FROM raw_pods FINAL")
            store.close()  # before its directory goes
        finally:
            server.kill()  # not terminate: uvicorn would wait for the idle resumed watch to end
            server.wait(10)
    return {"events": rendered, "bytes_per_event": round(size / rendered),
            "stored_rows": stored, "wall_s": round(wall, 2), "cpu_s": round(own, 2),
            "store_cpu_s": round(cpu - own, 2), "process_cpu_s": round(cpu, 2),
            "events_per_s": round(rendered / own), "events_per_process_cpu_s": round(rendered / cpu),
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
