"""Pod stories: one realistic life per outcome, reason code and stuck reason.

Each story plays a pod in a `Scene` using the real message formats of the kubelet,
scheduler, containerd, CNI plugins and controllers, and declares the verdict it must
get (`Truth`). Golden cases, the demo and the benchmark are all built from these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.objects import PodStory, Recorder, node_object, stable_uid, ts

REGISTRY = "registry.example.com"


@dataclass(frozen=True)
class Truth:
    outcome: str
    attribution: str | None = None
    reason: str | None = None
    stuck: str | None = None  # stuck-Terminating reason, when the story deletes the pod
    gone_s: float | None = None  # when a deleted pod went (seconds after creation), where a story checks it


class Timing:
    """Stage durations in seconds. These fixed values are the golden cases'; the
    simulator's subclass draws them from seeded distributions."""

    def schedule_s(self) -> float:
        return 1.0

    def sandbox_s(self) -> float:
        return 1.0

    def pull_s(self) -> float:
        return 4.0

    def start_s(self) -> float:
        return 1.0

    def ready_s(self) -> float:
        return 3.0


class Scene:
    """A cluster in miniature: nodes whose state the stories change, and a recorder."""

    timing = Timing()
    deadline_s = 60.0
    namespace = "default"

    def node(self, preferred: str) -> str:
        """The node a story puts its pod on (the golden cases name theirs)."""
        return preferred

    def __init__(self, t0: datetime, nodes: int = 3, rec: Recorder | None = None, cpu: str = "8", memory: str = "32Gi"):
        self.rec = rec or Recorder()
        self.t0 = t0
        self.cpu, self.memory = cpu, memory
        self.nodes = {f"node-{i}": ("True", t0 - timedelta(days=30)) for i in range(1, nodes + 1)}
        self.volumes: dict[str, list[str]] = {}
        self.logs: dict[str, list[str]] = {}  # node -> its kubelet's log lines, in order
        for name in self.nodes:
            self._node(name, t0 - timedelta(hours=1))

    def _node(self, name: str, moment: datetime) -> None:
        ready, since = self.nodes[name]
        self.rec.emit(
            moment,
            "MODIFIED",
            node_object(
                self.rec,
                name,
                moment,
                ready,
                since,
                cpu=self.cpu,
                memory=self.memory,
                created=self.t0 - timedelta(days=30),
                volumes_in_use=self.volumes.get(name),
            ),
        )

    def node_status(self, moment: datetime, name: str, ready: str) -> None:
        self.nodes[name] = (ready, moment)
        self._node(name, moment)

    def node_volumes(self, moment: datetime, name: str, volumes: list[str]) -> None:
        """The node's kubelet reports these volumes in use (status.volumesInUse)."""
        self.volumes[name] = volumes
        self._node(name, moment)

    def kubelet_log(self, moment: datetime, severity: str, where: str, text: str, node: str = "node-1") -> None:
        """A klog line of a node's kubelet (what `podslo collect-logs` reads)."""
        self.logs.setdefault(node, []).append(f"{severity}{moment:%m%d %H:%M:%S}.000000    2417 {where}] {text}\n")

    def heartbeat(self, moment: datetime) -> None:
        """Every node reports at `moment` (this is what moves a replay's 'now')."""
        for name in self.nodes:
            self._node(name, moment)

    def controller_event(
        self,
        moment: datetime,
        kind: str,
        name: str,
        namespace: str,
        reason: str,
        message: str,
        type_: str = "Warning",
        component: str = "replicaset-controller",
    ) -> str:
        """An Event about a controller (not a pod); returns the Event's uid."""
        obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{name}.{stable_uid(reason, message)[:16]}",
                "namespace": namespace,
                "uid": stable_uid("ctrl", kind, name, reason, moment.isoformat()),
                "resourceVersion": self.rec.next_rv(),
                "creationTimestamp": ts(moment),
            },
            "involvedObject": {
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "uid": stable_uid(kind, name),
                "apiVersion": "apps/v1",
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": ts(moment),
            "lastTimestamp": ts(moment),
            "count": 1,
        }
        self.rec.emit(moment, "ADDED", obj)
        return obj["metadata"]["uid"]


@dataclass(frozen=True)
class NotCreated:
    """A pod its controller asked for and the apiserver refused: known by the Event."""

    uid: str
    namespace: str
    name: str
    node: str | None = None
    delivered_s: float | None = None
    deleted_at: float | None = None


def _image_failure(pod: PodStory, at: float, error: str) -> None:
    """What the kubelet shows for a failed pull, then its back-off (kubelet images/puller)."""
    pod.event(at, "Pulling", f'Pulling image "{pod.image}"')
    pod.event(at + 1, "Failed", f'Failed to pull image "{pod.image}": {error}', "Warning")
    pod.event(at + 1, "Failed", "Error: ErrImagePull", "Warning")
    pod.waiting(at + 1, "ErrImagePull", error)
    pod.event(at + 2, "BackOff", f'Back-off pulling image "{pod.image}"', count=6, until=at + 55)
    pod.event(at + 2, "Failed", "Error: ImagePullBackOff", "Warning", count=6, until=at + 55)
    pod.waiting(at + 2, "ImagePullBackOff", f'Back-off pulling image "{pod.image}"')


