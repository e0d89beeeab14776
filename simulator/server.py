"""The simulated cluster's Kubernetes API: discovery, list (with paging and selectors),
watch (resourceVersion, bookmarks, timeouts, 410 Gone), get, create and delete of pods,
server-side Table output for kubectl, and the truth beside it under /simulator/v1.

Lists and watches come in the forms an apiserver serves, each of which can be turned off
to play an older or a struggling one (`forms`):
- "paged": a consistent list (no resourceVersion), page by page from a snapshot, as etcd;
- "cache": `resourceVersion=0`, answered whole from the watch cache (limit ignored);
- "streaming": a watch with `sendInitialEvents=true` (WatchList): the current objects as
  ADDED events, then a BOOKMARK annotated `k8s.io/initial-events-end`, then the changes.
What was served is counted by verb and form, requests and bytes (/simulator/v1/served).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import collections
import threading
import time
from datetime import UTC, datetime

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from podslo.webserver import free_port, serve_app_in_thread
from simulator.engine import Engine
from simulator.printing import table_for
from simulator.selectors import matches_fields, matches_labels, parse_fields, parse_labels

JSON = "application/json"
CORE = {
    "pods": ("Pod", True, ["po"]),
    "nodes": ("Node", False, ["no"]),
    "events": ("Event", True, ["ev"]),
    "namespaces": ("Namespace", False, ["ns"]),
}
BOOKMARK_EVERY_S = 1.0
TOO_LARGE_WAIT_S = 3.0
POLL_S = 0.05
LIST_SNAPSHOTS = 16  # paged lists in flight whose later pages can still be answered
FORMS = ("paged", "cache", "streaming")
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class Clock:
    """Moves the engine's clock forward at `speed` times wall time, in a thread; with `for_s`,
    it stops that many cluster seconds after the start (the cluster then stays as it is)."""

    def __init__(self, engine: Engine, speed: float, for_s: float | None = None):
        self.engine, self.speed = engine, speed
        self.wall0, self.sim0 = time.monotonic(), engine.now_ms
        self.end = None if for_s is None else self.sim0 + int(for_s * 1000)
        self.stop = threading.Event()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(POLL_S):
            at = self.sim0 + int((time.monotonic() - self.wall0) * 1000 * self.speed)
            if self.end is not None and at >= self.end:
                self.engine.advance(self.end)
                self.ended.set()
                return
            self.engine.advance(at)


def _page(keys: list, start: int, limit: int, wanted) -> tuple[list, int]:
    """Up to `limit` wanted keys from `start` on (all when limit is 0), and the index to go on
    from: past the last key looked at, or len(keys) when no wanted key is left."""
    page, at = [], start
    while at < len(keys) and (not limit or len(page) < limit):
        if wanted(keys[at]):
            page.append(keys[at])
        at += 1
    while at < len(keys) and not wanted(keys[at]):
        at += 1
    return page, at


# Query parameters that must be whole numbers, and their ranges (as the apiserver's decoding
# and validation refuse the rest with 400).
_INT_PARAMS = {"limit": (0, 2**63 - 1), "timeoutSeconds": (0, 2**63 - 1), "gracePeriodSeconds": (0, 2**63 - 1)}


def _bad_params(query) -> Response | None:
    for name, (low, high) in _INT_PARAMS.items():
        value = query.get(name)
        if value is None or value == "":
            continue
        try:
            number = int(value)
        except ValueError:
            return status(400, "BadRequest", f"{name}: Invalid value: {value[:40]!r}: must be an integer")
        if not low <= number <= high:
            return status(400, "BadRequest", f"{name}: Invalid value: {number}: must be between {low} and {high}")
    rv = query.get("resourceVersion", "")
    if rv and not (rv.isascii() and rv.isdigit()):
        return status(400, "BadRequest", f"resourceVersion: Invalid value: {rv[:40]!r}")
    return None


def _invalid_pod(body: dict) -> str | None:
    """What makes a Pod body undecodable, as the apiserver says it (None: it decodes)."""
    for field, kind in (("metadata", dict), ("spec", dict), ("status", dict)):
        if field in body and not isinstance(body[field], kind):
            return f'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal {type(body[field]).__name__} into Go struct field Pod.{field}'
    spec = body.get("spec") or {}
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        return 'Pod "" is invalid: spec.containers: Required value'
    return None


def _json(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


def status(code: int, reason: str, message: str, **details) -> Response:
    return _json(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        },
        code,
    )


def core_event(ev: dict) -> dict:
    """An events.k8s.io/v1 Event as core/v1 serves it (one storage, two views)."""
    if ev["apiVersion"] == "v1":
        return ev
    series = ev.get("series") or {}
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": ev["metadata"],
        "involvedObject": ev.get("regarding", {}),
        "reason": ev.get("reason", ""),
        "message": ev.get("note", ""),
        "type": ev.get("type", ""),
        "source": ev.get("deprecatedSource") or {"component": ev.get("reportingController", "")},
        "firstTimestamp": ev.get("deprecatedFirstTimestamp"),
        "lastTimestamp": ev.get("deprecatedLastTimestamp"),
        "count": ev.get("deprecatedCount") or series.get("count"),
        "eventTime": ev.get("eventTime"),
        "reportingComponent": ev.get("reportingController", ""),
        "reportingInstance": ev.get("reportingInstance", ""),
        "action": ev.get("action", ""),
    }


def new_event(ev: dict) -> dict:
    """A core/v1 Event as events.k8s.io/v1 serves it."""
    if ev["apiVersion"] != "v1":
        return ev
    first = ev.get("eventTime") or (ev.get("firstTimestamp") or "").replace("Z", ".000000Z")
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": ev["metadata"],
        "eventTime": first,
        "reportingController": ev.get("reportingComponent") or ev.get("source", {}).get("component", ""),
        "reportingInstance": ev.get("reportingInstance") or ev.get("source", {}).get("host", ""),
        "action": ev.get("action", ""),
        "reason": ev.get("reason", ""),
        "note": ev.get("message", ""),
        "type": ev.get("type", ""),
        "regarding": ev.get("involvedObject", {}),
        "deprecatedSource": ev.get("source", {}),
        "deprecatedFirstTimestamp": ev.get("firstTimestamp"),
        "deprecatedLastTimestamp": ev.get("lastTimestamp"),
        "deprecatedCount": ev.get("count"),
    }


class Api:
    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 0, forms: tuple[str, ...] = FORMS):
        self.engine, self.address, self.forms = engine, f"{host}:{port}", frozenset(forms)
        # (resource, rv) -> the objects as they were when a paged list began: later pages
        # answer from it, as the apiserver answers them from etcd at the first page's revision
        self.snapshots: collections.OrderedDict = collections.OrderedDict()
        self.served: collections.Counter = collections.Counter()  # (verb, form, "requests"|"bytes") -> n
        self.agents: collections.Counter = collections.Counter()  # User-Agent -> requests

    def _count(self, request: Request, verb: str, form: str, size: int = 0) -> None:
        self.served[(verb, form, "requests")] += 1
        self.served[(verb, form, "bytes")] += size
        self.agents[request.headers.get("user-agent", "")] += 1

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.engine.now_ms / 1000, UTC)

    # -- discovery ---------------------------------------------------------------------------------
    async def version(self, request: Request) -> Response:
        return _json(
            {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.2-podslo-sim",
                "gitCommit": "podslo",
                "gitTreeState": "clean",
                "buildDate": "2026-03-01T00:00:00Z",
                "goVersion": "go1.22.8",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def api(self, request: Request) -> Response:
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.address}],
            }
        )

    async def apis(self, request: Request) -> Response:
        group = {
            "name": "events.k8s.io",
            "versions": [{"groupVersion": "events.k8s.io/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "events.k8s.io/v1", "version": "v1"},
        }
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})

    @staticmethod
    def _resource_list(group_version: str, names: list[str]) -> Response:
        resources = []
        for name in names:
            kind, namespaced, short = CORE[name]
            verbs = ["create", "delete", "get", "list", "watch"] if name == "pods" else ["get", "list", "watch"]
            resources.append(
                {
                    "name": name,
                    "singularName": kind.lower(),
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": verbs,
                    "shortNames": short if group_version == "v1" else [],
                }
            )
        return _json(
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
        )

    # -- routing -------------------------------------------------------------------------------------
    async def core(self, request: Request) -> Response:
        parts = [p for p in request.path_params["path"].split("/") if p]
        if parts[:1] != ["v1"]:
            return status(404, "NotFound", f"the server could not find the requested resource ({request.url.path})")
        return await self._dispatch(request, parts[1:], new_api=False)

    async def group(self, request: Request) -> Response:
        parts = [p for p in request.path_params["path"].split("/") if p]
        if parts[:2] != ["events.k8s.io", "v1"]:
            return status(404, "NotFound", f"the server could not find the requested resource ({request.url.path})")
        return await self._dispatch(request, parts[2:], new_api=True)

    async def _dispatch(self, request: Request, parts: list[str], new_api: bool) -> Response:
        allowed = ["events"] if new_api else list(CORE)
        if not parts:
            return self._resource_list("events.k8s.io/v1" if new_api else "v1", allowed)
        namespace = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        resource, name = parts[0], (parts[1] if len(parts) > 1 else None)
        if resource not in allowed or len(parts) > 2 or (namespace and not CORE[resource][1]):
            return status(404, "NotFound", f"the server could not find the requested resource ({request.url.path})")
        refused = _bad_params(request.query_params)
        if refused:
            return refused
        if request.method == "POST" and resource == "pods" and namespace and not name:
            return await self._create(request, namespace)
        if request.method == "DELETE" and resource == "pods" and namespace and name:
            return await self._delete(request, namespace, name)
        if request.method != "GET":
            return status(405, "MethodNotAllowed", f"{request.method} is not supported on {resource}")
        view = (new_event if new_api else core_event) if resource == "events" else (lambda o: o)
        as_table = "as=Table" in request.headers.get("accept", "")
        if name:
            return self._get(resource, namespace or "", name, view, as_table)
        query = request.query_params
        try:
            labels, fields = parse_labels(query.get("labelSelector", "")), parse_fields(query.get("fieldSelector", ""))
        except ValueError as exc:
            return status(400, "BadRequest", str(exc))
        if new_api:  # events.k8s.io field names map onto the stored core fields
            fields = [(f.replace("regarding.", "involvedObject."), op, v) for f, op, v in fields]

        def wanted(obj: dict) -> bool:
            meta = obj["metadata"]
            if namespace and meta.get("namespace") != namespace:
                return False
            target = core_event(obj) if resource == "events" else obj
            return matches_labels(meta.get("labels") or {}, labels) and matches_fields(target, fields)

        if query.get("watch") in ("true", "1"):
            return self._watch(request, resource, wanted, view, as_table)
        if query.get("resourceVersion") == "0" and not query.get("continue"):
            if "cache" not in self.forms:
                return status(504, "Timeout", "Timeout: Too large resource version list from the watch cache")
            return self._counted(request, "list", "cache", self._list(request, resource, wanted, view, as_table, 0))
        if "paged" not in self.forms:
            return status(429, "TooManyRequests", "storage is overloaded, please try again later")
        return self._counted(request, "list", "paged", self._list(request, resource, wanted, view, as_table))

    def _counted(self, request: Request, verb: str, form: str, response: Response) -> Response:
        self._count(request, verb, form, len(response.body))
        return response

    # -- reads ---------------------------------------------------------------------------------------
    def _get(self, resource: str, namespace: str, name: str, view, as_table: bool) -> Response:
        with self.engine.lock:
            obj = self.engine.objects[resource].get((namespace, name))
        if obj is None:
            return status(404, "NotFound", f'{resource} "{name}" not found', name=name, kind=resource)
        if as_table:
            return _json(
                table_for(resource, [view(obj)], {"resourceVersion": obj["metadata"]["resourceVersion"]}, self._now())
            )
        return _json(view(obj))

    def _list(
        self, request: Request, resource: str, wanted, view, as_table: bool, limit: int | None = None
    ) -> Response:
        """A list; `limit` None: the query's (paged), 0: whole (the watch cache ignores it)."""
        query = request.query_params
        limit = int(query.get("limit") or 0) if limit is None else limit
        after, token = None, {}
        if query.get("continue"):
            try:
                token = orjson.loads(base64.urlsafe_b64decode(query["continue"]))
                after = tuple(token["after"])
            except (ValueError, KeyError, TypeError):
                return status(400, "BadRequest", "invalid continue token")
        with self.engine.lock:
            if after is None:
                rv, objects = self.engine.rv, self.engine.objects[resource]
                keys, start = sorted(objects), 0
            else:
                rv, (objects, keys) = token["rv"], self.snapshots.get((resource, token["rv"]), (None, None))
                if objects is None or rv < self.engine.log_first_rv - 1:  # forgotten, or compacted
                    return status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a "
                        "consistent list result. You can start a new list without the continue parameter.",
                    )
                start = bisect.bisect_right(keys, after)
            page, end = _page(keys, start, limit, lambda k: wanted(objects[k]))
            items = [view(objects[k]) for k in page]
            if after is None and end < len(keys):
                self._keep_snapshot((resource, rv), (dict(objects), keys))
        meta = {"resourceVersion": str(rv)}
        if end < len(keys):
            meta["continue"] = base64.urlsafe_b64encode(orjson.dumps({"rv": rv, "after": page[-1]})).decode()
            meta["remainingItemCount"] = len(keys) - end  # an estimate, as the apiserver's
        if as_table:
            return _json(table_for(resource, items, meta, self._now()))
        kind = CORE[resource][0]
        api_version = (
            items[0]["apiVersion"] if items else ("events.k8s.io/v1" if "events.k8s.io" in request.url.path else "v1")
        )
        return _json({"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta, "items": items})

    def _keep_snapshot(self, key: tuple[str, int], snapshot: tuple[dict, list]) -> None:
        """Objects are replaced, never changed in place, so a shallow copy (with its sorted
        keys, for later pages to bisect) is a snapshot."""
        self.snapshots[key] = snapshot
        self.snapshots.move_to_end(key)
        while len(self.snapshots) > LIST_SNAPSHOTS:
            self.snapshots.popitem(last=False)

    def _watch(self, request: Request, resource: str, wanted, view, as_table: bool) -> Response:
        query = request.query_params
        engine = self.engine
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        start = query.get("resourceVersion") or "0"
        initial = query.get("sendInitialEvents") in ("true", "1")
        if initial:
            refused = self._refuse_streaming(query, bookmarks)
            if refused:
                return refused
            start = "0" if start == "0" or not start.isdigit() or int(start) <= engine.rv else start
        form = "streaming" if initial else "watch"

        def line(kind: str, obj: dict) -> bytes:
            body = view(obj)
            if as_table:
                body = table_for(
                    resource, [body], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, self._now()
                )
            return orjson.dumps({"type": kind, "object": body}) + b"\n"

        def gone(rv: int) -> bytes:
            return (
                orjson.dumps(
                    {
                        "type": "ERROR",
                        "object": {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "metadata": {},
                            "status": "Failure",
                            "reason": "Expired",
                            "code": 410,
                            "message": f"too old resource version: {rv} ({engine.log_first_rv - 1})",
                        },
                    }
                )
                + b"\n"
            )

        def too_large(rv: int) -> bytes:
            """A resourceVersion this cluster has not reached (it was rebuilt, say)."""
            return (
                orjson.dumps(
                    {
                        "type": "ERROR",
                        "object": {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "metadata": {},
                            "status": "Failure",
                            "reason": "Timeout",
                            "code": 504,
                            "message": f"Too large resource version: {rv}, current: {engine.rv}",
                            "details": {
                                "causes": [
                                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                                ]
                            },
                        },
                    }
                )
                + b"\n"
            )

        def initial_events_end(rv: int) -> bytes:
            return (
                orjson.dumps(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": CORE[resource][0],
                            "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(rv), "annotations": {INITIAL_EVENTS_END: "true"}},
                        },
                    }
                )
                + b"\n"
            )

        async def stream():
            ends = time.monotonic() + timeout
            if start == "0":
                with engine.lock:
                    cursor = engine.rv
                    snapshot = [o for _, o in sorted(engine.objects[resource].items()) if wanted(o)]
                for at in range(0, len(snapshot), 500):
                    yield b"".join(line("ADDED", obj) for obj in snapshot[at : at + 500])
                if initial:
                    yield initial_events_end(cursor)
            else:
                cursor = int(start) if start.isdigit() else 0
                waited = time.monotonic() + TOO_LARGE_WAIT_S  # as the apiserver's watch cache waits
                while cursor > engine.rv and time.monotonic() < waited:
                    await asyncio.sleep(POLL_S)
                if cursor > engine.rv:
                    yield too_large(cursor)
                    return
            marked = time.monotonic()
            while time.monotonic() < ends:
                with engine.lock:
                    first = engine.log_first_rv
                    if cursor + 1 < first:
                        yield gone(cursor)
                        return
                    batch = engine.log[cursor + 1 - first :]
                    cursor = engine.rv
                out = [line(kind, obj) for _, res, kind, obj in batch if res == resource and wanted(obj)]
                if out:
                    yield b"".join(out)
                if bookmarks and time.monotonic() - marked >= BOOKMARK_EVERY_S:
                    marked = time.monotonic()
                    kind = CORE[resource][0]
                    yield (
                        orjson.dumps(
                            {
                                "type": "BOOKMARK",
                                "object": {
                                    "kind": kind,
                                    "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(cursor)},
                                },
                            }
                        )
                        + b"\n"
                    )
                if await request.is_disconnected():
                    return
                await asyncio.sleep(POLL_S)

        self._count(request, "watch", form)

        async def counted():
            async for chunk in stream():
                self.served[("watch", form, "bytes")] += len(chunk)
                yield chunk

        return StreamingResponse(counted(), media_type=JSON)

    def _refuse_streaming(self, query, bookmarks: bool) -> Response | None:
        """What the apiserver answers a streaming list it will not serve."""
        if "streaming" not in self.forms:
            return status(
                422,
                "Invalid",
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch "
                "unless the WatchList feature gate is enabled",
            )
        if query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks:
            return status(
                422,
                "Invalid",
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                "resourceVersionMatch to NotOlderThan and allowWatchBookmarks",
            )
        return None

    # -- writes --------------------------------------------------------------------------------------
    async def _create(self, request: Request, namespace: str) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return status(400, "BadRequest", f"invalid JSON: {exc}")
        if not isinstance(body, dict) or body.get("kind") not in (None, "Pod"):
            return status(400, "BadRequest", "expected a Pod")
        invalid = _invalid_pod(body)
        if invalid:
            return status(400, "BadRequest", invalid)
        if ("", namespace) not in self.engine.objects["namespaces"]:
            return status(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        try:
            return _json(self.engine.create_pod(namespace, body), 201)
        except KeyError as exc:
            return status(409, "AlreadyExists", f'pods "{exc.args[0]}" already exists', name=exc.args[0], kind="pods")

    async def _delete(self, request: Request, namespace: str, name: str) -> Response:
        grace = request.query_params.get("gracePeriodSeconds")
        raw = await request.body()
        if raw:
            try:
                options = orjson.loads(raw)
                grace = options.get("gracePeriodSeconds", grace) if isinstance(options, dict) else grace
            except orjson.JSONDecodeError:
                return status(400, "BadRequest", "invalid DeleteOptions")
        try:
            return _json(self.engine.delete_pod(namespace, name, None if grace is None else int(grace)))
        except KeyError:
            return status(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")

    # -- beside the API: the truth -------------------------------------------------------------------
    async def truth(self, request: Request) -> Response:
        return _json(self.engine.truth())

    async def compact(self, request: Request) -> Response:
        self.engine.compact()
        return _json({"compacted_through": self.engine.rv})

    async def served_counts(self, request: Request) -> Response:
        """What was served, by verb and form, and to which user agents."""
        out: dict = {}
        for (verb, form, what), n in sorted(self.served.items()):
            out.setdefault(f"{verb} {form}", {})[what] = n
        return _json({"served": out, "user_agents": dict(self.agents)})

    async def clock(self, request: Request) -> Response:
        return _json({"now": self._now().isoformat(), "resourceVersion": str(self.engine.rv)})


def make_app(engine: Engine, host: str = "127.0.0.1", port: int = 0, forms: tuple[str, ...] = FORMS) -> Starlette:
    api = Api(engine, host, port, forms)
    methods = ["GET", "POST", "DELETE"]
    return Starlette(
        routes=[
            Route("/version", api.version),
            Route("/api", api.api),
            Route("/apis", api.apis),
            Route("/api/{path:path}", api.core, methods=methods),
            Route("/apis/{path:path}", api.group, methods=methods),
            Route("/simulator/v1/truth", api.truth),
            Route("/simulator/v1/clock", api.clock),
            Route("/simulator/v1/served", api.served_counts),
            Route("/simulator/v1/compact", api.compact, methods=["POST"]),
        ]
    )


def serve_in_thread(engine: Engine, port: int = 0, host: str = "127.0.0.1", forms: tuple[str, ...] = FORMS):
    """Serve `engine` from a background thread (no clock: the caller moves time).
    Returns (uvicorn server, thread, url); set `server.should_exit` to stop it."""
    engine.advance(engine.now_ms)  # what exists at the start exists when serving begins
    port = port or free_port(host)
    return serve_app_in_thread(make_app(engine, host, port, forms), port, host)


def serve(engine: Engine, host: str, port: int, speed: float) -> None:
    import uvicorn

    engine.advance(engine.now_ms)
    clock = Clock(engine, speed)
    clock.thread.start()
    try:
        uvicorn.run(make_app(engine, host, port), host=host, port=port, log_level="warning")
    finally:
        clock.stop.set()
