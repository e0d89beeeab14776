"""Pod objects -> raw_pods rows: the collector's hot path.

The fields podslo reads are declared once as msgspec Structs, so a watch line is decoded
and type-checked in C straight from its bytes (unknown fields are skipped, never built
as Python objects), and a wrong type is reported with its JSON path. Replayed values,
which arrive as dicts, are converted through the same declaration.

Rows are built here rather than by ClickHouse: landing the objects in a Null table with
a materialized view (one typed JSONExtract, the rest as array expressions) was measured
at ~25 us of engine CPU a pod, against ~10 us for decode and row here.
"""

from __future__ import annotations

import msgspec

from collector.normalize import (
    MAX_TEXT,
    ObjectError,
    encode_object,
    quantity,
    rv_number,
    timestamp,
    without_managed_fields,
)
from podslo.timeutil import parse_ms as _ms  # cached; raises ValueError on a bad time

_NO_SIGNALS: list = []  # the signals column holds what older collectors derived; the analyzer derives them now


class _S(msgspec.Struct, kw_only=True, gc=False):
    """Every field optional: the apiserver omits empty ones. Decoded pods are trees
    without cycles, freed by reference counting: kept out of the garbage collector's way."""


Quantity = str | int | float


class OwnerReference(_S):
    kind: str = ""
    name: str = ""
    controller: bool | None = None