@dataclass(frozen=True)
class Stages:
    """When (seconds after creation) a pod got scheduled, pulled and started."""

    scheduled: float
    pull: float
    pulled: float  # when the pull ended
    started: float
    ready: float | None


def _to_running(
    s: Scene, pod: PodStory, node: str, ready: bool = True, pull: float | None = None, after: float = 0.0
) -> Stages:
    """Schedule, sandbox, pull, start (and become Ready when `ready`), from `after` seconds on."""
    t = s.timing
    scheduled = after + t.schedule_s()
    pod.schedule(scheduled, node)
    pod.creating(scheduled)
    sandbox = scheduled + t.sandbox_s()
    pod.sandbox_ready(sandbox)
    pull = t.pull_s() if pull is None else pull
    pulled = pod.pull(sandbox, pull, style="present" if pull == 0 else "new")
    started = pulled + t.start_s()
    ready_at = started + t.ready_s() if ready else None
    pod.start(started, ready_at=ready_at)
    return Stages(scheduled, pull, pulled, started, ready_at)


def _on_time(s: Scene, delivered: float, stages: Stages) -> Truth:
    """The truth of a healthy pod: success, unless its stage timings made it late
    (judged the way contract 3 defines ImagePullSlow and SchedulingDelay, on the
    whole seconds that the cluster's timestamps show)."""
    delivered = math.floor(delivered)
    if delivered <= s.deadline_s:
        return Truth("success")
    if delivered - stages.pull <= s.deadline_s:
        return Truth("timeout", "system", "ImagePullSlow")
    if delivered - stages.scheduled <= s.deadline_s:
        return Truth("timeout", "system", "SchedulingDelay")
    return Truth("timeout", "system", "Unknown")


def _unless_pulling_at_deadline(s: Scene, stages: Stages, truth: Truth) -> Truth:
    """A pod still pulling at its deadline was the platform's to deliver, whatever its
    app would have done later."""
    if math.floor(stages.pulled) > s.deadline_s:
        return Truth("timeout", "system", "ImagePullSlow")
    return truth


