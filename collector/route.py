"""Route one input value to the raw table its kind belongs in.

Accepts what contract 1 allows: a watch event `{type, object}`, a bare object, or a
`*List` whose items are expanded. Unknown kinds are counted, not errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from collector.normalize import ObjectError, audit_row, event_row, node_row
from collector.pods import pod_line_row, pod_row
from podslo.schema import TABLES

WATCH_TYPES = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}
_SEEN = {table: TABLES[table].columns.index("seen_at") for table in ("raw_pods", "raw_nodes", "raw_events")}
_OBSERVED = TABLES["raw_pods"].columns.index("observed_at")
CLOCK_JUMP_MS = 7 * 86400 * 1000  # a time further ahead of the stream's clock is an outlier, not the present
CHANGES = frozenset({"ADDED", "MODIFIED", "DELETED"})
Problem = Callable[[int, str], None]


@dataclass
class Tally:
    """What a stream held: taken rows by kind, skipped values by why."""

    taken: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    malformed: int = 0

    def summary(self) -> str:
        taken = ", ".join(f"{n} {k}" for k, n in sorted(self.taken.items())) or "nothing"
        text = f"taken: {taken}"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(self.skipped.items()))
        if self.malformed:
            text += f"; malformed: {self.malformed}"
        return text


class Router:
    """Routes values to raw rows. It keeps the stream's clock, the newest cluster time seen so
    far: a pod row without a receive time carries it (`stream_at`), for the moments its own
    timestamps do not show (a scheduling gate removed, a force delete: DESIGN.md, Time)."""

    def __init__(self, cluster: str, add: Callable[[str, list], None], tally: Tally, problem: Problem):
        self.cluster = cluster
        self.sink = add
        self.tally = tally
        self.problem = problem
        self.clock = 0

    def add(self, table: str, row: list) -> None:
        if table == "raw_pods" and row[_OBSERVED] is None:
            row[-1] = self.clock or None  # stream_at: the newest cluster time seen before this row
        seen = row[_SEEN[table]] if table in _SEEN else None
        if isinstance(seen, int) and self.clock < seen and (not self.clock or seen - self.clock < CLOCK_JUMP_MS):
            self.clock = seen
        self.sink(table, row)

    def route(self, line: int, data, observed: int | None) -> None:
        if isinstance(data, list):  # a bare JSON array of values (of objects: no deeper)
            for item in data:
                if isinstance(item, list):
                    self._bad(line, "an array inside the top-level array: expected objects")
                else:
                    self.route(line, item, observed)
            return
        if not isinstance(data, dict):
            self._bad(line, f"expected a JSON object, got {type(data).__name__}")
            return
        event_type = ""
        if "object" in data and isinstance(data.get("type"), str) and data["type"] in WATCH_TYPES:
            event_type, data = data["type"], data["object"]
            if event_type == "BOOKMARK":
                self.tally.skipped["bookmark"] += 1
                return
            if event_type == "ERROR":
                self.tally.skipped["watch error"] += 1
                return
            if not isinstance(data, dict):
                self._bad(line, f"watch event object: expected an object, got {type(data).__name__}")
                return
        kind = data.get("kind")
        api = data.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api, str):
            self._bad(line, "object without string kind/apiVersion")
            return
        if kind.endswith("List") and isinstance(data.get("items"), list):
            for item in data["items"]:
                if isinstance(item, dict):
                    self.route(line, item if not event_type else {"type": event_type, "object": item}, observed)
                else:
                    self._bad(line, f"{kind}.items[]: expected an object, got {type(item).__name__}")
            return
        self._one(line, api, kind, data, event_type or "ADDED", observed)

    def route_pod_lines(self, lines: list[bytes], start: int, observed: int) -> tuple[int, str]:
        """The hot path: pod watch lines from `start` on, each decoded once into its row, up
        to the first that must take `route_watched`; returns (how many, the last one's
        resourceVersion)."""
        cluster, add, rv = self.cluster, self.add, ""
        end = start
        for line in lines[start:] if start else lines:
            try:
                row = pod_line_row(cluster, line, observed)
            except ObjectError:
                break  # the general path reports it
            if row is None:
                break
            add("raw_pods", row)
            rv = row[4]
            end += 1
        self.tally.taken["Pod"] += end - start
        return end - start, rv

    def route_watched(self, event_type: str, raw: bytes, observed: int) -> str | None:
        """A watched change whose object is still JSON bytes; returns its resourceVersion
        (None when the object was unusable: counted and reported)."""
        if event_type not in CHANGES:
            self._bad(0, f"watch event of unknown type {event_type[:40]!r}")
            return None
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            self._bad(0, f"watch event object: {exc}")
            return None
        before = self.tally.malformed
        self.route(0, {"type": event_type, "object": obj}, observed)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if self.tally.malformed > before or not isinstance(meta, dict):
            return None
        return meta.get("resourceVersion")

    def _one(self, line: int, api: str, kind: str, obj: dict, event_type: str, observed) -> None:
        try:
            if kind == "Pod" and api == "v1":
                self.add("raw_pods", pod_row(self.cluster, obj, event_type, observed))
            elif kind == "Node" and api == "v1":
                self.add("raw_nodes", node_row(self.cluster, obj, event_type, observed))
            elif kind == "Event" and api.startswith("audit.k8s.io/"):
                self.add("raw_audit", audit_row(self.cluster, obj, observed))
                kind = "AuditEvent"
            elif kind == "Event" and api in ("v1", "events.k8s.io/v1", "events.k8s.io/v1beta1"):
                self.add("raw_events", event_row(self.cluster, obj, observed))
            else:
                self.tally.skipped[f"unknown kind {api}/{kind}"[:80]] += 1
                return
        except ObjectError as exc:
            self._bad(line, f"{kind} {_name(obj)}: {exc}")
            return
        self.tally.taken[kind] += 1

    def _bad(self, line: int, message: str) -> None:
        self.tally.malformed += 1
        self.problem(line, f"line {line}: {message}")


def _name(obj: dict) -> str:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        return f"{meta.get('namespace') or '-'}/{meta.get('name') or '?'}"[:120]
    return "?"