class Metadata(_S):
    uid: str = ""
    namespace: str = ""
    name: str = ""
    resourceVersion: str = ""
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    deletionGracePeriodSeconds: int | None = None
    labels: dict[str, str] | None = None
    finalizers: list[str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    managedFields: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class ManagedField(_S):
    time: str | None = None


_MANAGED_FIELDS = msgspec.json.Decoder(list[ManagedField])


class Requests(_S):
    cpu: Quantity = "0"
    memory: Quantity = "0"


class Resources(_S):
    requests: Requests | None = None


class Lifecycle(_S):
    preStop: dict | None = None


class Container(_S):
    name: str = ""
    image: str = ""
    restartPolicy: str = ""  # Always on an init container: a native sidecar
    resources: Resources | None = None
    lifecycle: Lifecycle | None = None


class ClaimSource(_S):
    claimName: str = ""


class Volume(_S):
    name: str = ""
    persistentVolumeClaim: ClaimSource | None = None
    ephemeral: dict | None = None
    # the kinds a stateless pod may have (SIG-Scalability's pod startup SLI)
    secret: dict | None = None
    configMap: dict | None = None
    downwardAPI: dict | None = None
    projected: dict | None = None
    emptyDir: dict | None = None


class Spec(_S):
    nodeName: str = ""
    schedulingGates: list[dict] | None = None
    restartPolicy: str = ""
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None
    volumes: list[Volume] | None = None


class Running(_S):
    startedAt: str | None = None


class Waiting(_S):
    reason: str = ""
    message: str = ""


class Terminated(_S):
    reason: str = ""
    message: str = ""
    exitCode: int | None = None
    startedAt: str | None = None
    finishedAt: str | None = None


class State(_S):
    running: Running | None = None
    waiting: Waiting | None = None
    terminated: Terminated | None = None


class ContainerStatus(_S):
    name: str = ""
    state: State | None = None
    lastState: State | None = None


class Condition(_S):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class Status(_S):
    phase: str = ""
    nominatedNodeName: str = ""
    reason: str = ""
    message: str = ""
    conditions: list[Condition] | None = None
    initContainerStatuses: list[ContainerStatus] | None = None
    containerStatuses: list[ContainerStatus] | None = None


class Pod(_S):
    metadata: Metadata
    spec: Spec | None = None
    status: Status | None = None


class PodEvent(_S, forbid_unknown_fields=True):
    """A watch frame holding a pod; nothing else may sit beside the object."""

    type: str = ""
    object: Pod | None = None


_POD_EVENT = msgspec.json.Decoder(PodEvent)
# the apiserver's compact frame: the object's bytes lie between one of these and the last brace
_FRAMES = {t: f'{{"type":"{t}","object":'.encode() for t in ("ADDED", "MODIFIED", "DELETED")}
_ANY_FRAME = tuple(_FRAMES.values())


def pod_row(cluster: str, obj: dict, event_type: str, observed: int | None) -> list:
    """A pod as a dict (replayed, listed, or a watch line in an unusual frame) -> row."""
    meta = obj.get("metadata")
    managed = meta.get("managedFields") if event_type == "DELETED" and isinstance(meta, dict) else None
    obj = without_managed_fields(obj)
    try:
        pod = msgspec.convert(obj, Pod)
    except msgspec.ValidationError as exc:
        raise ObjectError(_explain(exc)) from None
    row = _row(
        cluster, pod, event_type, observed, last_write=_last_write(msgspec.json.encode(managed)) if managed else None
    )
    row += (encode_object(obj), None)  # stream_at: the router's clock sets it
    return row


def pod_line_row(cluster: str, line: bytes, observed: int | None) -> list | None:
    """A pod watch line in the apiserver's compact frame -> row, decoding the line once.

    None when the line needs the general path (another frame, a bookmark, an error, a
    pod that does not decode), which also reports what was wrong with it.
    """
    if not line.startswith(_ANY_FRAME) or not line.endswith(b"}"):
        return None
    try:
        event = _POD_EVENT.decode(line)
    except msgspec.DecodeError:
        return None
    pod, frame = event.object, _FRAMES.get(event.type)
    if pod is None or frame is None or not line.startswith(frame):
        return None  # e.g. a repeated "type" key
    managed = pod.metadata.managedFields if event.type == "DELETED" else None
    row = _row(
        cluster,
        pod,
        event.type,
        observed,
        short=len(line) <= MAX_TEXT,
        last_write=_last_write(managed) if managed else None,
    )
    row += (_without_managed_fields(line, len(frame), len(line) - 1, pod.metadata), None)  # stream_at: the router's
    return row


def _without_managed_fields(line: bytes, start: int, stop: int, meta: Metadata) -> bytes:
    """The object (`line[start:stop]`) with `"managedFields":[...]` cut out of its bytes,
    instead of re-encoding it; one copy.

    The pattern cannot occur inside a JSON string (its quotes would be escaped), so the
    one match is the member itself; compact JSON (as the apiserver writes) always matches.
    """
    value = meta.managedFields
    if not value:
        return line[start:stop]
    at = line.find(_MANAGED_KEY, start, stop)
    end = at + len(_MANAGED_KEY) + len(value)
    if at < 0 or not line.startswith(value, at + len(_MANAGED_KEY)):  # spaced out: the slow way
        return encode_object(msgspec.json.decode(line[start:stop]))
    if line[at - 1] == 44:  # a comma before: the member is not the first
        at -= 1
    elif line[end] == 44:
        end += 1
    view = memoryview(line)
    return b"".join((view[start:at], view[end:stop]))


_MANAGED_KEY = b'"managedFields":'


def _last_write(managed: bytes) -> int | None:
    """When the object was last written, by the cluster's own record: the newest
    `managedFields[].time` of its JSON (what a deleted pod's timestamps alone cannot tell:
    when the finalizer that held it was removed). None when they are unreadable: they are
    optional. Read for deletions only, off the common path."""
    try:
        times = [_ms(entry.time) for entry in _MANAGED_FIELDS.decode(managed) if entry.time]
    except (msgspec.DecodeError, ValueError):
        return None
    return max(times) if times else None


_EXPECTED = {
    "`object`": "an object",
    "`array`": "a list",
    "`str`": "a string",
    "`int`": "an integer",
    "`str | null`": "a string",
    "`int | null`": "an integer",
    "`object | null`": "an object",
    "`array | null`": "a list",
    "`bool | null`": "a boolean",
}


def _explain(exc: msgspec.ValidationError) -> str:
    """`Expected `array`, got `object` - at `$.spec.containers`` -> `Pod.spec.containers: expected a list, got object`."""
    text = str(exc)
    what, _, where = text.partition(" - at `$")
    where = "Pod" + where.rstrip("`")
    if what.startswith("Expected "):
        expected, _, got = what[len("Expected ") :].partition(", got ")
        return f"{where}: expected {_EXPECTED.get(expected, expected.strip('`'))}, got {got.strip('`')}"
    return f"{where}: {what[:1].lower()}{what[1:]}"


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]


