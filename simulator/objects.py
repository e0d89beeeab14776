"""Kubernetes objects shaped as the real apiserver, scheduler and kubelet shape them.

A `PodStory` plays one pod's life forward in time and records every object the API
would have served (pod snapshots, Events) as watch events. The truth of what was
injected is kept by the caller, never in the objects.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta


def ts(moment: datetime, micros: bool = False) -> str:
    if micros:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stable_uid(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class Recorder:
    """Collects (time, watch event) pairs and hands out increasing resourceVersions."""

    def __init__(self, rv_start: int = 1000):
        self.rv = rv_start
        self.items: list[tuple[datetime, int, dict]] = []

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def emit(self, at: datetime, event_type: str, obj: dict) -> None:
        self.items.append((at, len(self.items), {"type": event_type, "object": obj}))

    def stream(self) -> list[dict]:
        return [item for _, _, item in sorted(self.items, key=lambda x: (x[0], x[1]))]


def node_object(
    rec: Recorder,
    name: str,
    at: datetime,
    ready: str = "True",
    since: datetime | None = None,
    reason: str | None = None,
    message: str | None = None,
    cpu: str = "8",
    memory: str = "32Gi",
    pressure: dict[str, str] | None = None,
    created: datetime | None = None,
    taints: list | None = None,
    volumes_in_use: list[str] | None = None,
) -> dict:
    """A Node as the kubelet reports it; `ready` is True, False or Unknown."""
    since = since or (created or at - timedelta(days=30))
    created = created or at - timedelta(days=30)
    default_reason = {"True": "KubeletReady", "False": "KubeletNotReady", "Unknown": "NodeStatusUnknown"}[ready]
    default_message = {
        "True": "kubelet is posting ready status",
        "False": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        "Unknown": "Kubelet stopped posting node status.",
    }[ready]
    heartbeat = ts(at) if ready != "Unknown" else ts(since - timedelta(seconds=40))
    conditions = []
    for ctype, ok_reason, ok_message in (
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ):
        status = (pressure or {}).get(ctype, "False" if ready != "Unknown" else "Unknown")
        conditions.append(
            {
                "type": ctype,
                "status": status,
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": ts(created if status == "False" else since),
                "reason": ok_reason if status == "False" else f"NodeHas{ctype}",
                "message": ok_message if status == "False" else f"kubelet has {ctype}",
            }
        )
    conditions.append(
        {
            "type": "Ready",
            "status": ready,
            "lastHeartbeatTime": heartbeat,
            "lastTransitionTime": ts(since),
            "reason": reason or default_reason,
            "message": message or default_message,
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": stable_uid("node", name),
            "resourceVersion": rec.next_rv(),
            "creationTimestamp": ts(created),
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {"podCIDR": "10.244.1.0/24", **({"taints": taints} if taints else {})},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": conditions,
            **({"volumesInUse": volumes_in_use} if volumes_in_use else {}),
            "addresses": [
                {"type": "InternalIP", "address": f"172.18.{sum(map(ord, name)) % 250}.{len(name)}"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": stable_uid("boot", name),
                "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.0-26-amd64",
                "kubeProxyVersion": "v1.31.2",
                "kubeletVersion": "v1.31.2",
                "machineID": stable_uid("machine", name).replace("-", ""),
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": stable_uid("system", name),
            },
        },
    }


def record_write(obj: dict, manager: str, moment: datetime) -> None:
    """What the apiserver keeps of each manager's last write (server-side apply's record)."""
    status = manager in ("kubelet", "kube-scheduler")
    entries = [e for e in obj["metadata"].get("managedFields", []) if e["manager"] != manager]
    entries.append(
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": ts(moment),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {}} if status else {"f:metadata": {}},
            **({"subresource": "status"} if status else {}),
        }
    )
    obj["metadata"]["managedFields"] = entries


class PodStory:
    """One pod, played forward. Methods take the moment (seconds after t0) they happen at."""

    def __init__(
        self,
        rec: Recorder,
        t0: datetime,
        name: str,
        namespace: str = "default",
        owner: tuple[str, str] | None = ("ReplicaSet", None),
        restart_policy: str = "Always",
        image: str = "registry.example.com/shop/web:1.4.2",
        cpu: str = "250m",
        memory: str = "256Mi",
        prestop: bool = False,
        labels: dict | None = None,
        containers: int = 1,
        managed_fields: bool = True,
        gates: tuple[str, ...] = (),
    ):
        self.rec, self.t0 = rec, t0
        self.name, self.namespace = name, namespace
        self.uid = stable_uid("pod", namespace, name, t0.isoformat())
        self.image = image
        self.node = None
        owner_kind, owner_name = owner or (None, None)
        if owner_kind and not owner_name:
            owner_name = name.rsplit("-", 1)[0]
        names = ["app"] + [f"sidecar-{i}" for i in range(1, containers)]
        self.obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": self.uid,
                "resourceVersion": "",
                "creationTimestamp": ts(t0),
                "labels": labels or {"app": name.rsplit("-", 2)[0]},
                **(
                    {
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1" if owner_kind != "Job" else "batch/v1",
                                "kind": owner_kind,
                                "name": owner_name,
                                "controller": True,
                                "blockOwnerDeletion": True,
                                "uid": stable_uid(owner_kind, owner_name),
                            }
                        ]
                    }
                    if owner_kind
                    else {}
                ),
            },
            "spec": {
                "containers": [
                    {
                        "name": c,
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        **(
                            {"lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 3600"]}}}}
                            if prestop
                            else {}
                        ),
                    }
                    for c in names
                ],
                "restartPolicy": restart_policy,
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                "priority": 0,
            },
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        self.conditions: dict[str, dict] = {}
        if gates:
            self.obj["spec"]["schedulingGates"] = [{"name": gate} for gate in gates]
            self._condition(
                0, "PodScheduled", "False", "SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates"
            )
        self.deleted_at: float | None = None
        self.is_job = owner_kind == "Job" or restart_policy != "Always"
        self.delivered_s: float | None = None  # when the platform delivered it (truth, never served)
        self.managed_fields = managed_fields
        self._emit(0, "ADDED", manager="kube-controller-manager")

    # -- helpers -------------------------------------------------------------------------
    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def _emit(self, seconds: float, event_type: str = "MODIFIED", manager: str | None = "kubelet") -> None:
        """Record the pod as written at `seconds` by `manager` (None: a write that leaves no
        managedFields entry, such as a DELETE)."""
        if manager:
            record_write(self.obj, manager, self.at(seconds))
        if not self.managed_fields:  # as `kubectl get -o json` prints it: managedFields hidden
            self.obj["metadata"].pop("managedFields", None)
        self.obj["metadata"]["resourceVersion"] = self.rec.next_rv()
        if self.conditions:
            self.obj["status"]["conditions"] = list(self.conditions.values())
        self.rec.emit(self.at(seconds), event_type, copy.deepcopy(self.obj))

    def _condition(
        self, seconds: float, ctype: str, status: str, reason: str | None = None, message: str | None = None
    ) -> None:
        old = self.conditions.get(ctype)
        if old and old["status"] == status and old.get("reason") == reason:
            return
        cond = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": ts(self.at(seconds))}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        self.conditions[ctype] = cond

    def event(
        self,
        seconds: float,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "kubelet",
        count: int = 1,
        until: float | None = None,
        field_path: str | None = "spec.containers{app}",
    ) -> None:
        """A core/v1 Event about this pod, as `kubectl get events -o json` shows it. One that
        repeats (`count` > 1) is written at its first occurrence and patched at its last, as the
        kubelet's event correlator does: a watcher sees it from the first time on."""
        first, last = self.at(seconds), self.at(until if until is not None else seconds)
        obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.name}.{hashlib.sha1(f'{reason}{message}{seconds}'.encode()).hexdigest()[:16]}",
                "namespace": self.namespace,
                "uid": stable_uid("event", self.uid, reason, message, str(seconds)),
                "resourceVersion": self.rec.next_rv(),
                "creationTimestamp": ts(first),
            },
            "involvedObject": {
                "kind": "Pod",
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "apiVersion": "v1",
                **({"fieldPath": field_path} if field_path and component == "kubelet" else {}),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component, **({"host": self.node} if component == "kubelet" and self.node else {})},
            "firstTimestamp": ts(first),
            "lastTimestamp": ts(last),
            "count": count,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": self.node or "",
        }
        if count > 1 and last > first:
            first_write = {**obj, "lastTimestamp": ts(first), "count": 1}
            self.rec.emit(first, "ADDED", {**first_write, "metadata": {**obj["metadata"]}})
            obj["metadata"]["resourceVersion"] = self.rec.next_rv()
        self.rec.emit(last, "ADDED" if count == 1 else "MODIFIED", obj)

    def scheduler_event(self, seconds: float, reason: str, message: str, type_: str = "Normal") -> None:
        """The scheduler writes events.k8s.io/v1 Events with a microsecond eventTime."""
        moment = self.at(seconds)
        obj = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.name}.{hashlib.sha1(f'{reason}{seconds}'.encode()).hexdigest()[:16]}",
                "namespace": self.namespace,
                "uid": stable_uid("sched", self.uid, reason, str(seconds)),
                "resourceVersion": self.rec.next_rv(),
                "creationTimestamp": ts(moment),
            },
            "eventTime": ts(moment, micros=True),
            "reportingController": "default-scheduler",
            "reportingInstance": "default-scheduler-control-plane",
            "action": "Scheduling" if reason != "Preempted" else "Preempting",
            "reason": reason,
            "note": message,
            "type": type_,
            "regarding": {
                "kind": "Pod",
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "apiVersion": "v1",
            },
        }
        self.rec.emit(moment, "ADDED", obj)

    # -- the life of a pod ----------------------------------------------------------------
    def schedule(self, seconds: float, node: str) -> None:
        self.node = node
        self.obj["spec"]["nodeName"] = node
        self._condition(seconds, "PodScheduled", "True")
        self.scheduler_event(seconds, "Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {node}")
        self._emit(seconds, manager="kube-scheduler")

    def unschedulable(self, seconds: float, message: str) -> None:
        self._condition(seconds, "PodScheduled", "False", "Unschedulable", message)
        self.scheduler_event(seconds, "FailedScheduling", message, "Warning")
        self._emit(seconds, manager="kube-scheduler")

    def creating(self, seconds: float) -> None:
        """The kubelet picked the pod up: Initialized, containers waiting in ContainerCreating."""
        self._condition(seconds, "PodReadyToStartContainers", "False")
        self._condition(seconds, "Initialized", "True")
        self._condition(seconds, "Ready", "False", "ContainersNotReady", "containers with unready status: [app]")
        self._condition(
            seconds, "ContainersReady", "False", "ContainersNotReady", "containers with unready status: [app]"
        )
        self._containers(seconds, {"waiting": {"reason": "ContainerCreating"}})
        self._emit(seconds)

    def sandbox_ready(self, seconds: float) -> None:
        self._condition(seconds, "PodReadyToStartContainers", "True")
        self._emit(seconds)

    def pull(self, start: float, seconds: float, style: str = "new") -> float:
        """Pulling + Pulled events; returns when the pull ended. style: new | old | present."""
        if style == "present":
            self.event(start, "Pulled", f'Container image "{self.image}" already present on machine')
            return start
        self.event(start, "Pulling", f'Pulling image "{self.image}"')
        end = start + seconds
        text = _go_duration(seconds)
        if style == "old":
            message = f'Successfully pulled image "{self.image}" in {text}'
        else:
            message = (
                f'Successfully pulled image "{self.image}" in {text} ({text} including waiting). '
                f"Image size: 52428800 bytes."
            )
        self.event(end, "Pulled", message)
        return end

    def start(self, seconds: float, ready_at: float | None = None) -> None:
        self.event(seconds, "Created", "Created container: app")
        self.event(seconds, "Started", "Started container app")
        self.obj["status"]["phase"] = "Running"
        self.obj["status"]["podIP"] = "10.244.1.17"
        self._containers(seconds, {"running": {"startedAt": ts(self.at(seconds))}}, ready=False, started=True)
        self._emit(seconds)
        if self.is_job and self.delivered_s is None:
            self.delivered_s = seconds
        if ready_at is not None:
            self.ready(ready_at)

    def ready(self, seconds: float) -> None:
        for ctype in ("Ready", "ContainersReady"):
            self._condition(seconds, ctype, "True")
        for cs in self.obj["status"]["containerStatuses"]:
            cs["ready"] = True
        self._emit(seconds)
        if not self.is_job and self.delivered_s is None:
            self.delivered_s = seconds

    def set_image(self, seconds: float, image: str) -> None:
        """An in-place update (`kubectl set image`): the spec changes, then the kubelet kills
        the container and its Ready goes False."""
        self.image = image
        for c in self.obj["spec"]["containers"]:
            c["image"] = image
        self._emit(seconds, manager="kubectl-set")
        self.event(seconds + 1, "Killing", "Container app definition changed, will be restarted")
        for ctype in ("Ready", "ContainersReady"):
            self._condition(seconds + 1, ctype, "False", "ContainersNotReady", "containers with unready status: [app]")
        self._containers(seconds + 1, {"waiting": {"reason": "ContainerCreating"}}, restarts=1)
        self._emit(seconds + 1)

    def waiting(
        self,
        seconds: float,
        reason: str,
        message: str | None = None,
        restarts: int = 0,
        last_terminated: dict | None = None,
    ) -> None:
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        self._containers(seconds, state, restarts=restarts, last=last_terminated)
        self._emit(seconds)

    def terminated(self, seconds: float, started: float, reason: str, exit_code: int, phase: str | None = None) -> None:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": ts(self.at(started)),
                "finishedAt": ts(self.at(seconds)),
                "containerID": f"containerd://{self.uid[:12]}",
            }
        }
        self._containers(seconds, state)
        if phase:
            self.obj["status"]["phase"] = phase
        self._emit(seconds)

    def fail_pod(self, seconds: float, reason: str, message: str) -> None:
        """Pod-level failure (kubelet admission, eviction): phase Failed with a reason."""
        self.obj["status"].update(phase="Failed", reason=reason, message=message)
        self._emit(seconds)

    def disruption(self, seconds: float, reason: str, message: str) -> None:
        self._condition(seconds, "DisruptionTarget", "True", reason, message)
        self._emit(seconds, manager="kube-scheduler" if "Preemption" in reason else "kube-controller-manager")

    def delete(self, seconds: float, grace: int = 30) -> None:
        """A DELETE with a grace period: deletionTimestamp = now + grace."""
        self.obj["metadata"]["deletionTimestamp"] = ts(self.at(seconds + grace))
        self.obj["metadata"]["deletionGracePeriodSeconds"] = grace
        self._emit(seconds, manager=None)
        if self.deleted_at is None:
            self.deleted_at = seconds

    def add_init(self, name: str, sidecar: bool = False) -> None:
        """An init container (a native sidecar when `sidecar`: restartPolicy Always); until its
        status says otherwise it waits and the pod is not Initialized."""
        self.obj["spec"].setdefault("initContainers", []).append(
            {"name": name, "image": self.image, **({"restartPolicy": "Always"} if sidecar else {})}
        )
        self.obj["status"].setdefault("initContainerStatuses", []).append(
            {
                "name": name,
                "image": self.image,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "PodInitializing"}},
                "lastState": {},
            }
        )
        regular = [c["name"] for c in self.obj["spec"]["initContainers"] if c.get("restartPolicy") != "Always"]
        if regular:
            self._condition(
                0,
                "Initialized",
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(regular)}]",
            )

    def init_state(
        self,
        seconds: float,
        name: str,
        state: dict,
        restarts: int = 0,
        last: dict | None = None,
        initialized: bool = False,
    ) -> None:
        """An init container's state changes (`initialized`: with it every init container is done)."""
        for cs in self.obj["status"]["initContainerStatuses"]:
            if cs["name"] == name:
                cs.update(
                    state=state,
                    lastState=last or {},
                    restartCount=restarts,
                    started="running" in state,
                    ready="running" in state or "terminated" in state,
                )
        if not self.obj["status"].get("containerStatuses"):
            self._containers(seconds, {"waiting": {"reason": "PodInitializing"}})
        if initialized:
            self._condition(seconds, "Initialized", "True")
        self._emit(seconds)

    def add_claim(self, volume: str, claim: str) -> None:
        self.obj["spec"].setdefault("volumes", []).append(
            {"name": volume, "persistentVolumeClaim": {"claimName": claim}}
        )

    def add_finalizer(self, name: str) -> None:
        self.obj["metadata"].setdefault("finalizers", []).append(name)

    def killed(self, seconds: float, exit_code: int = 0, phase: str = "Succeeded") -> None:
        """The kubelet stopped the containers and confirmed: grace period 0."""
        self.stopped(seconds, exit_code, emit=False)
        self.obj["status"]["phase"] = phase
        self.obj["metadata"]["deletionGracePeriodSeconds"] = 0
        self._emit(seconds)

    def stopped(self, seconds: float, exit_code: int = 0, emit: bool = True) -> None:
        """Every container terminated; the kubelet has not confirmed the deletion (yet)."""
        started = (
            self.obj["status"]
            .get("containerStatuses", [{}])[0]
            .get("state", {})
            .get("running", {})
            .get("startedAt", ts(self.t0))
        )
        for cs in self.obj["status"].get("containerStatuses", []):
            cs["state"] = {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Completed" if exit_code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": ts(self.at(seconds)),
                }
            }
            cs["ready"] = False
        self._condition(seconds, "Ready", "False", "PodCompleted")
        if emit:
            self._emit(seconds)

    def ungate(self, seconds: float, manager: str | None = None) -> None:
        """The last scheduling gate comes off (Kueue admits the workload, say)."""
        self.obj["spec"].pop("schedulingGates", None)
        self._emit(seconds, manager=manager)

    def force_delete(self, seconds: float, requested_s: float) -> None:
        """`kubectl delete --force --grace-period=0` (or PodGC): gone at once; the apiserver moves
        deletionTimestamp back to when the deletion was asked and writes no time of its own."""
        self.obj["metadata"]["deletionTimestamp"] = ts(self.at(requested_s))
        self.obj["metadata"]["deletionGracePeriodSeconds"] = 0
        self._emit(seconds, "DELETED", manager=None)

    def gone(self, seconds: float) -> None:
        """Deleted for good: the object as last written (a DELETE records no write)."""
        self._emit(seconds, "DELETED", manager=None)

    def release_finalizers(self, seconds: float, manager: str) -> None:
        """The controller that held the pod removes its finalizers: with the deletion already
        confirmed, that update is the pod's last write, and the pod is gone."""
        self.obj["metadata"]["finalizers"] = []
        self._emit(seconds, "DELETED", manager=manager)

    def _containers(
        self,
        seconds: float,
        state: dict,
        ready: bool = False,
        started: bool = False,
        restarts: int = 0,
        last: dict | None = None,
    ) -> None:
        statuses = []
        for c in self.obj["spec"]["containers"]:
            statuses.append(
                {
                    "name": c["name"],
                    "image": self.image,
                    "imageID": "",
                    "ready": ready,
                    "restartCount": restarts,
                    "started": started,
                    "state": copy.deepcopy(state),
                    "lastState": copy.deepcopy(last) if last else {},
                }
            )
        self.obj["status"]["containerStatuses"] = statuses
        self.obj["status"].setdefault("startTime", ts(self.at(seconds)))
        self.obj["status"]["hostIP"] = "172.18.0.2"


def _go_duration(seconds: float) -> str:
    """What Go's time.Duration prints (to the millisecond, as the kubelet truncates)."""
    ms = int(round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{secs}" if minutes else secs
