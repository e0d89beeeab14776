"""Server-side printing (meta.k8s.io/v1 Table), which kubectl asks for by default."""

from __future__ import annotations

from datetime import UTC, datetime

COLUMNS = {
    "pods": ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"],
    "nodes": ["Name", "Status", "Roles", "Age", "Version"],
    "events": ["Last Seen", "Type", "Reason", "Object", "Message"],
    "namespaces": ["Name", "Status", "Age"],
}
WIDE = {"IP", "Node"}


NOW = {"at": datetime.now(UTC)}  # the simulated clock, set by table_for


def _age(stamp: str | None) -> str:
    if not stamp:
        return "<unknown>"
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    seconds = int((NOW["at"] - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _pod_cells(pod: dict) -> list:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = pod.get("status", {}).get("reason") or pod.get("status", {}).get("phase", "")
    for c in statuses:
        state = c.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    containers = len(pod.get("spec", {}).get("containers") or []) or len(statuses)
    return [
        pod["metadata"]["name"],
        f"{ready}/{containers}",
        reason,
        sum(c.get("restartCount", 0) for c in statuses),
        _age(pod["metadata"].get("creationTimestamp")),
        pod.get("status", {}).get("podIP", "<none>"),
        pod.get("spec", {}).get("nodeName", "<none>"),
    ]


def _node_cells(node: dict) -> list:
    ready = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), {})
    state = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "NotReady")
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    return [
        node["metadata"]["name"],
        state,
        "<none>",
        _age(node["metadata"].get("creationTimestamp")),
        node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
    ]


def _event_cells(event: dict) -> list:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    last = event.get("lastTimestamp") or event.get("deprecatedLastTimestamp") or event.get("eventTime")
    return [
        _age(last),
        event.get("type", ""),
        event.get("reason", ""),
        f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
        event.get("message") or event.get("note", ""),
    ]


def _namespace_cells(ns: dict) -> list:
    return [
        ns["metadata"]["name"],
        ns.get("status", {}).get("phase", "Active"),
        _age(ns["metadata"].get("creationTimestamp")),
    ]


CELLS = {"pods": _pod_cells, "nodes": _node_cells, "events": _event_cells, "namespaces": _namespace_cells}


def table_for(resource: str, items: list[dict], meta: dict, now: datetime | None = None) -> dict:
    NOW["at"] = now or datetime.now(UTC)
    columns = [
        {
            "name": name,
            "type": "integer" if name == "Restarts" else "string",
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": 1 if name in WIDE else 0,
        }
        for name in COLUMNS[resource]
    ]
    rows = [
        {
            "cells": CELLS[resource](obj),
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]},
        }
        for obj in items
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