# -- successes ----------------------------------------------------------------------------------
def ok_service(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"))
    return pod, _on_time(s, stages.ready, stages)


def ok_job(s: Scene, name: str, t0: datetime):
    pod = PodStory(
        s.rec, t0, name, namespace=s.namespace, owner=("Job", name.rsplit("-", 1)[0]), restart_policy="Never"
    )
    pod.schedule(1, s.node("node-2"))
    pod.creating(1)
    pod.pull(2, 0, style="present")
    pod.start(3)
    pod.terminated(40, 3, "Completed", 0, phase="Succeeded")
    return pod, Truth("success")


def ok_job_app_fails(s: Scene, name: str, t0: datetime):
    """A job whose app exits 1 in time was still delivered by the platform."""
    pod = PodStory(
        s.rec, t0, name, namespace=s.namespace, owner=("Job", name.rsplit("-", 1)[0]), restart_policy="Never"
    )
    pod.schedule(1, s.node("node-2"))
    pod.creating(1)
    pod.pull(2, 0, style="present")
    pod.start(4)
    pod.terminated(6, 4, "Error", 1, phase="Failed")
    return pod, Truth("success")


def ok_after_transient_sandbox_error(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(
        2,
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to "
        'setup network for sandbox "7c1f0e2b9a": plugin type="calico" failed (add): error adding host side '
        "routes for interface: calia81b2c, error: route (Ifindex: 31, Dst: 10.244.1.17/32, Scope: link) "
        "already exists for an interface other than 'calia81b2c'",
        "Warning",
    )
    pod.event(8, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
    pod.sandbox_ready(9)
    pull = s.timing.pull_s() * 0.8
    end = pod.pull(9, pull, style="old")
    pod.start(end + 1, ready_at=end + 5)
    return pod, _on_time(s, end + 5, Stages(1, pull, end, end + 1, end + 5))


# -- not yet / not counted ---------------------------------------------------------------------------
def pending(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(2, "Pulling", f'Pulling image "{pod.image}"')
    return pod, Truth("pending")


def cancelled(s: Scene, name: str, t0: datetime):
    """Scaled down by its owner while still pulling: not the platform's failure."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(2, "Pulling", f'Pulling image "{pod.image}"')
    pod.delete(15, grace=30)
    pod.event(15, "Killing", "Stopping container app")
    pod.killed(17, exit_code=0, phase="Succeeded")
    pod.gone(17)
    return pod, Truth("cancelled")


# -- user failures -----------------------------------------------------------------------------------
def invalid_image(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/Shop/Web:1.4.2")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    error = (
        f'Failed to apply default image tag "{pod.image}": couldn\'t parse image name "{pod.image}": '
        "invalid reference format: repository name (Shop/Web) must be lowercase"
    )
    pod.event(2, "InspectFailed", error, "Warning", count=8, until=70)
    pod.event(2, "Failed", "Error: InvalidImageName", "Warning", count=8, until=70)
    pod.waiting(2, "InvalidImageName", error)
    return pod, Truth("failed", "user", "InvalidImage")


def image_not_found(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/shop/web:1.4.3-typo")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _image_failure(
        pod,
        2,
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{pod.image}": '
        f'failed to resolve reference "{pod.image}": {pod.image}: not found',
    )
    return pod, Truth("failed", "user", "ImageNotFound")


def image_auth_failed(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/private/api:2.0")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _image_failure(
        pod,
        2,
        f'failed to pull and unpack image "{pod.image}": failed to resolve reference '
        f'"{pod.image}": failed to authorize: failed to fetch anonymous token: unexpected status '
        f"from GET request to https://{REGISTRY}/token?scope=repository%3Aprivate%2Fapi%3Apull"
        f"&service=registry: 401 Unauthorized",
    )
    return pod, Truth("failed", "user", "ImageAuthFailed")


def container_config_error(s: Scene, name: str, t0: datetime):
    """The workload's own ConfigMap is missing (its name is the workload's, so no two
    workloads' failures read the same: the fleet context keeps it the user's)."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.pull(2, 0, style="present")
    config = f"{name.rsplit('-', 2)[0]}-config"
    pod.event(2, "Failed", f'Error: configmap "{config}" not found', "Warning", count=9, until=80)
    pod.waiting(2, "CreateContainerConfigError", f'configmap "{config}" not found')
    return pod, Truth("failed", "user", "ContainerConfigError")


def volume_config_error(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(
        2,
        "FailedMount",
        'MountVolume.SetUp failed for volume "settings" : configmap "web-settings" not found',
        "Warning",
        count=7,
        until=90,
    )
    return pod, Truth("failed", "user", "VolumeConfigError")


def _crash_loop(s: Scene, name: str, t0: datetime, reason: str, exit_code: int, runs_s: float, backoffs: int):
    """A container that starts, dies (`reason`, `exit_code`) and goes into CrashLoopBackOff."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"), ready=False)
    go, died = stages.started, stages.started + runs_s
    pod.terminated(died, go, reason, exit_code)
    last = {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": ts(pod.at(go)),
            "finishedAt": ts(pod.at(died)),
        }
    }
    pod.waiting(
        died + 1,
        "CrashLoopBackOff",
        f"back-off 10s restarting failed container=app pod={name}_{pod.namespace}({pod.uid})",
        restarts=1,
        last_terminated=last,
    )
    pod.event(
        died + 1,
        "BackOff",
        f"Back-off restarting failed container app in pod {name}_{pod.namespace}({pod.uid})",
        "Warning",
        count=backoffs,
        until=go + 63,
    )
    return pod, stages


def app_crash(s: Scene, name: str, t0: datetime):
    pod, stages = _crash_loop(s, name, t0, "Error", 1, runs_s=2, backoffs=5)
    return pod, _unless_pulling_at_deadline(s, stages, Truth("failed", "user", "AppCrash"))


def app_oom(s: Scene, name: str, t0: datetime):
    pod, stages = _crash_loop(s, name, t0, "OOMKilled", 137, runs_s=5, backoffs=4)
    return pod, _unless_pulling_at_deadline(s, stages, Truth("failed", "user", "AppOOM"))


def readiness_probe_failed(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"), ready=False)
    go = stages.started
    pod.event(
        go + 5,
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "Warning",
        count=20,
        until=go + 113,
    )
    return pod, _unless_pulling_at_deadline(s, stages, Truth("failed", "user", "ReadinessProbeFailed"))


def unschedulable_affinity(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.unschedulable(
        0.5,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
    )
    return pod, Truth("failed", "user", "Unschedulable")


def unschedulable_too_big(s: Scene, name: str, t0: datetime):
    """The request is larger than any node's allocatable: no capacity would ever do."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, cpu="64", memory="256Gi")
    pod.unschedulable(
        0.5,
        "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: "
        "0/3 nodes are available: 3 No preemption victims found for incoming pod.",
    )
    return pod, Truth("failed", "user", "Unschedulable")


def quota_exceeded(s: Scene, name: str, t0: datetime):
    """The apiserver refused the pod: it never exists; the ReplicaSet tells."""
    rs = name.rsplit("-", 1)[0]
    uid = s.controller_event(
        t0,
        "ReplicaSet",
        rs,
        s.namespace,
        "FailedCreate",
        f'Error creating: pods "{name}" is forbidden: exceeded quota: compute-resources, '
        "requested: requests.cpu=2, used: requests.cpu=9, limited: requests.cpu=10",
    )
    return NotCreated(f"event:{uid}", s.namespace, f"replicaset/{rs}"), Truth("failed", "user", "QuotaExceeded")


# -- platform failures ---------------------------------------------------------------------------------
def image_pull_slow(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/ml/trainer:7.1")
    stages = _to_running(s, pod, s.node("node-1"), ready=False, pull=max(73.4, s.timing.pull_s()))
    pod.ready(stages.started + 5)
    return pod, Truth("timeout", "system", "ImagePullSlow")


def image_pull_error(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _image_failure(
        pod,
        2,
        f'failed to pull and unpack image "{pod.image}": failed to resolve reference "{pod.image}": '
        f'failed to do request: Head "https://{REGISTRY}/v2/shop/web/manifests/1.4.2": '
        "dial tcp 10.0.0.15:443: i/o timeout",
    )
    return pod, Truth("failed", "system", "ImagePullError")


def insufficient_capacity(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, cpu="2", memory="4Gi")
    pod.unschedulable(
        0.5,
        "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod.",
    )
    return pod, Truth("failed", "system", "InsufficientCapacity")


def scheduling_delay(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(71, s.node("node-1"))
    pod.creating(71)
    pod.pull(72, 0, style="present")
    pod.start(73, ready_at=75)
    return pod, Truth("timeout", "system", "SchedulingDelay")


def sandbox_create_failed(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(
        3,
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to "
        'setup network for sandbox "3f2a9c0d11": plugin type="calico" failed (add): error getting '
        "ClusterInformation: connection is unauthorized: Unauthorized",
        "Warning",
        count=12,
        until=100,
    )
    return pod, Truth("failed", "system", "SandboxCreateFailed")


def network_not_ready(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(
        2,
        "NetworkNotReady",
        "network is not ready: container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        "Warning",
        count=30,
        until=90,
        field_path=None,
    )
    return pod, Truth("failed", "system", "NetworkNotReady")


def volume_attach_failed(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(
        3,
        "FailedAttachVolume",
        'AttachVolume.Attach failed for volume "pvc-6a1c2f0e-3b1d-4c55-9d0e-'
        '2f8f7f1e9a10" : rpc error: code = DeadlineExceeded desc = context deadline exceeded',
        "Warning",
        component="attachdetach-controller",
        count=4,
        until=90,
    )
    pod.event(
        62,
        "FailedMount",
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached "
        "volumes=[data kube-api-access-8xkq2]: timed out waiting for the condition",
        "Warning",
        field_path=None,
    )
    return pod, Truth("failed", "system", "VolumeAttachFailed")


def admission_rejected(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, cpu="4")
    pod.schedule(1, s.node("node-1"))
    message = "Pod was rejected: Node didn't have enough resource: cpu, requested: 4000, used: 7500, capacity: 8000"
    pod.event(
        2,
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 4000, used: 7500, capacity: 8000",
        "Warning",
        field_path=None,
    )
    pod.fail_pod(2, "OutOfcpu", message)
    return pod, Truth("failed", "system", "AdmissionRejected")


def node_not_ready(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-2"))
    pod.creating(1)
    s.node_status(pod.at(5), "node-2", "Unknown")
    pod.event(45, "NodeNotReady", "Node is not ready", "Warning", component="node-controller", field_path=None)
    return pod, Truth("failed", "system", "NodeNotReady")


def evicted(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"), ready=False)
    go = stages.started
    message = (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 88344Ki. Container app "
        "was using 1532Mi, request is 256Mi, has larger consumption of memory. "
    )
    pod.event(go + 13, "Evicted", message, "Warning", field_path=None)
    pod.terminated(go + 14, go, "Error", 137)
    pod.fail_pod(go + 14, "Evicted", message)
    return pod, _unless_pulling_at_deadline(s, stages, Truth("failed", "system", "Evicted"))


def preempted(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.event(2, "Pulling", f'Pulling image "{pod.image}"')
    pod.scheduler_event(10, "Preempted", f"Preempted by pod {stable_uid('preemptor', name)} on node node-1")
    pod.disruption(
        10, "PreemptionByScheduler", "Kubernetes default scheduler: preempting to accommodate a higher priority pod"
    )
    pod.delete(10, grace=30)
    pod.killed(12, exit_code=0, phase="Failed")
    pod.gone(12)
    return pod, Truth("failed", "system", "Preempted")


def runtime_error(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.pull(2, 0, style="present")
    error = (
        f'failed to reserve container name "app_{name}_{pod.namespace}_{pod.uid}_0": name "app_{name}_{pod.namespace}_{pod.uid}_0" '
        'is reserved for "9a4f3b2c1d0e"'
    )
    pod.event(4, "Failed", f"Error: {error}", "Warning", count=6, until=80)
    pod.waiting(4, "CreateContainerError", error)
    return pod, Truth("failed", "system", "RuntimeError")


def kubelet_no_progress(s: Scene, name: str, t0: datetime):
    """Bound to a Ready node, and then the kubelet never acts on it."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-3"))
    return pod, Truth("timeout", "system", "KubeletNoProgress")


def unknown_failure(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"), ready=False)
    pod.event(stages.started + 13, "FailedPostStartCheck", "flux capacitor did not reach 88 mph", "Warning")
    return pod, _unless_pulling_at_deadline(s, stages, Truth("failed", "system", "Unknown"))


# -- Kubernetes 1.27-1.34 ---------------------------------------------------------------------------------
def image_policy_rejected(s: Scene, name: str, t0: datetime):
    """The node's signature policy refuses the image (CRI-O; the kubelet's SignatureValidationFailed
    since 1.28): the user's image, not the registry."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/shop/web:1.4.2-unsigned")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    error = "SignatureValidationFailed: Source image rejected: A signature was required, but no signature exists"
    pod.event(2, "Pulling", f'Pulling image "{pod.image}"')
    pod.event(3, "Failed", f'Failed to pull image "{pod.image}": {error}', "Warning")
    pod.event(3, "Failed", "Error: SignatureValidationFailed", "Warning")
    pod.waiting(
        3, "SignatureValidationFailed", f"image pull failed for {pod.image} because the signature validation failed"
    )
    pod.event(4, "BackOff", f'Back-off pulling image "{pod.image}"', count=6, until=60)
    pod.waiting(4, "ImagePullBackOff", f'Back-off pulling image "{pod.image}"')
    return pod, Truth("failed", "user", "ImagePolicyRejected")


def kubelet_not_synced(s: Scene, name: str, t0: datetime):
    """CreateContainerConfigError about the kubelet's own ConfigMap cache (it lost the apiserver
    for a while), not a ConfigMap the pod lacks: the platform's."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    pod.pull(2, 0, style="present")
    error = "failed to sync configmap cache: timed out waiting for the condition"
    pod.event(3, "Failed", f"Error: {error}", "Warning", count=9, until=80)
    pod.waiting(3, "CreateContainerConfigError", error)
    return pod, Truth("failed", "system", "KubeletNotSynced")


def _running_init(s: Scene, pod: PodStory, name: str, at: float) -> None:
    pod.event(
        at,
        "Pulled",
        f'Container image "{pod.image}" already present on machine',
        field_path=f"spec.initContainers{{{name}}}",
    )
    pod.event(at, "Created", f"Created container: {name}", field_path=f"spec.initContainers{{{name}}}")
    pod.event(at, "Started", f"Started container {name}", field_path=f"spec.initContainers{{{name}}}")
    pod.init_state(at, name, {"running": {"startedAt": ts(pod.at(at))}})


def init_container_slow(s: Scene, name: str, t0: datetime):
    """The pod's own init container (a schema migration) runs 90 s: late, but the user's work."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_init("migrate")
    pod.schedule(1, s.node("node-1"))
    pod.sandbox_ready(2)
    _running_init(s, pod, "migrate", 2)
    done = {
        "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(pod.at(2)), "finishedAt": ts(pod.at(92))}
    }
    pod.init_state(92, "migrate", done, initialized=True)
    pod.pull(93, 0, style="present")
    pod.start(93, ready_at=96)
    return pod, Truth("timeout", "user", "InitContainerSlow")


def init_container_crash(s: Scene, name: str, t0: datetime):
    """The pod's own init container exits 1 again and again (Init:CrashLoopBackOff): the user's."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_init("migrate")
    pod.schedule(1, s.node("node-1"))
    pod.sandbox_ready(2)
    at = 2.0
    for attempt in range(4):
        _running_init(s, pod, "migrate", at)
        failed = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": ts(pod.at(at)),
                "finishedAt": ts(pod.at(at + 2)),
            }
        }
        pod.init_state(at + 2, "migrate", failed, restarts=attempt)
        wait = 10 * 2**attempt
        pod.init_state(
            at + 3,
            "migrate",
            {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off {wait}s restarting failed container=migrate pod={pod.name}_{pod.namespace}({pod.uid})"
                    ),
                }
            },
            restarts=attempt + 1,
            last=failed,
        )
        pod.event(
            at + 3,
            "BackOff",
            f"Back-off restarting failed container migrate in pod {pod.name}_{pod.namespace}({pod.uid})",
            "Warning",
            field_path="spec.initContainers{migrate}",
        )
        at += 3 + wait
    return pod, Truth("failed", "user", "AppCrash")


def native_sidecar(s: Scene, name: str, t0: datetime):
    """A native sidecar (an init container with restartPolicy Always) starts first and runs beside
    the app; the pod is Ready on time, as the kubelet counts it."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_init("proxy", sidecar=True)
    pod.schedule(1, s.node("node-1"))
    pod.sandbox_ready(2)
    _running_init(s, pod, "proxy", 2)
    pod.init_state(3, "proxy", {"running": {"startedAt": ts(pod.at(2))}}, initialized=True)
    pod.pull(3, 0, style="present")
    pod.start(4, ready_at=8)
    return pod, Truth("success")


def scheduling_gated(s: Scene, name: str, t0: datetime):
    """Held 10 minutes by a scheduling gate (Kueue's admission), then delivered within seconds of
    the gate coming off: on time. Recorded with kubectl (no managedFields), so only the stream's
    clock says when the gate came off."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, managed_fields=False, gates=("kueue.x-k8s.io/admission",))
    s.heartbeat(pod.at(300))
    s.heartbeat(pod.at(599))
    pod.ungate(600)
    _to_running(s, pod, s.node("node-1"), after=600)
    return pod, Truth("success")


def scheduling_gated_deleted(s: Scene, name: str, t0: datetime):
    """Deleted while its gate still held it: never due, not the platform's."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, gates=("example.com/quota-check",))
    s.heartbeat(pod.at(120))
    pod.delete(200, grace=30)
    pod.gone(200)
    return pod, Truth("cancelled")


def _unresolved_registry(pod: PodStory, at: float, host: str) -> None:
    _image_failure(
        pod,
        at,
        f'failed to pull and unpack image "{pod.image}": failed to resolve reference "{pod.image}": failed to do '
        f'request: Head "https://{host}/v2/shop/web/manifests/1.4.2": dial tcp: lookup {host} on 10.96.0.10:53: '
        "no such host",
    )


def fleet_registry_typo(s: Scene, name: str, t0: datetime):
    """A registry host that does not resolve, in one workload only: a typo, the user's."""
    host = "registy.example.com"
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{host}/shop/web:1.4.2")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _unresolved_registry(pod, 2, host)
    return pod, Truth("failed", "user", "ImageNotFound")


def fleet_registry_dns_outage(s: Scene, name: str, t0: datetime):
    """The same registry host stops resolving for pods of four unrelated namespaces within
    minutes: the cluster's DNS, the platform's."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, image=f"{REGISTRY}/shop/web:1.4.2")
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _unresolved_registry(pod, 2, REGISTRY)
    for i, namespace in enumerate(("payments", "search", "batch-etl")):
        other = PodStory(s.rec, t0, f"{namespace}-api-6c9d7f5b4-q{i}x2z", namespace=namespace)
        other.schedule(30 + i, s.node("node-2"))
        other.creating(30 + i)
        _unresolved_registry(other, 31 + i, REGISTRY)
    return pod, Truth("failed", "system", "ImagePullError")


def _config_not_found(pod: PodStory, at: float) -> None:
    pod.pull(at, 0, style="present")
    pod.event(at, "Failed", 'Error: configmap "kube-root-ca.crt" not found', "Warning", count=9, until=at + 80)
    pod.waiting(at, "CreateContainerConfigError", 'configmap "kube-root-ca.crt" not found')


def fleet_config_not_found_everywhere(s: Scene, name: str, t0: datetime):
    """'configmap "kube-root-ca.crt" not found' (the ConfigMap every namespace holds) for pods of
    five namespaces within two minutes: the kubelets' view of it, the platform's (one workload
    missing its own ConfigMap is the user's: container_config_error)."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.schedule(1, s.node("node-1"))
    pod.creating(1)
    _config_not_found(pod, 2)
    for i, namespace in enumerate(("payments", "search", "batch-etl", "identity")):
        other = PodStory(s.rec, t0, f"{namespace}-api-6c9d7f5b4-c{i}x2z", namespace=namespace)
        other.schedule(20 + 20 * i, s.node("node-2"))
        other.creating(20 + 20 * i)
        _config_not_found(other, 21 + 20 * i)
    return pod, Truth("failed", "system", "KubeletNotSynced")


def _with_claim(pod: PodStory, claim: str) -> None:
    """A pod asking for a DRA device through a ResourceClaim template."""
    pod.obj["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": claim}]
    pod.obj["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    pod.obj["status"]["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": f"{pod.name}-gpu-x7k2p"}]


def _dra_failure(s: Scene, name: str, t0: datetime, at: float, message: str, until: float) -> PodStory:
    """A pod with a ResourceClaim, bound, whose kubelet cannot prepare its device."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    _with_claim(pod, "single-gpu")
    pod.schedule(2, s.node("node-1"))
    pod.creating(2)
    pod.event(
        at,
        "FailedPrepareDynamicResources",
        message,
        "Warning",
        count=int(until - at) // 10,
        until=until,
        field_path=None,
    )
    return pod


def dra_driver_not_registered(s: Scene, name: str, t0: datetime):
    message = (
        "Failed to prepare dynamic resources: prepare dynamic resources: DRA driver gpu.example.com is not registered"
    )
    return _dra_failure(s, name, t0, 3, message, 90), Truth("failed", "system", "DRADriverNotRegistered")


def dra_prepare_failed(s: Scene, name: str, t0: datetime):
    message = (
        "Failed to prepare dynamic resources: prepare dynamic resources: NodePrepareResources: rpc error: "
        "code = DeadlineExceeded desc = context deadline exceeded"
    )
    return _dra_failure(s, name, t0, 45, message, 140), Truth("failed", "system", "DRAPrepareFailed")


def stuck_dra_unprepare(s: Scene, name: str, t0: datetime):
    """Deleted; its containers stopped, but the kubelet keeps it until the DRA driver unprepares its
    claim, which keeps failing: only the kubelet's log says so."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    _with_claim(pod, "single-gpu")
    stages = _to_running(s, pod, s.node("node-1"))
    pod.delete(stages.ready + 90, grace=30)
    pod.event(stages.ready + 90, "Killing", "Stopping container app")
    pod.stopped(stages.ready + 92)
    for i in range(3):
        s.kubelet_log(
            pod.at(stages.ready + 100 + 60 * i),
            "E",
            "pod_workers.go:1301",
            '"Error syncing pod, skipping" err="unprepare dynamic resources: NodeUnprepareResources failed for claim '
            f'{pod.namespace}/{pod.name}-gpu-x7k2p: rpc error: code = Unavailable desc = connection error" '
            f'pod="{pod.namespace}/{pod.name}" podUID="{pod.uid}"',
        )
    return pod, _deleted(_on_time(s, stages.ready, stages), "DRAUnprepareFailed")


# -- deletions that get stuck ----------------------------------------------------------------------------
def _running_then_deleted(s: Scene, name: str, t0: datetime, node: str = "node-1", **kwargs):
    """A healthy pod, deleted 90 s after it became Ready; returns it and its delivery truth."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, **kwargs)
    stages = _to_running(s, pod, s.node(node))
    pod.delete(stages.ready + 90, grace=30)
    pod.event(stages.ready + 90, "Killing", "Stopping container app")
    return pod, _on_time(s, stages.ready, stages)


def _deleted(delivery: Truth, stuck: str | None, gone_s: float | None = None) -> Truth:
    """The delivery truth with what became of the pod's deletion: stuck (and why), when it went."""
    return Truth(delivery.outcome, delivery.attribution, delivery.reason, stuck, gone_s)


def stuck_finalizer(s: Scene, name: str, t0: datetime):
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_finalizer("example.com/backup-protection")
    stages = _to_running(s, pod, s.node("node-1"))
    pod.delete(stages.ready + 90, grace=30)
    pod.event(stages.ready + 90, "Killing", "Stopping container app")
    pod.killed(stages.ready + 94)
    return pod, _deleted(_on_time(s, stages.ready, stages), "Finalizer")


def stuck_finalizer_released(s: Scene, name: str, t0: datetime):
    """Held an hour by a finalizer after the kubelet stopped it, then released: it counts as
    stuck for that hour, and went when the finalizer was removed (its last write)."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_finalizer("example.com/backup-protection")
    stages = _to_running(s, pod, s.node("node-1"))
    deleted = stages.ready + 90
    pod.delete(deleted, grace=30)
    pod.event(deleted, "Killing", "Stopping container app")
    pod.killed(deleted + 4)
    pod.release_finalizers(deleted + 3600, "backup-controller")
    return pod, _deleted(_on_time(s, stages.ready, stages), "Finalizer", deleted + 3600)


def stuck_node_lost_then_back(s: Scene, name: str, t0: datetime):
    """Deleted while its node was unreachable; the node came back 30 minutes later and its
    kubelet confirmed at once: stuck on the lost node, gone when it returned."""
    pod, delivery = _running_then_deleted(s, name, t0, node="node-2")
    s.node_status(pod.at(90), "node-2", "Unknown")
    back = pod.deleted_at + 1800
    s.node_status(pod.at(back), "node-2", "True")
    pod.killed(back + 2)
    pod.gone(back + 2)
    return pod, _deleted(delivery, "NodeLost", back + 2)


def prestop_past_grace(s: Scene, name: str, t0: datetime):
    """A preStop hook that outlasts its 30 s grace period: the kubelet kills the container
    2 s after it (its minimum grace) and the pod goes then. Late, but not stuck."""
    pod, delivery = _running_then_deleted(s, name, t0, prestop=True)
    gone = pod.deleted_at + 32
    pod.killed(gone, exit_code=137, phase="Failed")
    pod.gone(gone)
    return pod, _deleted(delivery, None, gone)


def stuck_force_deleted_after_node_lost(s: Scene, name: str, t0: datetime):
    """Its node lost, the pod is held Terminating for an hour until a force delete (the
    out-of-service taint, PodGC). Recorded with kubectl: no managedFields, and the force delete
    moves deletionTimestamp back to the request: it went when the stream last showed time."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace, managed_fields=False)
    stages = _to_running(s, pod, s.node("node-2"))
    s.node_status(pod.at(stages.ready + 60), "node-2", "Unknown")
    asked = stages.ready + 120
    pod.delete(asked, grace=30)
    for minute in range(1, 61):
        s.heartbeat(pod.at(asked + 60 * minute))
    pod.force_delete(asked + 3601, requested_s=asked)
    return pod, _deleted(_on_time(s, stages.ready, stages), "NodeLost", gone_s=asked + 3600)


def stuck_node_lost(s: Scene, name: str, t0: datetime):
    pod, delivery = _running_then_deleted(s, name, t0, node="node-2")
    s.node_status(pod.at(90), "node-2", "Unknown")
    return pod, _deleted(delivery, "NodeLost")


def stuck_kubelet_not_confirming(s: Scene, name: str, t0: datetime):
    pod, delivery = _running_then_deleted(s, name, t0)
    pod.event(
        pod.deleted_at + 32,
        "ExceededGracePeriod",
        "Container runtime did not kill the pod within specified grace period.",
        "Warning",
        field_path=None,
    )
    return pod, _deleted(delivery, "KubeletNotConfirming")


def stuck_volume_detach(s: Scene, name: str, t0: datetime):
    pod, delivery = _running_then_deleted(s, name, t0)
    pod.event(
        pod.deleted_at + 31,
        "FailedUnMount",
        f'UnmountVolume.TearDown failed for volume "data" (UniqueName: "kubernetes.io/csi/'
        f'ebs.csi.aws.com^vol-0a1b2c3d4e5f") pod "{pod.uid}" (UID: "{pod.uid}") : kubernetes.io/csi: '
        "Unmounter.TearDownAt failed: rpc error: code = Internal desc = Could not unmount: exit status 32",
        "Warning",
        count=9,
        until=pod.deleted_at + 300,
        field_path=None,
    )
    return pod, _deleted(delivery, "VolumeDetach")


def stuck_volume_teardown_silent(s: Scene, name: str, t0: datetime):
    """Its containers stopped, but the kubelet, waiting on the volume's teardown, records no
    Event and never confirms; the node still lists the volume in use."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    pod.add_claim("data", f"data-{name}")
    volume = f"kubernetes.io/csi/ebs.csi.aws.com^vol-{pod.uid[:12]}"
    node = s.node("node-3")
    s.node_volumes(pod.at(2), node, [volume])
    stages = _to_running(s, pod, node)
    pod.delete(stages.ready + 90, grace=30)
    pod.event(stages.ready + 90, "Killing", "Stopping container app")
    pod.stopped(stages.ready + 95)
    return pod, _deleted(_on_time(s, stages.ready, stages), "VolumeDetach")


def stuck_prestop_hang(s: Scene, name: str, t0: datetime):
    pod, delivery = _running_then_deleted(s, name, t0, prestop=True)
    return pod, _deleted(delivery, "PreStopHang")


def stuck_unknown(s: Scene, name: str, t0: datetime):
    pod, delivery = _running_then_deleted(s, name, t0)
    pod.killed(pod.deleted_at + 4)
    return pod, _deleted(delivery, "Unknown")


# -- in-place upgrades (the pod's own delivery succeeded; its image is then changed) ----------
def upgrade_in_place(s: Scene, name: str, t0: datetime):
    """The image changed on a live pod; it is Ready again well within its deadline."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"))
    at = stages.ready + 120
    pod.set_image(at, pod.image.rsplit(":", 1)[0] + ":1.4.3")
    pulled = pod.pull(at + 2, s.timing.pull_s())
    pod.start(pulled + 1, ready_at=pulled + 1 + s.timing.ready_s())
    return pod, _on_time(s, stages.ready, stages)


def upgrade_image_not_found(s: Scene, name: str, t0: datetime):
    """The image changed on a live pod to a tag that does not exist: never Ready again (the user's)."""
    pod = PodStory(s.rec, t0, name, namespace=s.namespace)
    stages = _to_running(s, pod, s.node("node-1"))
    at = stages.ready + 120
    pod.set_image(at, pod.image.rsplit(":", 1)[0] + ":1.4.99")
    _image_failure(
        pod,
        at + 2,
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{pod.image}": '
        f'failed to resolve reference "{pod.image}": {pod.image}: not found',
    )
    return pod, _on_time(s, stages.ready, stages)


Story = Callable[[Scene, str, datetime], tuple]
STORIES: dict[str, Story] = {
    f.__name__: f
    for f in (
        ok_service,
        ok_job,
        ok_job_app_fails,
        ok_after_transient_sandbox_error,
        pending,
        cancelled,
        invalid_image,
        image_not_found,
        image_auth_failed,
        container_config_error,
        volume_config_error,
        app_crash,
        app_oom,
        readiness_probe_failed,
        unschedulable_affinity,
        unschedulable_too_big,
        quota_exceeded,
        image_pull_slow,
        image_pull_error,
        insufficient_capacity,
        scheduling_delay,
        sandbox_create_failed,
        network_not_ready,
        volume_attach_failed,
        admission_rejected,
        node_not_ready,
        evicted,
        preempted,
        runtime_error,
        kubelet_no_progress,
        unknown_failure,
        stuck_finalizer,
        stuck_finalizer_released,
        stuck_node_lost,
        stuck_node_lost_then_back,
        prestop_past_grace,
        stuck_kubelet_not_confirming,
        stuck_volume_detach,
        stuck_volume_teardown_silent,
        stuck_prestop_hang,
        stuck_unknown,
        upgrade_in_place,
        upgrade_image_not_found,
        image_policy_rejected,
        kubelet_not_synced,
        dra_driver_not_registered,
        dra_prepare_failed,
        stuck_dra_unprepare,
        init_container_slow,
        init_container_crash,
        native_sidecar,
        scheduling_gated,
        scheduling_gated_deleted,
        stuck_force_deleted_after_node_lost,
        fleet_registry_typo,
        fleet_registry_dns_outage,
        fleet_config_not_found_everywhere,
    )
}
# How long after t0 the recording must run for the story to reach its verdict.
HORIZON_S = {
    "pending": 20,
    "stuck_finalizer_released": 4000,
    "stuck_node_lost_then_back": 2400,
    "stuck_force_deleted_after_node_lost": 4000,
}
DEFAULT_HORIZON_S = 2400
