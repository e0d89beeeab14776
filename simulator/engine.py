"""The simulated cluster: pod stories played against a clock, node faults with their
real consequences, and the state the API serves (objects, an ordered change log).

Everything that happens is an action on one heap, taken strictly in (time, sequence)
order, each part of the cluster drawing from its own seeded random stream: the same
seed and options give the same objects and truth however the clock is stepped.
resourceVersions are stamped when a change is applied, so they follow time.
"""

from __future__ import annotations

import collections
import copy
import heapq
import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulator.objects import PodStory, Recorder, node_object, record_write, stable_uid, ts
from simulator.profile import Profile
from simulator.stories import STORIES, Scene, Timing, Truth, _to_running

START = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
DAY_S = 86400.0
NODE_MONITOR_GRACE_S = 40  # node controller: Unknown after 40 s without a status
EVICTION_AFTER_S = 300  # taint-based eviction: tolerationSeconds for unreachable
DELETION_SLACK_S = 300  # what podslo's default rules allow past the grace period
DEADLINE_S = 60  # podslo's default delivery deadline
GRACE_S = 30  # terminationGracePeriodSeconds of every simulated pod
EVENT_TTL_S = 3600  # kube-apiserver --event-ttl
MIN_LIFETIME_S = 600
NAMESPACES = ("shop", "payments", "search", "batch", "ml")
APPS = ("web", "api", "worker", "cart", "auth", "ingest", "render", "report")
# Stories that need a node of their own to break; the engine breaks nodes itself.
NODE_STORIES = {"node_not_ready", "stuck_node_lost", "pending"}
RESOURCE_OF = {"Pod": "pods", "Node": "nodes", "Event": "events", "Namespace": "namespaces"}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class PodInfo:
    """What the engine knows about a pod it played (the truth lives here, never in objects)."""

    uid: str
    namespace: str
    name: str
    story: str
    node: str | None
    created_ms: int
    delivered_ms: int | None
    deleted_ms: int | None
    truth: Truth
    kubelet_ms: int | None = None  # the kubelet's first act for it (an Event from the kubelet)
    scheduled_ms: int | None = None

    def record(self, now_ms: int) -> dict:
        """The verdict this pod must get when the cluster's clock reads `now_ms`."""
        truth = self.truth
        due = self.created_ms + DEADLINE_S * 1000
        not_created = self.uid.startswith("event:")
        deleted = self.deleted_ms is not None and self.deleted_ms <= now_ms
        if (
            now_ms < due
            and not not_created
            and not deleted
            and (self.delivered_ms is None or self.delivered_ms > now_ms)
        ):
            truth = Truth("pending")
        if (
            truth.outcome == "timeout"
            and truth.reason == "Unknown"
            and (self.delivered_ms is None or self.delivered_ms > now_ms)
        ):
            truth = Truth("failed", truth.attribution, truth.reason, truth.stuck)  # not delivered yet, no slowness
        stuck_from = None if self.deleted_ms is None else self.deleted_ms + (GRACE_S + DELETION_SLACK_S) * 1000
        if truth.stuck and (stuck_from is None or now_ms <= stuck_from):
            truth = Truth(truth.outcome, truth.attribution, truth.reason, None)
        return {
            "uid": self.uid,
            "namespace": self.namespace,
            "name": self.name,
            "node": self.node,
            "created_at": ts(datetime.fromtimestamp(self.created_ms / 1000, UTC)),
            "injected": self.story,
            "outcome": truth.outcome,
            "attribution": truth.attribution,
            "reason": truth.reason,
            "stuck": truth.stuck,
        }


@dataclass
class NodeState:
    name: str
    ready: str = "True"
    since: datetime = START - timedelta(days=30)
    pressure: dict = field(default_factory=dict)
    faults: list = field(default_factory=list)  # truth: {kind, start, end}


class SimTiming(Timing):
    def __init__(self, engine: Engine):
        self.engine = engine

    def _draw(self, name: str) -> float:
        return round(getattr(self.engine.profile.timings, name).sample(self.engine.rng_story), 3)

    def schedule_s(self) -> float:
        return self._draw("schedule")

    def sandbox_s(self) -> float:
        return self._draw("sandbox")

    def pull_s(self) -> float:
        return round(self._draw("pull") * self.engine.pull_factor(), 3)

    def start_s(self) -> float:
        return self._draw("start")

    def ready_s(self) -> float:
        return self._draw("ready")