def _as_is(value: str) -> str:
    return value


def _row(
    cluster: str, pod: Pod, event_type: str, observed: int | None, short: bool = False, last_write: int | None = None
) -> list:
    """The row but its last column (the object). Times are read by the cached parser
    directly; a time that does not parse is then looked for field by field, so the error
    names it. `short`: the pod came in fewer than MAX_TEXT bytes, so none of its strings
    needs cutting."""
    try:
        return _fast_row(cluster, pod, event_type, observed, short, last_write)
    except ObjectError:
        raise
    except ValueError as exc:
        _name_the_bad_time(pod)
        raise ObjectError(f"Pod: {exc}") from None


def _fast_row(
    cluster: str, pod: Pod, event_type: str, observed: int | None, short: bool, last_write: int | None
) -> list:
    """What the pod says, as the cluster said it; which of it is a signal is the analyzer's call.

    A condition in its normal state (True, no reason) and a running container add nothing
    but their times, which the time columns hold; every other condition and container
    state is kept as it was written."""
    meta = pod.metadata
    spec = pod.spec or _NO_SPEC
    status = pod.status or _NO_STATUS
    if not meta.uid:
        raise ObjectError("Pod.metadata.uid: missing")
    if not meta.creationTimestamp:
        raise ObjectError("Pod.metadata.creationTimestamp: missing")
    created = _ms(meta.creationTimestamp)
    text = _as_is if short else _text
    containers, running, started, latest, init_started = _container_states(status, text, _sidecars(spec))
    if created > latest:
        latest = created
    true_since: dict[str, int | None] = {}
    conditions = []
    ready = ""
    for c in status.conditions or ():
        at = _ms(c.lastTransitionTime) if c.lastTransitionTime else None
        if at is not None and at > latest:
            latest = at
        if c.status == "True":
            true_since[c.type] = at
        if c.type == "Ready":
            ready = c.status
        if c.status != "True" or c.reason:
            conditions.append((text(c.type), text(c.status), text(c.reason), text(c.message), at))
    cpu, memory = _requests(spec)
    labels = meta.labels or {}
    if not short and labels and (max(map(len, labels.values())) > MAX_TEXT or max(map(len, labels)) > MAX_TEXT):
        labels = {k[:MAX_TEXT]: v[:MAX_TEXT] for k, v in labels.items()}
    owner_kind, owner_name = _owner(meta.ownerReferences)
    return [
        cluster,
        meta.uid,
        meta.namespace,
        meta.name if short else _text(meta.name),
        meta.resourceVersion,
        rv_number(meta.resourceVersion),
        event_type,
        observed,
        latest,
        created,
        _ms(meta.deletionTimestamp) if meta.deletionTimestamp else None,
        _grace(meta.deletionGracePeriodSeconds),
        spec.nodeName,
        status.phase,
        owner_kind,
        owner_name,
        spec.restartPolicy or "Always",
        labels,
        meta.finalizers or [],
        _has_prestop(spec),
        cpu,
        memory,
        true_since.get("PodScheduled"),
        true_since.get("PodReadyToStartContainers") or true_since.get("PodHasNetwork"),
        ready,
        true_since.get("Ready"),
        started,
        _NO_SIGNALS,
        last_write,
        _text(status.reason),
        _text(status.message),
        conditions,
        _claims(meta.name, spec),
        containers,
        running,
        [text(c.image) for c in spec.containers or ()],
        init_started,
        true_since.get("Initialized") if init_started is not None else None,
        _gated(spec, status),
        _run_at(spec, status),
        _stateless(spec),
        int(bool(status.nominatedNodeName)),
    ]


