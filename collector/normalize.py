"""Kubernetes objects -> raw-table rows, by plain dict access (no client models:
they are ~35x slower than JSON on the hot path). Pods, the hot kind, are in `pods.py`.

Each `*_row` returns the row as a list in the order of its table's declared columns, or
raises ObjectError naming the field that was wrong. Times are epoch ms.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from kubernetes.utils.quantity import parse_quantity

from podslo.timeutil import opt_ms, parse_ms

MAX_TEXT = 32 * 1024  # a message or label value longer than this is cut (the raw object keeps it)


class ObjectError(ValueError):
    """A value that is JSON but not a well-formed object of its kind."""


def _dict(parent: dict, key: str, where: str) -> dict:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ObjectError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return value


def _list(parent: dict, key: str, where: str) -> list:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ObjectError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def _str(parent: dict, key: str, where: str) -> str:
    value = parent.get(key)
    if type(value) is str:  # the common case, first
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ObjectError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value[:MAX_TEXT]


def timestamp(value, where: str) -> int | None:
    """An optional timestamp field -> epoch ms; ObjectError naming `where` if it is not one."""
    if not value:
        return None
    try:
        return parse_ms(value) if type(value) is str else opt_ms(value)  # the common case: one call
    except ValueError as exc:
        raise ObjectError(f"{where}: not a timestamp ({_short(value)}): {exc}") from None


def _ts(parent: dict, key: str, where: str) -> int | None:
    return timestamp(parent.get(key), f"{where}.{key}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def rv_number(text: str) -> int:
    """A resourceVersion as a number for ordering (0 when it is not one)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else 0


UINT64_MAX = 2**64 - 1


@lru_cache(maxsize=4096)
def quantity(text: str, scale: int, where: str = "quantity") -> int:
    """A resource quantity in whole units of 1/scale; 0 when it does not parse (it is
    optional). One that no resource can be (negative, beyond 64 bits) is an error."""
    try:
        value = int(parse_quantity(text) * scale)
    except (ValueError, TypeError, ArithmeticError):
        return 0
    if not 0 <= value <= UINT64_MAX:
        raise ObjectError(f"{where}: {text[:40]!r} is out of range")
    return value


def in_range(value, low: int, high: int, where: str):
    """`value` when it is None or an integer the column can hold; else an ObjectError."""
    if value is not None and not (type(value) is int and low <= value <= high):
        raise ObjectError(f"{where}: {str(value)[:40]} is out of range ({low}..{high})")
    return value


def _metadata(obj: dict, kind: str) -> dict:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ObjectError(f"{kind}.metadata: expected an object, got {type(meta).__name__}")
    return meta


