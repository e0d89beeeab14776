"""Black-box probes: the service online rate seen as a user sees it.

Every `every_s` a small pod is created in the probe namespace, followed to Ready,
deleted, and followed until it is gone; each probe's outcome and timings are stored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque

import urllib3
from kubernetes.client.rest import ApiException

from collector.source import KubeSource
from podslo.schema import PROBE_RESULTS
from podslo.store import Store
from podslo.timeutil import now_ms, opt_ms

log = logging.getLogger(__name__)


class Prober:
    def __init__(
        self,
        store: Store,
        source: KubeSource,
        cluster: str,
        namespace: str = "podslo-probes",
        every_s: float = 60,
        ready_timeout_s: int = 120,
        gone_timeout_s: int = 120,
        image: str = "registry.k8s.io/pause:3.10",
    ):
        self.store, self.source, self.cluster, self.namespace = store, source, cluster, namespace
        self.every_s, self.ready_timeout_s, self.gone_timeout_s, self.image = (
            every_s,
            ready_timeout_s,
            gone_timeout_s,
            image,
        )
        self.stop = threading.Event()
        self.results: deque[dict] = deque(maxlen=100)  # the latest, for a person or a test

    def probe_once(self) -> None:
        self.record(self.probe())

    def record(self, result: dict) -> None:
        self.results.append(result)
        self.store.insert("probe_results", [[self.cluster, *[result[c] for c in PROBE_RESULTS.columns[1:]]]])

    def probe(self) -> dict:
        name = f"podslo-probe-{uuid.uuid4().hex[:10]}"
        started = now_ms()
        result = {
            "probe": name,
            "started_at": started,
            "outcome": "ok",
            "error": "",
            "scheduling_s": None,
            "ready_s": None,
            "delete_s": None,
            "total_s": None,
            "node": "",
        }
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "podslo-probe"}},
            "spec": {
                "containers": [
                    {"name": "probe", "image": self.image, "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}}}
                ],
                "terminationGracePeriodSeconds": 1,
                "restartPolicy": "Always",
            },
        }
        try:
            created = self.source.create_pod(self.namespace, body)
            rv = created["metadata"]["resourceVersion"]
            # the cluster's clock, as every SLI is judged by (DESIGN.md, Time)
            result["started_at"] = opt_ms(created["metadata"].get("creationTimestamp")) or started
            ready, rv = self._until(name, rv, self.ready_timeout_s, _is_ready)
            if ready is None:
                result["outcome"] = "timeout"
            else:
                result.update(_timings(ready))
            deleting = time.monotonic()
            self.source.delete_pod(self.namespace, name, grace_s=1)
            gone, _ = self._until(name, rv, self.gone_timeout_s, lambda event: event["type"] == "DELETED")
            if gone is None:
                result["outcome"] = "timeout" if result["outcome"] == "ok" else result["outcome"]
                result["error"] = "still there after delete"
            else:
                result["delete_s"] = round(time.monotonic() - deleting, 3)
            result["total_s"] = round((now_ms() - started) / 1000, 3)
        except (ApiException, urllib3.exceptions.HTTPError, OSError, KeyError, ValueError) as exc:
            result.update(outcome="error", error=f"{type(exc).__name__}: {exc}"[:500])
        return result

    def _until(self, name: str, rv: str, timeout_s: int, done) -> tuple[dict | None, str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stop.is_set():
            for event in self.source.watch_pod(self.namespace, name, rv, max(1, int(deadline - time.monotonic()))):
                if event.get("type") == "ERROR" or not isinstance(event.get("object"), dict):
                    rv = ""  # the watch failed (a 410 Gone Status, say): watch again from now
                    break
                rv = event["object"].get("metadata", {}).get("resourceVersion", rv)
                if done(event):
                    return event, rv
        return None, rv


def _is_ready(event: dict) -> bool:
    conditions = (event.get("object") or {}).get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _timings(event: dict) -> dict:
    """Ready and scheduling times from the pod's own conditions (the cluster's clock)."""
    pod = event["object"]
    created = opt_ms(pod["metadata"].get("creationTimestamp"))
    conditions = {c.get("type"): c for c in pod.get("status", {}).get("conditions") or []}
    scheduled = opt_ms((conditions.get("PodScheduled") or {}).get("lastTransitionTime"))
    ready = opt_ms((conditions.get("Ready") or {}).get("lastTransitionTime"))
    seconds = lambda a, b: None if a is None or b is None else round(max(a - b, 0) / 1000, 3)  # noqa: E731
    return {
        "scheduling_s": seconds(scheduled, created),
        "ready_s": seconds(ready, created),
        "node": pod.get("spec", {}).get("nodeName", ""),
    }
