"""`podslo collect`: list+watch a live cluster into the raw tables, the way client-go's
reflector does: resume from the stored resourceVersion, relist on 410 Gone, reconnect
with backoff and jitter, notice dead connections by a read timeout.

Lists are as gentle as the apiserver allows (collector.source.LIST_FORMS): a streaming
list from the watch cache that goes on as the watch, else a whole list from the cache,
else a consistent list from etcd page by page; a form the apiserver refuses is not asked
for again. Relists that follow each other within RELIST_QUIET_S back off with jitter.

At-least-once: a resource's checkpoint is stored only after the rows up to it are, and
the raw tables' dedup keys absorb what a crash makes us write twice.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter

import msgspec
import orjson
import urllib3
from kubernetes.client.rest import ApiException

from collector.normalize import rv_number
from collector.route import Router, Tally
from collector.source import INITIAL_EVENTS_END, LIST_FORMS, KubeSource, WatchEvent, WatchLine, decode_frame
from collector.spool import Spool, SpoolFull
from collector.writer import BatchWriter
from podslo.backoff import Backoff, FailureLog
from podslo.config import default_spool_dir
from podslo.store import Store
from podslo.supervisor import Supervisor
from podslo.timeutil import now_ms

log = logging.getLogger(__name__)
KIND_TABLE = {"pods": "raw_pods", "nodes": "raw_nodes"}
_KEY_FIELD = {"raw_pods": "uid", "raw_nodes": "name"}  # what names an object in its table and its metadata
SERVICE_CONNECTIONS = 1024  # the HTTP side at once; past it, 503 (idle and trickling ones are cut: webserver)
HEARTBEAT_S = 15.0  # how often a collector that hears its apiserver says so in the store
RELIST_QUIET_S = 60.0
RELIST_BACKOFF_S = (1.0, 120.0)  # first and longest pause before a relist that follows another closely
# What makes the apiserver decline a list form for good (not a passing overload, 429)
_REFUSED = {400, 404, 405, 406, 422, 500, 501, 503, 504}


class _Relist(Exception):
    """The watch cannot resume where it is (expired, or too new): list again."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class _NotServed(Exception):
    """The apiserver answered a list form, but not as that form (an old one ignoring
    sendInitialEvents): use the next form."""


class _ListMeta(msgspec.Struct):
    uid: str = ""
    name: str = ""
    resourceVersion: str = ""


class _Listed(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


_LISTED = msgspec.json.Decoder(_Listed)


@dataclass
class Stats:
    """What the collector did, per resource (for /metrics and tests)."""

    received: Counter = field(default_factory=Counter)
    relist_causes: Counter = field(default_factory=Counter)  # (resource, cause) -> relists
    list_form: dict = field(default_factory=dict)  # resource -> the list form last used
    restarts: Counter = field(default_factory=Counter)
    gone_while_away: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)
    listed_at: dict = field(default_factory=dict)  # resource -> resourceVersion of its last list
    last_heard: dict = field(default_factory=dict)  # resource -> monotonic time of its last event or bookmark
    resume_at: dict = field(default_factory=dict)  # resource -> resourceVersion of the last stored checkpoint
    spooled: Counter = field(default_factory=Counter)  # batches the store could not take
    drained: Counter = field(default_factory=Counter)  # ...and that were written later
    thread_cpu_s: float = 0.0  # CPU of the collector's ended threads (benchmarks)

    @property
    def relists(self) -> Counter:
        """Relists by resource, whatever their cause."""
        out: Counter = Counter()
        for (resource, _), n in self.relist_causes.items():
            out[resource] += n
        return out