def without_managed_fields(obj: dict) -> dict:
    """managedFields are bulky and never needed."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def encode_object(obj: dict) -> bytes:
    """The raw object without managedFields, as JSON (UTF-8 bytes: the store takes them as
    they are, with no decode and re-encode on the way)."""
    try:
        return orjson.dumps(without_managed_fields(obj), option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # nested past 255 levels, a lone surrogate, a value with no JSON form
        raise ObjectError(f"cannot be stored as JSON: {exc}") from None


# -- events -------------------------------------------------------------------------
def event_row(cluster: str, obj: dict, observed: int | None) -> list:
    """core/v1 Event or events.k8s.io/v1 Event (fields differ; meaning is the same)."""
    meta = _metadata(obj, "Event")
    new_api = str(obj.get("apiVersion", "")).startswith("events.k8s.io/")
    regarding = _dict(obj, "regarding" if new_api else "involvedObject", "Event")
    series = _dict(obj, "series", "Event")
    source = _dict(obj, "deprecatedSource" if new_api else "source", "Event")
    first = (
        _ts(obj, "eventTime", "Event")
        or _ts(obj, "deprecatedFirstTimestamp" if new_api else "firstTimestamp", "Event")
        or _ts(meta, "creationTimestamp", "Event.metadata")
    )
    last = (
        _ts(series, "lastObservedTime", "Event.series")
        or _ts(obj, "deprecatedLastTimestamp" if new_api else "lastTimestamp", "Event")
        or first
    )
    if first is None:
        raise ObjectError("Event: no eventTime, firstTimestamp or creationTimestamp")
    last = max(last or first, first)
    count = series.get("count") or obj.get("deprecatedCount" if new_api else "count") or 1
    if not isinstance(count, int) or isinstance(count, bool):
        raise ObjectError(f"Event.count: expected an integer, got {_short(count)}")
    uid = _str(meta, "uid", "Event.metadata") or f"{_str(meta, 'namespace', 'm')}/{_str(meta, 'name', 'm')}"
    rv_text = _str(meta, "resourceVersion", "Event.metadata")
    component = (
        (_str(obj, "reportingController", "Event") if new_api else _str(source, "component", "Event.source"))
        or _str(obj, "reportingComponent", "Event")
        or _str(source, "component", "Event.source")
    )
    host = _str(obj, "reportingInstance", "Event") if new_api else _str(source, "host", "Event.source")
    return [
        cluster,
        uid,
        rv_text,
        rv_number(rv_text),
        "events.k8s.io/v1" if new_api else "v1",
        _str(meta, "namespace", "Event.metadata"),
        _str(meta, "name", "Event.metadata"),
        _str(regarding, "kind", "Event.involvedObject"),
        _str(regarding, "namespace", "Event.involvedObject"),
        _str(regarding, "name", "Event.involvedObject"),
        _str(regarding, "uid", "Event.involvedObject"),
        _str(obj, "type", "Event"),
        _str(obj, "reason", "Event"),
        _str(obj, "note" if new_api else "message", "Event"),
        component,
        host,
        first,
        last,
        min(in_range(count, 0, UINT64_MAX, "Event.count"), 2**32 - 1),
        observed,
        last,
        encode_object(obj),
    ]


# -- nodes --------------------------------------------------------------------------
def node_row(cluster: str, obj: dict, event_type: str, observed: int | None) -> list:
    meta = _metadata(obj, "Node")
    spec = _dict(obj, "spec", "Node")
    status = _dict(obj, "status", "Node")
    name = _str(meta, "name", "Node.metadata")
    if not name:
        raise ObjectError("Node.metadata.name: missing")
    created = _ts(meta, "creationTimestamp", "Node.metadata") or 0
    conditions, latest = [], created
    for cond in _list(status, "conditions", "Node.status"):
        if not isinstance(cond, dict):
            raise ObjectError("Node.status.conditions[]: expected an object")
        since = _ts(cond, "lastTransitionTime", "Node.status.conditions[]")
        beat = _ts(cond, "lastHeartbeatTime", "Node.status.conditions[]")
        latest = max(latest, since or 0, beat or 0)
        conditions.append(
            (
                _str(cond, "type", "condition"),
                _str(cond, "status", "condition"),
                _str(cond, "reason", "condition"),
                _str(cond, "message", "condition"),
                since,
            )
        )
    alloc = _dict(status, "allocatable", "Node.status")
    taints = [
        f"{t.get('key', '')}={t.get('value', '')}:{t.get('effect', '')}"
        for t in _list(spec, "taints", "Node.spec")
        if isinstance(t, dict)
    ]
    rv_text = _str(meta, "resourceVersion", "Node.metadata")
    return [
        cluster,
        name,
        _str(meta, "uid", "Node.metadata"),
        rv_text,
        rv_number(rv_text),
        event_type,
        observed,
        latest,
        created,
        conditions,
        int(bool(spec.get("unschedulable"))),
        taints,
        quantity(str(alloc.get("cpu", "0")), 1000, "Node.status.allocatable.cpu"),
        quantity(str(alloc.get("memory", "0")), 1, "Node.status.allocatable.memory"),
        min(quantity(str(alloc.get("pods", "0")), 1, "Node.status.allocatable.pods"), 2**32 - 1),
        [v[:MAX_TEXT] for v in _list(status, "volumesInUse", "Node.status") if isinstance(v, str)],
        encode_object(obj),
    ]


# -- audit --------------------------------------------------------------------------
def audit_row(cluster: str, obj: dict, observed: int | None) -> list:
    audit_id = _str(obj, "auditID", "audit Event")
    if not audit_id:
        raise ObjectError("audit Event.auditID: missing")
    user = _dict(obj, "user", "audit Event")
    ref = _dict(obj, "objectRef", "audit Event")
    response = _dict(obj, "responseStatus", "audit Event")
    received = _ts(obj, "requestReceivedTimestamp", "audit Event")
    stage_at = _ts(obj, "stageTimestamp", "audit Event") or received
    if stage_at is None:
        raise ObjectError("audit Event: no requestReceivedTimestamp or stageTimestamp")
    code = response.get("code") or 0
    return [
        cluster,
        audit_id,
        _str(obj, "stage", "audit Event"),
        _str(obj, "verb", "audit Event"),
        _str(user, "username", "audit Event.user"),
        _str(obj, "userAgent", "audit Event"),
        _str(ref, "resource", "objectRef"),
        _str(ref, "subresource", "objectRef"),
        _str(ref, "namespace", "objectRef"),
        _str(ref, "name", "objectRef"),
        in_range(code, -(2**31), 2**31 - 1, "audit Event.responseStatus.code"),
        received or stage_at,
        stage_at,
        observed,
        encode_object(obj),
    ]