def _name_the_bad_time(pod: Pod) -> None:
    """Raise ObjectError naming the first time field that is not a timestamp."""
    meta, status = pod.metadata, pod.status or _NO_STATUS
    timestamp(meta.creationTimestamp, "Pod.metadata.creationTimestamp")
    timestamp(meta.deletionTimestamp, "Pod.metadata.deletionTimestamp")
    for c in status.conditions or ():
        timestamp(c.lastTransitionTime, "Pod.status.conditions[].lastTransitionTime")
    for where, statuses in (
        ("initContainerStatuses", status.initContainerStatuses),
        ("containerStatuses", status.containerStatuses),
    ):
        for cs in statuses or ():
            for state in (cs.state, cs.lastState):
                if state is not None and state.running is not None:
                    timestamp(state.running.startedAt, f"Pod.status.{where}[].running.startedAt")
                if state is not None and state.terminated is not None:
                    timestamp(state.terminated.startedAt, f"Pod.status.{where}[].terminated.startedAt")
                    timestamp(state.terminated.finishedAt, f"Pod.status.{where}[].terminated.finishedAt")


_NO_SPEC, _NO_STATUS = Spec(), Status()


def _owner(owners: list[OwnerReference] | None) -> tuple[str, str]:
    if not owners:
        return "", ""
    for owner in owners:
        if owner.controller:
            return owner.kind, owner.name
    return owners[0].kind, owners[0].name


def _claims(pod_name: str, spec: Spec) -> list[str]:
    """The PersistentVolumeClaims the pod mounts (a generic ephemeral volume's claim is
    named `<pod>-<volume>`)."""
    claims = []
    for volume in spec.volumes or ():
        if volume.persistentVolumeClaim is not None and volume.persistentVolumeClaim.claimName:
            claims.append(_text(volume.persistentVolumeClaim.claimName))
        elif volume.ephemeral is not None:
            claims.append(_text(f"{pod_name}-{volume.name}"))
    return claims


def _run_at(spec: Spec, status: Status) -> int | None:
    """When a Running pod's containers had all started (the latest start; clusterloader2's
    "run"), None until they all have."""
    if status.phase != "Running" or not spec.containers:
        return None
    starts = {}
    for cs in status.containerStatuses or ():
        state = cs.state
        begun = state and (
            (state.running and state.running.startedAt) or (state.terminated and state.terminated.startedAt)
        )
        if begun:
            starts[cs.name] = _ms(begun)
    if len(starts) < len(spec.containers) or not all(starts.values()):
        return None
    return max(starts.values())


_STATELESS_KINDS = ("secret", "configMap", "downwardAPI", "projected", "emptyDir")


def _stateless(spec: Spec) -> int:
    """1 when every volume is a secret, configMap, downwardAPI, projected or emptyDir one."""
    return int(all(any(getattr(v, kind) is not None for kind in _STATELESS_KINDS) for v in spec.volumes or ()))


def _gated(spec: Spec, status: Status) -> int:
    """1 while scheduling gates hold the pod (its spec says so, or the scheduler's condition)."""
    if spec.schedulingGates:
        return 1
    return int(
        any(
            c.type == "PodScheduled" and c.reason == "SchedulingGated" and c.status == "False"
            for c in status.conditions or ()
        )
    )


def _has_prestop(spec: Spec) -> int:
    for container in spec.containers or ():
        if container.lifecycle is not None and container.lifecycle.preStop:
            return 1
    return 0


SIDECAR = 2  # `init` of a native sidecar's state (an init container with restartPolicy Always)