class Sink:
    """Routes watch events into batched rows; stores checkpoints once their rows are written.

    When the store cannot take a batch, the batch (rows and checkpoints together) goes to
    the spool, and later batches queue behind it there until it drains, so order holds.
    While the spool is full, `add` waits: the watches stop reading (back-pressure).
    """

    def __init__(self, store: Store, cluster: str, batch_rows: int, stats: Stats, spool: Spool | None = None):
        self.store, self.cluster, self.stats, self.spool = store, cluster, stats, spool
        self.lock = threading.Lock()
        self.store_failures = FailureLog(f"cluster {cluster}: writing to the store")
        self.tally = Tally()
        self.writer = BatchWriter(store, batch_rows)
        self.router = Router(cluster, self.writer.hold, self.tally, self._problem)
        self.pending: dict[str, str] = {}  # resource -> resourceVersion covered by rows not yet written

    def _problem(self, line: int, message: str) -> None:
        log.warning("cluster %s: skipped a malformed object: %s", self.cluster, message)

    def add(self, resource: str, event: dict, observed: int) -> None:
        """A listed object (or a deletion found on relist), as a dict. It never moves the
        resume point: only the list's own resourceVersion does, once the whole list is in."""
        self._take(resource, lambda: self.router.route(0, event, observed), rv_of=lambda _: None)

    def add_pod_lines(self, lines: list[bytes], start: int, observed: int) -> tuple[int, str]:
        """Pod watch lines from `start` on, each decoded once (the hot path), up to the first
        that must go through `add_watched`; returns how many were taken and the last one's
        resourceVersion."""
        return self._take("pods", lambda: self.router.route_pod_lines(lines, start, observed), rv_of=itemgetter(1))

    def add_watched(self, resource: str, event: WatchEvent, observed: int, listed: bool = False) -> str | None:
        """A watched change, its object still bytes; returns its resourceVersion. A `listed`
        one (an initial event of a streaming list) does not move the resume point."""
        route = lambda: self.router.route_watched(event.type, event.object, observed)  # noqa: E731
        return self._take(resource, route, rv_of=(lambda _: None) if listed else (lambda routed: routed))

    def _take(self, resource: str, route, rv_of=lambda routed: routed):
        """Route under the lock (returning what `route` does); the resume point moves to what
        was routed (`rv_of` that); a full batch is written."""
        self._wait_for_spool()
        with self.lock:
            before = self.tally.malformed
            routed = route()
            if self.tally.malformed > before:
                self.stats.malformed[resource] += 1
            rv = rv_of(routed)
            if rv:
                self.pending[resource] = rv
            if self.writer.full():
                self._flush_or_keep()
            return routed

    def _wait_for_spool(self) -> None:
        while self.spool is not None and self.spool.full():
            time.sleep(0.5)  # back-pressure: the watch stops reading until the spool drains
            self.try_flush()

    def advance(self, resource: str, rv: str) -> None:
        """A bookmark: nothing to write, but the resume point moves."""
        with self.lock:
            self.pending[resource] = rv

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def try_flush(self) -> None:
        """Flush from a watch thread: a store or spool problem must not end the watch."""
        with self.lock:
            self._flush_or_keep()

    def _flush_or_keep(self) -> None:
        try:
            self._flush()
        except Exception as exc:  # rows stay pending; the flusher tries again
            self.store_failures.failed(str(exc), f"; {self.writer.held} rows pending")

    def _flush(self) -> None:
        batch = {
            "rows": self.writer.take(),
            "checkpoints": [[self.cluster, r, rv, time.time_ns()] for r, rv in self.pending.items()],
        }
        resumes = dict(self.pending)
        self.pending.clear()
        if not batch["rows"] and not batch["checkpoints"]:
            self._drain()
            return
        if self.spool is None:
            try:
                self._write(batch)
            except Exception:
                self._restore(batch, resumes)  # nothing is dropped: it stays pending
                raise
        elif not self._drain() or not self._try(batch):
            try:
                self.spool.put(batch)
            except SpoolFull:
                self._restore(batch, resumes)  # kept pending; `add` waits meanwhile
                raise
            self.stats.spooled[self.cluster] += 1
            return
        self.stats.resume_at.update(resumes)

    def _restore(self, batch: dict, resumes: dict) -> None:
        self.writer.put_back(batch["rows"])
        self.pending = {**resumes, **self.pending}

    def _write(self, batch: dict) -> None:
        self.writer.write(batch["rows"])
        if batch["checkpoints"]:
            self.store.insert("collector_checkpoints", batch["checkpoints"])
        self.store_failures.worked()

    def _try(self, batch: dict) -> bool:
        try:
            self._write(batch)
            return True
        except Exception as exc:  # the driver raises many kinds; all mean "not now"
            self.store_failures.failed(str(exc), "; spooling")
            return False

    def _drain(self) -> bool:
        """Write what the spool holds, oldest first; True when it is empty."""
        if self.spool is None or not self.spool.files():
            return True
        try:
            self.stats.drained[self.cluster] += self.spool.drain(self._write)
            return True
        except Exception as exc:
            self.store_failures.failed(str(exc), "; the spool waits")
            return False

    def checkpoint(self, resource: str) -> str | None:
        value = self.store.scalar(
            "SELECT argMax(resource_version, version) FROM collector_checkpoints "
            "WHERE cluster = {cluster:String} AND resource = {resource:String}",
            cluster=self.cluster,
            resource=resource,
        )
        return value or None