class SimScene(Scene):
    """The Scene stories play in, backed by the engine: its nodes, its timings."""

    def __init__(self, engine: Engine):  # no Scene.__init__: the engine owns the nodes
        self.engine = engine
        self.rec = Recorder()
        self.timing = SimTiming(engine)
        self.chosen_node = "node-1"
        self.namespace = "default"

    def node(self, preferred: str) -> str:
        return self.chosen_node


class Engine:
    def __init__(
        self,
        profile: Profile,
        seed: int = 1,
        nodes: int = 20,
        pods_per_minute: float = 60.0,
        start: datetime = START,
        retain: int = 200_000,
        truth_kept: int | None = None,
        lifetime_s: float | None = None,
    ):
        self.profile = profile
        self.seed = seed
        self.pods_per_minute = pods_per_minute
        self.start = start
        self.rng_arrival = random.Random(f"{seed}/arrival")
        self.rng_story = random.Random(f"{seed}/story")
        self.rng_node = random.Random(f"{seed}/node")
        self.now_ms = ms(start)
        self.heap: list = []
        self.seq = 0
        self.rv = 1000
        self.objects: dict[str, dict] = {r: {} for r in ("pods", "nodes", "events", "namespaces")}
        self.log: list[tuple[int, str, str, dict]] = []  # (rv, resource, type, object)
        self.log_first_rv = self.rv + 1
        self.retain = retain
        self.pods: dict[str, PodInfo] = {}
        self.truth_kept = truth_kept  # None: every pod's; else the newest this many (a long-running simulation)
        # None: a pod lives until its story ends it; else a pod its story leaves alive is deleted
        # after a lifetime (exponential, this mean, at least 10 minutes), as rollouts, scale-downs
        # and finished Jobs' TTL do: the cluster's population stays steady however long it runs.
        self.lifetime_s = lifetime_s
        self.rng_lifetime = random.Random(f"{seed}/lifetime")
        self.cut: dict[str, int] = {}  # pod uid -> time after which its story no longer plays
        self.nodes = {f"node-{i}": NodeState(f"node-{i}") for i in range(1, nodes + 1)}
        self.incident_nodes = self._incident_nodes()
        self.listeners: list[Callable[[int, dict], None]] = []
        self.lock = threading.RLock()
        self.scene = SimScene(self)
        self.counter = 0
        self.event_expiry: collections.deque = collections.deque()  # (expires_ms, key)
        self._boot()

    # -- the clock ----------------------------------------------------------------------------
    def advance(self, to_ms: int) -> int:
        """Apply everything due up to `to_ms`; returns how many changes were applied."""
        applied = 0
        with self.lock:
            while self.heap and self.heap[0][0] <= to_ms:
                at, _, action, payload = heapq.heappop(self.heap)
                self.now_ms = max(self.now_ms, at)
                if action == "emit":
                    applied += self._apply(at, payload)
                else:
                    action(at, *payload)
            self.now_ms = max(self.now_ms, to_ms)
        return applied

    def seconds(self) -> float:
        return (self.now_ms - ms(self.start)) / 1000

    def _push(self, at_ms: int, action, payload=()) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at_ms, self.seq, action, payload))

    def _push_recorded(self) -> None:
        """Move what the scene's recorder holds onto the heap."""
        for moment, _, event in sorted(self.scene.rec.items, key=lambda x: (x[0], x[1])):
            self._push(ms(moment), "emit", event)
        self.scene.rec.items.clear()

    # -- applying changes -----------------------------------------------------------------------
    def _apply(self, at: int, event: dict) -> int:
        obj = event["object"]
        meta = obj["metadata"]
        if obj["kind"] == "Pod" and meta["uid"] in self.cut and at > self.cut[meta["uid"]]:
            return 0  # the kubelet that would have done this is gone
        resource = RESOURCE_OF[obj["kind"]]
        key = (meta.get("namespace", ""), meta["name"])
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        kind = event["type"]
        if kind == "DELETED":
            self.objects[resource].pop(key, None)
        else:
            kind = "MODIFIED" if key in self.objects[resource] else "ADDED"
            self.objects[resource][key] = obj
        self.log.append((self.rv, resource, kind, obj))
        if resource == "events" and kind != "DELETED":
            self.event_expiry.append((at + EVENT_TTL_S * 1000, key))
        if len(self.log) > self.retain * 3 // 2:
            drop = len(self.log) - self.retain
            del self.log[:drop]
            self.log_first_rv = self.log[0][0]
        for listen in self.listeners:
            listen(at, {"type": kind, "object": obj})
        return 1

    def compact(self) -> None:
        """Forget the change log (as etcd compaction does): older watches get 410 Gone."""
        with self.lock:
            self.log.clear()
            self.log_first_rv = self.rv + 1

    # -- boot -----------------------------------------------------------------------------------
    def _boot(self) -> None:
        t0 = self.start
        for ns in ("default", "kube-system", "podslo-probes", *NAMESPACES):
            self._push(
                ms(t0),
                "emit",
                {
                    "type": "ADDED",
                    "object": {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {
                            "name": ns,
                            "uid": stable_uid("ns", ns),
                            "creationTimestamp": ts(t0 - timedelta(days=30)),
                            "labels": {"kubernetes.io/metadata.name": ns},
                        },
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    },
                },
            )
        beat = self.profile.nodes.heartbeat_s
        for i, node in enumerate(self.nodes.values()):
            self._emit_node(ms(t0), node)
            self._start_daemonset_pod(ms(t0), node.name, settled=True)
            self._push(ms(t0) + int((i * 997 % 1000) / 1000 * beat * 1000) + 1, self._heartbeat, (node.name,))
            self._schedule_fault(ms(t0), node.name)
        self._schedule_arrival(ms(t0))
        self._push(ms(t0) + 60_000, self._expire_events)

    def _expire_events(self, at: int) -> None:
        """Events older than the TTL go away, as their etcd lease ends (watchers see DELETED)."""
        while self.event_expiry and self.event_expiry[0][0] <= at:
            _, key = self.event_expiry.popleft()
            current = self.objects["events"].get(key)
            if current is not None:
                last = current.get("lastTimestamp") or current.get("eventTime") or ""
                if last and ms(datetime.fromisoformat(last.replace("Z", "+00:00"))) + EVENT_TTL_S * 1000 <= at:
                    self._apply(at, {"type": "DELETED", "object": current})
        self._push(at + 60_000, self._expire_events)

    def _emit_node(self, at: int, node: NodeState) -> None:
        moment = datetime.fromtimestamp(at / 1000, UTC)
        obj = node_object(
            Recorder(),
            node.name,
            moment,
            node.ready,
            node.since,
            pressure=node.pressure or None,
            created=self.start - timedelta(days=30),
        )
        self._push(at, "emit", {"type": "MODIFIED", "object": obj})

    def _heartbeat(self, at: int, name: str) -> None:
        node = self.nodes[name]
        if node.ready != "Unknown":  # a dead kubelet posts nothing
            self._emit_node(at, node)
        self._push(at + int(self.profile.nodes.heartbeat_s * 1000), self._heartbeat, (name,))

    # -- pods -------------------------------------------------------------------------------------
    def _schedule_arrival(self, after: int) -> None:
        gap_s = self.rng_arrival.expovariate(self.pods_per_minute / 60.0)
        self._push(after + max(1, int(gap_s * 1000)), self._arrive)

    def _arrive(self, at: int) -> None:
        self._schedule_arrival(at)
        rng = self.rng_story
        names, weights = zip(*[(n, w) for n, w in self.profile.stories.items() if n not in NODE_STORIES])
        story = rng.choices(names, weights)[0]
        ready = [n for n, s in self.nodes.items() if s.ready == "True"] or list(self.nodes)
        self.scene.chosen_node = rng.choice(ready)
        self.scene.namespace = rng.choice(NAMESPACES)
        story = self._incident_story(story)
        self.counter += 1
        app = rng.choice(APPS)
        name, salt = "", ""
        while not name or (self.scene.namespace, name) in self.objects["pods"]:  # taken: the apiserver would
            name = (
                f"{app}-{stable_uid(app, str(self.seed))[:9].replace('-', '')}-"  # refuse it, and the
                f"{stable_uid(str(self.counter), str(self.seed), salt)[:5]}"
            )  # controller tries another
            salt += "+"
        self._play(at, story, name)

    def _play(self, at: int, story: str, name: str) -> PodInfo:
        at -= at % 1000  # creationTimestamp has whole seconds, and the truth is judged on them
        t0 = datetime.fromtimestamp(at / 1000, UTC)
        pod, truth = STORIES[story](self.scene, name, t0)
        kubelet = [
            ms(m) for m, _, e in self.scene.rec.items if e["object"].get("source", {}).get("component") == "kubelet"
        ]
        scheduled = [
            ms(m)
            for m, _, e in self.scene.rec.items
            if e["object"]["kind"] == "Pod" and e["object"]["spec"].get("nodeName")
        ]
        self._push_recorded()
        info = PodInfo(
            pod.uid,
            pod.namespace,
            pod.name,
            story,
            pod.node,
            at,
            None if pod.delivered_s is None else at + int(pod.delivered_s * 1000),
            None if pod.deleted_at is None else at + int(pod.deleted_at * 1000),
            truth,
            min(kubelet, default=None),
            min(scheduled, default=None),
        )
        self.pods[info.uid] = info
        if self.lifetime_s is not None and info.deleted_ms is None:
            lifetime = max(MIN_LIFETIME_S, self.rng_lifetime.expovariate(1 / self.lifetime_s))
            self._push(at + int(lifetime * 1000), self._retire, (info.uid, pod.namespace, pod.name))
        if self.truth_kept is not None and len(self.pods) > self.truth_kept * 5 // 4:
            self._forget_oldest()
        return info

    def _forget_oldest(self) -> None:
        """Keep the truth of the newest `truth_kept` pods (and their cuts) in bounded memory."""
        for uid in list(itertools.islice(self.pods, len(self.pods) - self.truth_kept)):
            del self.pods[uid]
            self.cut.pop(uid, None)

    def _incident_story(self, story: str) -> str:
        if not story.startswith("ok_"):
            return story
        for incident in self.profile.incidents:
            if (
                incident.story
                and incident.active(self.seconds())
                and self.scene.chosen_node in self.incident_nodes[id(incident)]
                and self.rng_story.random() < incident.replace_share
            ):
                return incident.story
        return story

    def _incident_nodes(self) -> dict[int, set]:
        names = sorted(self.nodes, key=lambda n: int(n.split("-")[1]))
        return {id(i): set(names[: max(1, round(len(names) * i.node_share))]) for i in self.profile.incidents}

    def pull_factor(self) -> float:
        factor = 1.0
        for incident in self.profile.incidents:
            if incident.active(self.seconds()):
                factor *= incident.pull_factor
        return factor

    def _start_daemonset_pod(self, at: int, node: str, settled: bool = False) -> None:
        """kube-proxy on `node`, Ready (already for a while when `settled`)."""
        t0 = datetime.fromtimestamp(at / 1000, UTC) - (timedelta(days=30) if settled else timedelta())
        name = f"kube-proxy-{stable_uid(node, str(at), str(self.seed))[:5]}"
        pod = PodStory(
            self.scene.rec,
            t0,
            name,
            namespace="kube-system",
            owner=("DaemonSet", "kube-proxy"),
            image="registry.k8s.io/kube-proxy:v1.31.2",
            cpu="100m",
            memory="64Mi",
            labels={"k8s-app": "kube-proxy", "controller-revision-hash": "5c8f7b9d4", "pod-template-generation": "1"},
        )
        pod.schedule(0, node)
        pod.creating(0)
        pod.pull(0, 0, style="present")
        pod.start(1, ready_at=2)
        for moment, _, event in self.scene.rec.items:  # a settled pod is simply there at boot
            self._push(max(ms(moment), at), "emit", event)
        self.scene.rec.items.clear()
        self.pods[pod.uid] = PodInfo(
            pod.uid, "kube-system", name, "daemonset", node, ms(t0), ms(t0) + 2000, None, Truth("success")
        )

    # -- the API's writes ---------------------------------------------------------------------------
    def create_pod(self, namespace: str, body: dict) -> dict:
        """A pod created through the API (a probe, say): it lives the life of a healthy pod."""
        with self.lock:
            meta = body.get("metadata") or {}
            name = meta.get("name") or f"{meta.get('generateName', 'pod-')}{stable_uid(str(self.now_ms))[:5]}"
            if (namespace, name) in self.objects["pods"]:
                raise KeyError(name)
            containers = (body.get("spec") or {}).get("containers") or [{}]
            t0 = datetime.fromtimestamp(self.now_ms / 1000, UTC)
            ready = [n for n, s in self.nodes.items() if s.ready == "True"] or list(self.nodes)
            pod = PodStory(
                self.scene.rec,
                t0,
                name,
                namespace=namespace,
                owner=None,
                image=containers[0].get("image", "registry.k8s.io/pause:3.9"),
                labels=meta.get("labels") or {},
            )
            created = copy.deepcopy(self.scene.rec.items[0][2]["object"])
            stages = _to_running(self.scene, pod, self.rng_story.choice(ready))
            self._push_recorded()
            self.pods[pod.uid] = PodInfo(
                pod.uid,
                namespace,
                name,
                "api",
                pod.node,
                self.now_ms,
                self.now_ms + int(stages.ready * 1000),
                None,
                Truth("success"),
            )
            self.advance(self.now_ms)  # the ADDED is due now
            return self.objects["pods"].get((namespace, name), created)

    def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> dict:
        """Graceful deletion: deletionTimestamp now + grace; the kubelet stops it and it is gone
        (unless its node is down: then it stays Terminating)."""
        with self.lock:
            current = self.objects["pods"].get((namespace, name))
            if current is None:
                raise KeyError(name)
            obj = copy.deepcopy(current)
            uid = obj["metadata"]["uid"]
            grace = 30 if grace is None else grace
            now = datetime.fromtimestamp(self.now_ms / 1000, UTC)
            obj["metadata"]["deletionTimestamp"] = ts(now + timedelta(seconds=grace))
            obj["metadata"]["deletionGracePeriodSeconds"] = grace
            self._push(self.now_ms, "emit", {"type": "MODIFIED", "object": obj})
            node = obj["spec"].get("nodeName")
            if not node or self.nodes[node].ready == "True":
                self._push(self.now_ms + min(grace, 2) * 1000 + 1, self._finish_delete, (uid, namespace, name))
            self.cut[uid] = self.now_ms + 1  # let the deletion itself through
            self.advance(self.now_ms)
            return self.objects["pods"].get((namespace, name), obj)

    def _retire(self, at: int, uid: str, namespace: str, name: str) -> None:
        """A pod's controller deletes it at the end of its lifetime (graceful, 30 s); on a node
        that is down, it waits for the node (so no pod is stuck that the truth does not know of)."""
        current = self.objects["pods"].get((namespace, name))
        if current is None or current["metadata"]["uid"] != uid or uid in self.cut:
            return
        node = current["spec"].get("nodeName")
        if node and self.nodes[node].ready != "True":
            self._push(at + 600_000, self._retire, (uid, namespace, name))
            return
        obj = copy.deepcopy(current)
        when = datetime.fromtimestamp(at / 1000, UTC)
        obj["metadata"]["deletionTimestamp"] = ts(when + timedelta(seconds=30))
        obj["metadata"]["deletionGracePeriodSeconds"] = 30
        record_write(obj, "kube-controller-manager", when)
        self._push(at, "emit", {"type": "MODIFIED", "object": obj})
        self._push(at + 2001, self._finish_delete, (uid, namespace, name))
        self.cut[uid] = at + 1

    def _finish_delete(self, at: int, uid: str, namespace: str, name: str) -> None:
        current = self.objects["pods"].get((namespace, name))
        if current is None or current["metadata"]["uid"] != uid:
            return
        obj = copy.deepcopy(current)
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        record_write(obj, "kubelet", datetime.fromtimestamp(at / 1000, UTC))
        obj["status"]["phase"] = "Succeeded" if obj["status"].get("phase") == "Running" else obj["status"].get("phase")
        self.cut[uid] = at + 1
        self._push(at, "emit", {"type": "MODIFIED", "object": obj})
        self._push(at + 1, "emit", {"type": "DELETED", "object": copy.deepcopy(obj)})

    # -- node faults -----------------------------------------------------------------------------------
    def _schedule_fault(self, after: int, name: str) -> None:
        spec = self.profile.nodes
        rate = spec.not_ready_per_node_day + spec.pressure_per_node_day + spec.missing_daemonset_per_node_day
        if rate <= 0:
            return
        gap_s = self.rng_node.expovariate(rate / DAY_S)
        self._push(after + int(gap_s * 1000), self._fault, (name,))

    def _fault(self, at: int, name: str) -> None:
        spec, rng, node = self.profile.nodes, self.rng_node, self.nodes[name]
        kinds = [
            ("not_ready", spec.not_ready_per_node_day),
            ("pressure", spec.pressure_per_node_day),
            ("missing_daemonset", spec.missing_daemonset_per_node_day),
        ]
        kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        if node.ready != "True" or node.pressure:
            self._schedule_fault(at, name)  # already in trouble
            return
        if kind == "not_ready":
            recovers = rng.random() < spec.recover_share
            down = spec.down_s.sample(rng) if recovers else None
            self._node_down(at, name, down, reporting=rng.random() < spec.reporting_share)
            if recovers:
                self._push(at + int(down * 1000), self._node_up, (name,))
                self._schedule_fault(at + int(down * 1000), name)
            return
        if kind == "pressure":
            which = rng.choice(["MemoryPressure", "DiskPressure"])
            duration = spec.pressure_s.sample(rng)
            node.pressure = {which: "True"}
            node.faults.append({"kind": which, "start": at, "end": at + int(duration * 1000)})
            self._emit_node(at, node)
            self._push(at + int(duration * 1000), self._pressure_over, (name,))
            self._schedule_fault(at + int(duration * 1000), name)
            return
        duration = spec.missing_daemonset_s.sample(rng)
        victim = next(
            (
                obj
                for (ns, _), obj in self.objects["pods"].items()
                if ns == "kube-system" and obj["spec"].get("nodeName") == name
            ),
            None,
        )
        if victim is not None:
            node.faults.append({"kind": "CriticalDaemonSetMissing", "start": at, "end": at + int(duration * 1000)})
            self._push(at, "emit", {"type": "DELETED", "object": copy.deepcopy(victim)})
            self._push(at + int(duration * 1000), self._start_daemonset_pod, (name,))
        self._schedule_fault(at + int(duration * 1000), name)

    def _pressure_over(self, at: int, name: str) -> None:
        node = self.nodes[name]
        node.pressure = {}
        self._emit_node(at, node)

    def _node_down(self, at: int, name: str, down_s: float | None, reporting: bool = False) -> None:
        """The node stops running pods. Either its kubelet stops (after the monitor grace the
        node controller marks it Unknown), or, `reporting`, the kubelet says Ready=False at once."""
        node = self.nodes[name]
        if not reporting and down_s is not None and down_s < NODE_MONITOR_GRACE_S:
            return  # back before the node controller noticed: a blip nobody sees
        unknown_at = at if reporting else at + NODE_MONITOR_GRACE_S * 1000
        node.faults.append(
            {
                "kind": "NodeNotReady" if reporting else "NodeUnreachable",
                "start": unknown_at,
                "end": None if down_s is None else at + int(down_s * 1000),
            }
        )
        for info in self.pods.values():
            if info.node != name or info.uid in self.cut or (info.namespace, info.name) not in self.objects["pods"]:
                continue
            self.cut[info.uid] = at
            self._judge_cut_pod(info, at, unknown_at)
        self._push(unknown_at, self._mark_unknown, (name, "False" if reporting else "Unknown"))
        if down_s is None or down_s > NODE_MONITOR_GRACE_S + EVICTION_AFTER_S:
            self._push(unknown_at + EVICTION_AFTER_S * 1000, self._taint_evict, (name, down_s, at))

    def _judge_cut_pod(self, info: PodInfo, cut_at: int, lost_at: int) -> None:
        """A pod whose kubelet died at `cut_at` (its node seen lost at `lost_at`)."""
        truth = info.truth
        due = info.created_ms + DEADLINE_S * 1000
        undelivered = info.delivered_ms is None or info.delivered_ms > cut_at
        if undelivered and lost_at < due:
            truth = Truth("failed", "system", "NodeNotReady", None)
        elif (
            undelivered
            and info.scheduled_ms is not None
            and info.scheduled_ms <= cut_at
            and (info.kubelet_ms is None or info.kubelet_ms > cut_at)
        ):
            truth = Truth("timeout", "system", "KubeletNoProgress", None)  # bound, and then nothing
        if info.deleted_ms is not None and info.deleted_ms > lost_at:
            truth = Truth(truth.outcome, truth.attribution, truth.reason, None)  # its deletion never came
        elif info.deleted_ms is not None and lost_at <= info.deleted_ms + (GRACE_S + DELETION_SLACK_S) * 1000:
            truth = Truth(truth.outcome, truth.attribution, truth.reason, "NodeLost")
        info.truth = truth

    def _mark_unknown(self, at: int, name: str, status: str = "Unknown") -> None:
        node = self.nodes[name]
        node.ready, node.since = status, datetime.fromtimestamp(at / 1000, UTC)
        self._emit_node(at, node)
        for (_namespace, _name), obj in list(self.objects["pods"].items()):
            if obj["spec"].get("nodeName") == name:
                self._pod_event(at + 5000, obj, "NodeNotReady", "Node is not ready", "node-controller")

    def _taint_evict(self, at: int, name: str, down_s: float | None, down_at: int) -> None:
        if self.nodes[name].ready == "True":
            return
        recovered = None if down_s is None else down_at + int(down_s * 1000)
        for (ns, pod_name), current in list(self.objects["pods"].items()):
            if current["spec"].get("nodeName") != name or current["metadata"].get("deletionTimestamp"):
                continue
            if any(o.get("kind") == "DaemonSet" for o in current["metadata"].get("ownerReferences", [])):
                continue  # DaemonSet pods tolerate the unreachable taint
            obj = copy.deepcopy(current)
            now = datetime.fromtimestamp(at / 1000, UTC)
            obj["metadata"]["deletionTimestamp"] = ts(now + timedelta(seconds=30))
            obj["metadata"]["deletionGracePeriodSeconds"] = 30
            obj["status"].setdefault("conditions", []).append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastTransitionTime": ts(now),
                    "reason": "DeletionByTaintManager",
                    "message": "Taint manager: deleting due to NoExecute taint",
                }
            )
            record_write(obj, "kube-controller-manager", now)
            self._pod_event(
                at,
                obj,
                "TaintManagerEviction",
                f"Marking for deletion Pod {ns}/{pod_name}",
                "taint-eviction-controller",
                type_="Normal",
            )
            self._push(at, "emit", {"type": "MODIFIED", "object": obj})
            info = self.pods.get(obj["metadata"]["uid"])
            if info is not None:
                limit = at + (GRACE_S + DELETION_SLACK_S) * 1000
                stuck = "NodeLost" if recovered is None or recovered > limit else None
                info.truth = Truth(info.truth.outcome, info.truth.attribution, info.truth.reason, stuck)
                info.deleted_ms = at

    def _node_up(self, at: int, name: str) -> None:
        node = self.nodes[name]
        node.ready, node.since = "True", datetime.fromtimestamp(at / 1000, UTC)
        self._emit_node(at, node)
        for (ns, pod_name), obj in list(self.objects["pods"].items()):  # the kubelet confirms deletions
            if obj["spec"].get("nodeName") == name and obj["metadata"].get("deletionTimestamp"):
                self._push(at + 2000, self._finish_delete, (obj["metadata"]["uid"], ns, pod_name))

    def _pod_event(self, at: int, pod: dict, reason: str, message: str, component: str, type_: str = "Warning") -> None:
        meta = pod["metadata"]
        moment = ts(datetime.fromtimestamp(at / 1000, UTC))
        self._push(
            at,
            "emit",
            {
                "type": "ADDED",
                "object": {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{meta['name']}.{stable_uid(reason, str(at))[:16]}",
                        "namespace": meta["namespace"],
                        "uid": stable_uid("ev", meta["uid"], reason, str(at)),
                        "creationTimestamp": moment,
                    },
                    "involvedObject": {
                        "kind": "Pod",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "apiVersion": "v1",
                    },
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "source": {"component": component},
                    "firstTimestamp": moment,
                    "lastTimestamp": moment,
                    "count": 1,
                },
            },
        )

    # -- truth -----------------------------------------------------------------------------------------
    def truth(self) -> dict:
        with self.lock:
            pods = [
                info.record(self.now_ms)
                for info in self.pods.values()
                if info.story != "daemonset" and info.created_ms <= self.now_ms
            ]
            nodes = [
                {"name": n.name, "faults": [f for f in n.faults if f["start"] <= self.now_ms]}
                for n in self.nodes.values()
            ]
            return {"pods": pods, "nodes": nodes}