def _sidecars(spec: Spec) -> frozenset[str]:
    return frozenset(c.name for c in spec.initContainers or () if c.restartPolicy == "Always")


def _container_states(status: Status, text, sidecars: frozenset[str] = frozenset()):
    """(container states, containers running, first container start, newest time seen,
    first start of an init container).

    A state is (name, init, last, state, reason, message, exit code, started, finished); a
    running one gives only its start. `init` is 1 for an init container, SIDECAR for a native
    sidecar (which runs beside the containers, so its start counts as theirs), else 0."""
    states: list[tuple] = []
    starts: list[int] = []
    init_starts: list[int] = []
    latest = running_now = 0
    for init, statuses in ((1, status.initContainerStatuses), (0, status.containerStatuses)):
        for cs in statuses or ():
            kind = SIDECAR if init and cs.name in sidecars else init
            begins = init_starts if kind == 1 else starts
            for last, state in ((0, cs.state), (1, cs.lastState)):
                if state is None:
                    continue
                running, waiting, terminated = state.running, state.waiting, state.terminated
                if running is not None:
                    running_now += not last
                    if running.startedAt:
                        begins.append(_ms(running.startedAt))
                if waiting is not None:
                    states.append(
                        (
                            text(cs.name),
                            kind,
                            last,
                            "waiting",
                            text(waiting.reason),
                            text(waiting.message),
                            None,
                            None,
                            None,
                        )
                    )
                if terminated is not None:
                    begun = _ms(terminated.startedAt) if terminated.startedAt else None
                    if begun:
                        begins.append(begun)
                    finished = _ms(terminated.finishedAt) if terminated.finishedAt else None
                    if finished and finished > latest:
                        latest = finished
                    states.append(
                        (
                            text(cs.name),
                            kind,
                            last,
                            "terminated",
                            text(terminated.reason),
                            text(terminated.message),
                            _exit_code(terminated.exitCode),
                            begun,
                            finished,
                        )
                    )
    starts = [moment for moment in starts if moment]  # 1970-01-01T00:00:00Z: a zeroed time, no start
    init_starts = [moment for moment in init_starts if moment]
    first_init = min(init_starts) if init_starts else None
    latest = max(latest, *init_starts) if init_starts else latest
    if not starts:
        return states, running_now, None, latest, first_init
    return states, running_now, min(starts), max(latest, max(starts)), first_init


def _grace(seconds: int | None) -> int | None:
    if seconds is not None and not -(2**63) <= seconds < 2**63:
        raise ObjectError(f"Pod.metadata.deletionGracePeriodSeconds: {seconds} is out of range")
    return seconds


def _exit_code(code: int | None) -> int | None:
    if code is not None and not -(2**63) <= code < 2**63:
        raise ObjectError(f"Pod.status.containerStatuses[].terminated.exitCode: {code} is out of range")
    return code


def _requests(spec: Spec) -> tuple[int, int]:
    """Effective pod request: max(sum of containers, largest init container)."""
    containers = spec.containers or ()
    if len(containers) == 1 and not spec.initContainers:  # the usual
        return _container_requests(containers[0])
    cpu = memory = init_cpu = init_memory = 0
    for container in containers:
        c, m = _container_requests(container)
        cpu, memory = cpu + c, memory + m
    for container in spec.initContainers or ():
        c, m = _container_requests(container)
        init_cpu, init_memory = max(init_cpu, c), max(init_memory, m)
    return max(cpu, init_cpu), max(memory, init_memory)


def _container_requests(container: Container) -> tuple[int, int]:
    requests = container.resources and container.resources.requests
    if requests is None:
        return 0, 0
    return (
        quantity(str(requests.cpu), 1000, "Pod.spec.containers[].resources.requests.cpu"),
        quantity(str(requests.memory), 1, "Pod.spec.containers[].resources.requests.memory"),
    )
