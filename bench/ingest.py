"""`podslo bench ingest`: the real collector path (HTTP watch -> rows -> store) against a
pre-rendered watch stream served by a separate process over loopback (bench_server)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from operator import itemgetter

import orjson

from bench import ROOT
from bench.watch_server import frame
from collector.collect import Collector, tune_gc_for_ingest
from collector.source import KubeSource
from podslo.store import Store
from podslo.webserver import free_port
from simulator.engine import Engine
from simulator.profile import load_profile


def render_stream(path: str, events: int, seed: int = 1) -> tuple[int, int]:
    """Pod watch events as the apiserver serves them (a realistic mix), each a line in its
    own HTTP chunk; returns (events, bytes of events)."""
    engine = Engine(load_profile("default"), seed=seed, nodes=200, pods_per_minute=1200)
    written = size = 0
    with open(path, "wb") as out:
        while written < events:
            start = len(engine.log)
            engine.advance(engine.now_ms + 60_000)
            for _, resource, kind, obj in engine.log[start:]:
                if resource == "pods" and written < events:
                    event = orjson.dumps({"type": kind, "object": as_served(obj)}) + b"\n"
                    out.write(frame(event))
                    written, size = written + 1, size + len(event)
            engine.compact()
    return written, size


def as_served(pod: dict) -> dict:
    """A simulated pod with what a real apiserver adds: defaulted spec fields, the service
    account token volume, and managedFields (a real pod is ~4 KB, as in the kind fixture)."""
    meta, spec = pod["metadata"], pod["spec"]
    mount = {
        "name": "kube-api-access-x7k2p",
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        "readOnly": True,
    }
    containers = [
        {
            **c,
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": [mount],
        }
        for c in spec.get("containers", [])
    ]
    spec = {
        **spec,
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "tolerations": _TOLERATIONS,
        "volumes": _TOKEN_VOLUME,
    }
    return {
        **pod,
        "metadata": {**meta, "generateName": meta["name"][:-5], "managedFields": _managed_fields(meta)},
        "spec": spec,
    }


_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    for taint in ("not-ready", "unreachable")
]
_TOKEN_VOLUME = [
    {
        "name": "kube-api-access-x7k2p",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }
]


def _managed_fields(meta: dict) -> list[dict]:
    condition = {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}
    owner = {
        f'k:{{"uid":"{o.get("uid", "")}"}}': {
            ".": {},
            "f:apiVersion": {},
            "f:blockOwnerDeletion": {},
            "f:controller": {},
            "f:kind": {},
            "f:name": {},
            "f:uid": {},
        }
        for o in meta.get("ownerReferences", [])
    }
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": meta["creationTimestamp"],
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, **{f"f:{k}": {} for k in meta.get("labels", {})}},
                    "f:ownerReferences": {".": {}, **owner},
                },
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"app"}': {
                            ".": {},
                            "f:image": {},
                            "f:imagePullPolicy": {},
                            "f:name": {},
                            "f:resources": {},
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:enableServiceLinks": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                },
            },
        },
        {
            "manager": "kubelet",
            "operation": "Update",
            "apiVersion": "v1",
            "time": meta["creationTimestamp"],
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": {
                "f:status": {
                    "f:conditions": {
                        f'k:{{"type":"{t}"}}': condition
                        for t in ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready")
                    },
                    "f:containerStatuses": {},
                    "f:hostIP": {},
                    "f:hostIPs": {},
                    "f:phase": {},
                    "f:podIP": {},
                    "f:podIPs": {},
                    "f:startTime": {},
                }
            },
        },
    ]


def run_ingest_bench(events: int, rounds: int = 1) -> dict:
    """The figures of the median round (by events per collector CPU-second), with every
    round's figure: on a shared machine the same run can vary by half.

    Each round runs in a fresh process, as a collector starts: rounds in one process
    measured every second one ~40% slower (the previous store's leftover work)."""
    with tempfile.TemporaryDirectory(prefix="podslo-ingest-") as tmp:
        stream = os.path.join(tmp, "watch.chunked")
        rendered, size = render_stream(stream, events)
        results = [_round_in_a_process(stream, rendered, os.path.join(tmp, f"db{n}")) for n in range(rounds)]
    median = sorted(results, key=itemgetter("events_per_s"))[(rounds - 1) // 2]
    figures = {"events": rendered, "bytes_per_event": round(size / rendered), **median}
    if rounds > 1:
        figures["rounds_events_per_s"] = [r["events_per_s"] for r in results]
    return figures


def _round_in_a_process(stream: str, rendered: int, db: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", stream, str(rendered), db], stdout=subprocess.PIPE, check=True, cwd=ROOT
    )
    return orjson.loads(done.stdout.splitlines()[-1])


def _one_round(stream: str, rendered: int, db: str) -> dict:
    """The stream served once by a fresh server process into a fresh store."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.watch_server", stream, str(port)], cwd=ROOT)
    try:
        _wait_up(port)
        store = Store(f"chdb://{db}")
        collector = Collector(
            store,
            KubeSource(server=f"http://127.0.0.1:{port}"),
            "bench",
            ("pods",),
            batch_rows=20_000,
            flush_s=1.0,
            watch_timeout_s=(3600, 3600),
        )
        tune_gc_for_ingest()  # as `podslo collect` does
        main0, cpu0, wall0 = time.thread_time(), time.process_time(), time.perf_counter()
        collector.start()
        while collector.stats.received["pods"] < rendered:
            time.sleep(0.05)
        running = collector.shutdown()
        if running:  # their CPU would be missing from the figure
            raise RuntimeError(f"collector threads did not stop: {running}")
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        # the collector's own CPU: its threads (reading, decoding, rows, encoding each
        # insert, and the part of chDB's insert that runs on the calling thread: ~1.5 us an
        # event, measured) and the main thread's final flush. The rest is the embedded
        # ClickHouse's own threads (parts, compression, merges), work a ClickHouse server
        # does in its own process.
        own = collector.stats.thread_cpu_s + time.thread_time() - main0
        stored = store.scalar("SELECT count() FROM raw_pods FINAL")
        store.close()  # before its directory goes
    finally:
        server.kill()
        server.wait(10)
    return {
        "stored_rows": stored,
        "wall_s": round(wall, 2),
        "cpu_s": round(own, 2),
        "store_cpu_s": round(cpu - own, 2),
        "process_cpu_s": round(cpu, 2),
        "events_per_s": round(rendered / own),
        "events_per_process_cpu_s": round(rendered / cpu),
        "events_per_wall_s": round(rendered / wall),
    }


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


if __name__ == "__main__":  # one round: STREAM EVENTS DB
    print(orjson.dumps(_one_round(sys.argv[1], int(sys.argv[2]), sys.argv[3])).decode())