class Reflector:
    """One resource of one cluster: list, then watch; resume; relist on 410."""

    def __init__(
        self,
        source: KubeSource,
        resource: str,
        sink: Sink,
        stop: threading.Event,
        stats: Stats,
        watch_timeout_s: tuple[int, int] = (300, 600),
        read_timeout_s: float = 90,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        list_forms: tuple[str, ...] = LIST_FORMS,
    ):
        self.source, self.resource, self.sink, self.stop, self.stats = source, resource, sink, stop, stats
        self.watch_timeout_s, self.read_timeout_s, self.backoff_s = watch_timeout_s, read_timeout_s, backoff_s
        self.forms = list(list_forms)  # the ones the apiserver has not refused, gentlest first
        self.response = None
        self.rng = random.Random()
        self.failures = FailureLog(f"{resource} watch of {source.host}")
        self.rv: str | None = None  # where the watch resumes (None: list first)
        self.last_rv = ""  # the newest resourceVersion heard (a streaming list asks for state not older)
        self.last_relist: float | None = None
        self.quick_relists = 0

    def run(self) -> None:
        self.rv = self.last_rv = self.sink.checkpoint(self.resource)
        cause, failures = "start", 0
        while not self.stop.is_set():
            try:
                self._relist(cause) if self.rv is None else self._watch()
                failures = 0
                self.failures.worked()
            except _Relist as exc:
                self.rv, cause = None, exc.cause
                if cause == "too-large":
                    self.last_rv = ""  # the cluster has not reached it: ask for its newest state
            except ApiException as exc:
                if exc.status == 410:
                    self.rv, cause = None, "expired"
                    continue
                failures = self._pause(failures, f"HTTP {exc.status} {exc.reason}")
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self.stop.is_set():
                    break
                cause = getattr(exc, "reason", None) or exc  # a MaxRetryError wraps what happened
                failures = self._pause(failures, f"{type(cause).__name__}: {cause}")
            except Exception as exc:  # never let a watch thread die silently
                log.exception("%s: unexpected error", self.resource)
                failures = self._pause(failures, f"{type(exc).__name__}: {exc}")

    def _pause(self, failures: int, why: str) -> int:
        """Exponential backoff with full jitter, as client-go's reflector backs off."""
        self.stats.restarts[self.resource] += 1
        low, high = self.backoff_s
        delay = Backoff(low, high, "full", floor_s=low).delay_s(failures + 1, self.rng)
        self.failures.failed(why, f"; again in {delay:.1f}s")
        self.stop.wait(delay)
        return failures + 1

    def _watch(self, batches: Iterator[list[bytes]] | None = None) -> None:
        """Follow the watch (a new one from `self.rv`, or the rest of `batches`) until the
        server ends it, moving `self.rv` on. Raises _Relist when it cannot resume.

        Lines come a read at a time; pod lines take the hot path a run at a time (one lock,
        one clock reading per read), anything else goes one by one through `_other`.
        """
        rv = self.rv
        if batches is None:
            batches = self.source.watch(self.resource, rv, self._timeout(), self.read_timeout_s, self._opened)
        pods = self.resource == "pods"
        for lines in batches:
            if self.stop.is_set():
                break
            observed = now_ms()
            at = 0
            while at < len(lines):
                if pods:
                    taken, new_rv = self.sink.add_pod_lines(lines, at, observed)
                    if taken:
                        self._heard(taken)
                        rv, at = new_rv, at + taken
                        continue
                rv = self._other(lines[at], rv, observed)
                at += 1
            self.rv = self.last_rv = rv

    def _timeout(self) -> int:
        return self.rng.randint(*self.watch_timeout_s)

    def _other(self, line: bytes, rv: str, observed: int) -> str:
        """A line off the hot path: a change, a bookmark or an error; returns where to resume."""
        event = self._frame(line)
        if event is None:
            return rv
        kind = event.type
        if kind == "ERROR":
            self._raise_for_error(event, rv)
        if kind == "BOOKMARK":
            self._heard(0)
            new_rv = (event.parsed().get("metadata") or {}).get("resourceVersion")
            if new_rv:
                self.sink.advance(self.resource, new_rv)
            return new_rv or rv
        self._heard(1)
        return self.sink.add_watched(self.resource, event, observed) or rv

    def _frame(self, line: bytes) -> WatchEvent | None:
        """The line's watch event; None for a line that is not one (counted and logged)."""
        event = decode_frame(line)
        if isinstance(event, WatchLine):
            self.stats.malformed[self.resource] += 1
            log.warning("%s: unreadable watch line skipped: %s", self.resource, event.error)
            return None
        return event

    def _raise_for_error(self, event: WatchEvent, rv: str):
        obj = event.parsed()  # small and rare: parsed in full
        if obj.get("code") == 410 or _too_large(obj):
            # expired, or beyond what this cluster has reached (rebuilt, restored):
            # either way the resume point is no good, as client-go's reflector concludes
            log.info("%s: cannot resume at %s (%s); relisting", self.resource, rv, obj.get("message"))
            raise _Relist("expired" if obj.get("code") == 410 else "too-large")
        raise ValueError(f"watch error: {obj.get('message')}")

    def _heard(self, events: int) -> None:
        self.stats.last_heard[self.resource] = time.monotonic()
        self.stats.received[self.resource] += events

    def _opened(self, response) -> None:
        self.response = response
        self.stats.last_heard[self.resource] = time.monotonic()  # the apiserver answered
        if self.stop.is_set():  # opened while shutting down, after `close` looked: close it too
            self.close()

    # -- lists -------------------------------------------------------------------------------------
    def _relist(self, cause: str) -> None:
        """List in the gentlest form the apiserver serves, in bounded memory. An object
        stored already at the version listed is not written again; one stored as live that
        the list lacks was deleted while we were away, and is recorded as gone. Only then
        does the resume point move to the list's resourceVersion: a collector killed
        mid-list lists again; `self.rv` is then where the watch resumes."""
        self._pause_before_relist(cause)
        self.stats.relist_causes[(self.resource, cause)] += 1
        while True:
            form = self.forms[0]
            try:
                self._list_by(form)
                return
            except (ApiException, _NotServed) as exc:
                refused = isinstance(exc, _NotServed) or exc.status in _REFUSED
                if not refused or len(self.forms) == 1:
                    raise
                self.forms.pop(0)
                why = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else str(exc)
                log.warning(
                    "%s: the apiserver does not serve a %s list (%s); using a %s list from now on",
                    self.resource,
                    form,
                    why,
                    self.forms[0],
                )

    def _pause_before_relist(self, cause: str) -> None:
        """Relists close together (a watch that keeps expiring) back off, with full jitter."""
        now = time.monotonic()
        close = self.last_relist is not None and now - self.last_relist < RELIST_QUIET_S
        self.quick_relists = self.quick_relists + 1 if close else 0
        if self.quick_relists:
            delay = Backoff(*RELIST_BACKOFF_S, "full").delay_s(self.quick_relists + 1, self.rng)
            if self.quick_relists & (self.quick_relists - 1) == 0:  # once per backoff step
                log.warning(
                    "%s: relisting again within %.0fs (%s, %d in a row); waiting %.1fs first",
                    self.resource,
                    RELIST_QUIET_S,
                    cause,
                    self.quick_relists,
                    delay,
                )
            self.stop.wait(delay)
        self.last_relist = time.monotonic()

    def _list_by(self, form: str) -> None:
        table = KIND_TABLE.get(self.resource)
        self.sink.try_flush()  # rows a watch left pending count as stored
        stored = self._stored_versions(table) if table else {}
        if form == "streaming":
            self._streaming_list(table, stored)
            return
        pages = self.source.list_cached(self.resource) if form == "cache" else self.source.list_pages(self.resource)
        rv, observed = "", now_ms()
        key = _KEY_FIELD.get(table, "uid")
        for items, rv in pages:  # noqa: B007 (the last page's version is the list's)
            for item in items:
                meta = item.get("metadata") if isinstance(item, dict) else None
                if isinstance(meta, dict) and _already_stored(stored, meta.get(key), meta.get("resourceVersion")):
                    continue
                self.sink.add(self.resource, {"type": "ADDED", "object": _with_kind(item, self.resource)}, observed)
        self._listed(form, table, stored, rv)

    def _streaming_list(self, table: str | None, stored: dict[str, int]) -> None:
        """The current objects arrive as ADDED events up to a bookmark annotated
        INITIAL_EVENTS_END; the same stream then goes on as the watch."""
        batches = self.source.stream_list(
            self.resource, self.last_rv, self._timeout(), self.read_timeout_s, self._opened
        )
        key = _KEY_FIELD.get(table, "uid")
        observed = now_ms()
        for lines in batches:
            for at, line in enumerate(lines):
                rv = self._initial_event(line, stored, key, observed)
                if rv is not None:
                    self._listed("streaming", table, stored, rv)
                    self._watch(itertools.chain([lines[at + 1 :]], batches))
                    return
        raise _NotServed("the streaming list ended before its initial-events-end bookmark")

    def _initial_event(self, line: bytes, stored: dict[str, int], key: str, observed: int) -> str | None:
        """One line of a streaming list's initial events; the list's resourceVersion when it
        is the bookmark that ends them."""
        event = self._frame(line)
        if event is None:
            return None
        if event.type == "ERROR":
            self._raise_for_error(event, self.last_rv)
        if event.type == "BOOKMARK":
            meta = event.parsed().get("metadata") or {}
            ended = (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true"
            return str(meta.get("resourceVersion") or "") if ended else None
        if event.type != "ADDED":
            raise _NotServed(f"a {event.type[:20]} event came before the initial-events-end bookmark")
        try:
            meta = _LISTED.decode(event.object).metadata
            if _already_stored(stored, getattr(meta, key), meta.resourceVersion):
                return None
        except msgspec.DecodeError:
            pass  # routing reports it
        self.sink.add_watched(self.resource, event, observed, listed=True)
        return None

    def _listed(self, form: str, table: str | None, stored: dict[str, int], rv: str) -> None:
        """After every listed object is routed: those stored as live but not listed are
        recorded as gone, and the resume point moves to the list's resourceVersion."""
        observed = now_ms()
        for obj in self._last_stored(table, list(stored)) if stored else ():
            self.stats.gone_while_away[self.resource] += 1
            obj["metadata"]["resourceVersion"] = rv  # gone as of the list: after any state stored or pending
            self.sink.add(self.resource, {"type": "DELETED", "object": obj}, observed)
        self.stats.listed_at[self.resource] = rv
        self.stats.list_form[self.resource] = form
        self.sink.advance(self.resource, rv)
        self.sink.try_flush()
        self.rv = self.last_rv = rv
        log.info("%s: listed by a %s list at resourceVersion %s", self.resource, form, rv)

    def _stored_versions(self, table: str) -> dict[str, int]:
        """Key -> newest stored resourceVersion of every object whose last stored event is
        not a deletion (keys and numbers only: no objects)."""
        key = _KEY_FIELD[table]
        rows = self.sink.store.stream(
            f"SELECT {key}, max(rv) FROM {table} WHERE cluster = {{cluster:String}} "
            f"GROUP BY {key} HAVING argMax(event_type, (rv, seen_at, event_type = 'DELETED')) != 'DELETED'",
            cluster=self.sink.cluster,
        )
        return {k: int(v) for k, v in rows}

    def _last_stored(self, table: str, keys: list[str], chunk: int = 500) -> Iterator[dict]:
        """The last stored state of each of `keys`, a chunk at a time."""
        key = _KEY_FIELD[table]
        for at in range(0, len(keys), chunk):
            rows = self.sink.store.rows(
                f"SELECT argMax(object, (rv, seen_at)) FROM {table} WHERE cluster = {{cluster:String}} "
                f"AND {key} IN {{keys:Array(String)}} GROUP BY {key}",
                cluster=self.sink.cluster,
                keys=keys[at : at + chunk],
            )
            for (obj,) in rows:
                yield orjson.loads(obj)

    def close(self) -> None:
        """Unblock a watch waiting for data (on shutdown)."""
        response = self.response
        if response is not None:
            try:
                response.shutdown()
            except (RuntimeError, ValueError):
                pass  # that watch already ended and gave its connection back (or closed it)
            except (AttributeError, OSError):
                response.close()


def _already_stored(stored: dict[str, int], key, rv) -> bool:
    """Is the object stored at this very version? (It leaves `stored` either way: listed.)"""
    known = stored.pop(key, None)
    return bool(known) and known == rv_number(str(rv or ""))


def _too_large(status: dict) -> bool:
    causes = (status.get("details") or {}).get("causes") or []
    return any(c.get("reason") == "ResourceVersionTooLarge" for c in causes) or "Too large resource version" in str(
        status.get("message", "")
    )


def _with_kind(item: dict, resource: str) -> dict:
    """List items come without kind/apiVersion; the router needs them."""
    if "kind" in item:
        return item
    kind = {"pods": "Pod", "nodes": "Node", "events": "Event", "events.k8s.io": "Event"}[resource]
    api = "events.k8s.io/v1" if resource == "events.k8s.io" else "v1"
    return {"kind": kind, "apiVersion": api, **item}


def tune_gc_for_ingest() -> None:
    """Held rows are the young generation's survivors: every automatic collection walks the
    whole pending batch again (~5 us an event at a threshold of 50,000, measured). Rows die
    by reference counting when their batch is written, so the count of young objects stays
    below a million and a collection only comes for real garbage cycles."""
    gc.set_threshold(1_000_000, 20, 100)


class Collector:
    """All reflectors of one cluster, a flusher, and a clean stop."""

    def __init__(
        self,
        store: Store,
        source: KubeSource,
        cluster: str,
        resources=("pods", "nodes", "events"),
        batch_rows: int = 5000,
        flush_s: float = 1.0,
        spool: Spool | None = None,
        **reflector_options,
    ):
        self.stats = Stats()
        self.stop = threading.Event()
        self.sink = Sink(store, cluster, batch_rows, self.stats, spool)
        self.flush_s = flush_s
        self.reflectors = [
            Reflector(source, r, self.sink, self.stop, self.stats, **reflector_options) for r in resources
        ]
        self.threads: list[threading.Thread] = []
        self.heartbeat_of, self.heartbeat_at = None, 0.0

    def start(self) -> Collector:
        self.sink.try_flush()  # drain what an earlier run spooled before reading on
        self.threads = [
            threading.Thread(target=self._timed, args=(r.run,), name=f"watch-{r.resource}", daemon=True)
            for r in self.reflectors
        ]
        self.threads.append(threading.Thread(target=self._timed, args=(self._flusher,), name="flusher", daemon=True))
        for thread in self.threads:
            thread.start()
        return self

    def _timed(self, work) -> None:
        try:
            work()
        finally:
            with self.sink.lock:
                self.stats.thread_cpu_s += time.thread_time()

    def _flusher(self) -> None:
        while not self.stop.wait(self.flush_s):
            self.sink.try_flush()
            self._beat()

    def _beat(self) -> None:
        """Every HEARTBEAT_S, when the apiserver was heard since: store when (wall time), so
        whoever analyzes the store can tell a silent cluster from a quiet one."""
        heard = max(self.stats.last_heard.values(), default=None)
        if heard is None or heard == self.heartbeat_of or time.monotonic() - self.heartbeat_at < HEARTBEAT_S:
            return
        try:
            self.sink.store.insert(
                "collector_heartbeats", [[self.sink.cluster, now_ms() - int((time.monotonic() - heard) * 1000)]]
            )
        except Exception as exc:  # the store away: the next beat tries again; the rows are spooled anyway
            log.warning("cluster %s: heartbeat not stored: %s", self.sink.cluster, exc)
            return
        self.heartbeat_of, self.heartbeat_at = heard, time.monotonic()

    def unwell(self) -> str | None:
        """Why this collector is not working (a thread that ended while it should run), or None."""
        if self.stop.is_set():
            return None
        dead = [thread.name for thread in self.threads if not thread.is_alive()]
        return f"threads ended: {', '.join(dead)}" if dead else None

    def shutdown(self, timeout: float = 10) -> list[str]:
        """Stop watching, write what is pending and its checkpoints; returns the names of
        threads that did not end in time (none, normally)."""
        self.stop.set()
        for reflector in self.reflectors:
            reflector.close()
        for thread in self.threads:
            thread.join(timeout)
        self.sink.try_flush()  # into the store, or the spool
        return [thread.name for thread in self.threads if thread.is_alive()]


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster to collect: how to reach it (kubeconfig/context, in-cluster, or a URL)."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    server: str | None = None

    def source(self, qps: float = 5.0, burst: int = 10) -> KubeSource:
        return KubeSource(self.kubeconfig, self.context, self.in_cluster, self.server, qps, burst)


def load_cluster_specs(path: str) -> list[ClusterSpec]:
    """`clusters: [{name: prod-eu, context: prod-eu}, {name: sim, server: http://...}]`"""
    import yaml

    from podslo.errors import ConfigError
    from podslo.names import check_cluster_name

    try:
        data = yaml.safe_load(open(path, encoding="utf-8"))
        specs = [ClusterSpec(**entry) for entry in data["clusters"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: expected `clusters:` with name and kubeconfig/context/in_cluster/server: {exc}"
        ) from None
    names = [s.name for s in specs]
    for name in names:
        try:
            check_cluster_name(name)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: cluster names repeat: {names}")
    return specs


def start_collectors(
    store: Store,
    specs: list[ClusterSpec],
    resources=("pods", "nodes", "events"),
    batch_rows: int = 5000,
    flush_s: float = 1.0,
    probe_every: float | None = None,
    probe_namespace: str = "podslo-probes",
    spool_dir: str | None = None,
    spool_bytes: int = 512 << 20,
    qps: float = 5.0,
    burst: int = 10,
    say=print,
    *,
    supervisor: Supervisor,
) -> list[Collector]:
    """A running collector (and prober, if asked) for every cluster in `specs`; `supervisor`
    watches the collectors' threads and runs the probers."""
    from collector.probes import Prober

    tune_gc_for_ingest()
    collectors = []
    for spec in specs:
        source = spec.source(qps, burst)
        spool = Spool(os.path.join(spool_dir or default_spool_dir(store.dsn), spec.name), spool_bytes)
        collectors.append(Collector(store, source, spec.name, resources, batch_rows, flush_s, spool).start())
        supervisor.watch(f"collector {spec.name}", collectors[-1].unwell)
        if probe_every:
            prober = Prober(store, source, spec.name, probe_namespace, probe_every)
            prober.stop = collectors[-1].stop
            supervisor.every(f"prober {spec.name}", prober.probe_once, probe_every)
        say(f"collecting cluster {spec.name!r} from {source.host}")
    return collectors


def run_collectors(
    store: Store,
    specs: list[ClusterSpec],
    stop: threading.Event,
    listen: str = "",
    audit_token: str | None = None,
    say=print,
    **options,
) -> list[Collector]:
    """Collect every cluster in `specs` until `stop` is set, then shut down cleanly."""
    from collector.service import make_service
    from podslo.webserver import listen_on, serve_app_in_thread

    supervisor = Supervisor(stop)
    sock = None
    if listen:  # bound first: an address that cannot be had ends the command before anything starts
        host, _, port = listen.rpartition(":")
        sock = listen_on(host or "127.0.0.1", int(port))
    collectors = start_collectors(store, specs, say=say, supervisor=supervisor, **options)
    if sock is not None:
        serve_app_in_thread(
            make_service(collectors, audit_token, health=supervisor.health),
            sock=sock,
            limit_concurrency=SERVICE_CONNECTIONS,
        )
    stop.wait()
    for collector in collectors:
        collector.shutdown()
    return collectors
