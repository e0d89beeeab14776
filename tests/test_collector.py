"""The collector against a live simulated API: what is served is what is stored, across
restarts, 410 Gone, deletions while away, dropped connections and malformed objects."""

from __future__ import annotations

import copy
import logging
import socket
import threading
import time

import pytest
import urllib3

from collector.collect import Collector
from collector.source import KubeSource
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import serve_in_thread

FAST = {"watch_timeout_s": (2, 4), "read_timeout_s": 5, "backoff_s": (0.05, 0.5)}


@pytest.fixture
def cluster_api():
    engine = Engine(load_profile("default"), seed=11, nodes=6, pods_per_minute=240)
    engine.advance(engine.now_ms + 120_000)
    server, thread, url = serve_in_thread(engine)
    yield engine, url, server
    server.should_exit = True
    thread.join(5)


def start(store, url, cluster) -> Collector:
    return Collector(store, KubeSource(server=url), cluster, flush_s=0.2, **FAST).start()


def tick(engine: Engine, seconds: float, steps: int = 10) -> None:
    for _ in range(steps):
        engine.advance(engine.now_ms + int(seconds * 1000 / steps))
        time.sleep(0.05)


def caught_up(store, cluster, engine, timeout=20.0) -> None:
    """Wait until the stored pod checkpoint reaches the engine's newest change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = store.scalar("SELECT max(rv) FROM raw_pods WHERE cluster = {c:String}", c=cluster) or 0
        newest = max((int(o["metadata"]["resourceVersion"]) for o in engine.objects["pods"].values()), default=0)
        if stored >= newest:
            return
        time.sleep(0.1)
    pytest.fail("the collector did not catch up")


def stored_latest(store, cluster) -> dict[str, tuple[int, str]]:
    return {
        uid: (int(rv), kind)
        for uid, rv, kind in store.rows(
            "SELECT uid, max(rv), if(max(event_type = 'DELETED'), 'DELETED', 'live') FROM raw_pods "
            "WHERE cluster = {c:String} GROUP BY uid",
            c=cluster,
        )
    }


def collect_while(store, url, cluster, engine, seconds: float) -> Collector:
    """Run a collector while the cluster moves `seconds`, until it has caught up; then stop it."""
    collector = start(store, url, cluster)
    tick(engine, seconds)
    caught_up(store, cluster, engine)
    collector.shutdown()
    return collector


def stored_pod_rvs(store, cluster) -> set[tuple[str, int]]:
    return {(uid, rv) for uid, rv in store.rows("SELECT uid, rv FROM raw_pods WHERE cluster = {c:String}", c=cluster)}


def served_pod_rvs(engine, after: int) -> set[tuple[str, int]]:
    return {(obj["metadata"]["uid"], rv) for rv, res, _, obj in engine.log if res == "pods" and rv > after}


def assert_mirrors(store, cluster, engine):
    stored = stored_latest(store, cluster)
    for obj in engine.objects["pods"].values():
        uid, rv = obj["metadata"]["uid"], int(obj["metadata"]["resourceVersion"])
        assert stored.get(uid, (0, ""))[0] == rv, f"pod {obj['metadata']['name']} stored at an older version"
    live = {o["metadata"]["uid"] for o in engine.objects["pods"].values()}
    ghosts = [uid for uid, (_, kind) in stored.items() if uid not in live and kind != "DELETED"]
    assert not ghosts, "pods gone from the cluster must be recorded as gone"


def test_what_is_served_is_stored(cluster_api, store, cluster):
    engine, url, _ = cluster_api
    collector = collect_while(store, url, cluster, engine, 60)
    listed_at = int(collector.stats.listed_at["pods"])
    assert_mirrors(store, cluster, engine)
    stored = stored_pod_rvs(store, cluster)
    assert served_pod_rvs(engine, listed_at) <= stored, "every change watched must be stored"
    doubled = store.rows(
        "SELECT uid, rv, groupArray(event_type) FROM raw_pods FINAL WHERE cluster = {c:String} "
        "GROUP BY uid, rv HAVING count() > 1",
        c=cluster,
    )
    assert not doubled, f"nothing doubled (relists {dict(collector.stats.relists)})"
    counts = store.row_counts(cluster)
    assert counts["raw_nodes"] >= 6 and counts["raw_events"] > 0


def test_restart_resumes_without_relisting(cluster_api, store, cluster):
    engine, url, _ = cluster_api
    collect_while(store, url, cluster, engine, 20)
    stopped_at = store.scalar("SELECT max(rv) FROM raw_pods WHERE cluster = {c:String}", c=cluster)
    tick(engine, 40)  # the cluster goes on while we are away
    second = collect_while(store, url, cluster, engine, 10)
    assert second.stats.relists["pods"] == 0, "a resumable watch must not relist"
    stored = stored_pod_rvs(store, cluster)
    assert served_pod_rvs(engine, stopped_at) <= stored, "nothing missed while away"
    assert_mirrors(store, cluster, engine)


def test_410_relists_and_records_pods_deleted_while_away(cluster_api, store, cluster):
    engine, url, _ = cluster_api
    collect_while(store, url, cluster, engine, 10)
    victims = [
        key for key, obj in list(engine.objects["pods"].items()) if obj["metadata"]["namespace"] != "kube-system"
    ][:3]
    for namespace, name in victims:
        engine.delete_pod(namespace, name, grace=0)
    tick(engine, 10)
    engine.compact()  # the DELETED events are no longer in the log: only a relist can tell
    second = collect_while(store, url, cluster, engine, 5)
    assert second.stats.relists["pods"] == 1
    assert second.stats.gone_while_away["pods"] >= len(victims)
    assert_mirrors(store, cluster, engine)


class CuttableProxy:
    """A TCP proxy on loopback whose connections can all be cut at once."""

    def __init__(self, upstream: str):
        host, port = upstream.replace("http://", "").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self, refuse: bool) -> None:
        self.open = not refuse
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def close(self) -> None:
        self.cut(True)
        self.listener.close()


def test_dropped_connections_converge(cluster_api, store, cluster):
    engine, url, _ = cluster_api
    proxy = CuttableProxy(url)
    collector = start(store, proxy.url, cluster)
    try:
        tick(engine, 10)
        proxy.cut(refuse=True)  # every watch dies mid-stream, and reconnects are dropped...
        tick(engine, 20)
        time.sleep(1.0)
        proxy.cut(refuse=False)  # ...until the network is back
        tick(engine, 10)
        caught_up(store, cluster, engine)
    finally:
        collector.shutdown()
        proxy.close()
    assert sum(collector.stats.restarts.values()) >= 1
    assert collector.stats.relists["pods"] == 1, "a dropped connection resumes; it does not relist"
    assert_mirrors(store, cluster, engine)


def test_malformed_objects_are_counted_and_skipped(cluster_api, store, cluster):
    engine, url, _ = cluster_api
    collector = start(store, url, cluster)
    tick(engine, 5)
    with engine.lock:
        some = copy.deepcopy(next(iter(engine.objects["pods"].values())))
        some["metadata"]["name"] = "broken-pod"
        some["metadata"]["uid"] = "broken-uid"
        some["metadata"]["creationTimestamp"] = "not a time"
        engine._push(engine.now_ms, "emit", {"type": "ADDED", "object": some})
    tick(engine, 20)
    caught_up(store, cluster, engine)
    collector.shutdown()
    assert collector.stats.malformed["pods"] >= 1
    assert not store.rows("SELECT 1 FROM raw_pods WHERE cluster = {c:String} AND uid = 'broken-uid'", c=cluster)
    stored = stored_latest(store, cluster)
    healthy = [o for o in engine.objects["pods"].values() if o["metadata"]["uid"] != "broken-uid"]
    assert all(stored.get(o["metadata"]["uid"], (0,))[0] == int(o["metadata"]["resourceVersion"]) for o in healthy)


def test_metrics_and_audit_webhook(cluster_api, store, cluster):
    import json

    import urllib3

    from collector.service import make_service
    from podslo.webserver import serve_app_in_thread

    engine, url, _ = cluster_api
    collector = start(store, url, cluster)
    server, thread, service = serve_app_in_thread(
        make_service([collector], audit_token="s3cret-token", audit_max_bytes=64 << 10)
    )
    http = urllib3.PoolManager()
    auth = {"Content-Type": "application/json", "Authorization": "Bearer s3cret-token"}
    try:
        tick(engine, 10)
        caught_up(store, cluster, engine)
        audit = {
            "kind": "EventList",
            "apiVersion": "audit.k8s.io/v1",
            "items": [
                {
                    "kind": "Event",
                    "apiVersion": "audit.k8s.io/v1",
                    "level": "Metadata",
                    "auditID": f"a-{i}",
                    "stage": "ResponseComplete",
                    "verb": "delete",
                    "user": {"username": "jane@example.com"},
                    "userAgent": "kubectl/v1.31.2",
                    "objectRef": {"resource": "pods", "namespace": "shop", "name": f"web-{i}"},
                    "responseStatus": {"code": 200},
                    "requestReceivedTimestamp": "2026-03-02T00:01:00.000000Z",
                    "stageTimestamp": "2026-03-02T00:01:00.010000Z",
                }
                for i in range(3)
            ],
        }
        at = service + f"/audit?cluster={cluster}"
        body = json.dumps(audit).encode()
        assert http.request("POST", at, body=body).status == 401
        assert http.request("POST", at, body=body, headers={**auth, "Authorization": "Bearer guess"}).status == 403
        assert http.request("POST", at, body=body, headers={**auth, "Authorization": "Basic czNjcmV0"}).status == 401
        assert http.request("POST", service + "/audit", body=body, headers=auth).status == 404  # whose cluster?
        huge = b'{"kind":"EventList","items":[' + b" " * (64 << 10) + b"]}"
        assert http.request("POST", at, body=huge, headers=auth).status == 413
        assert (
            http.request(
                "POST",
                at,
                body=iter([huge[i : i + 4096] for i in range(0, len(huge), 4096)]),
                headers=auth,
                chunked=True,
            ).status
            == 413
        )  # no Content-Length to go by
        assert http.request("POST", at, body=b"{nope", headers=auth).status == 400
        for wrong in (
            b"null",
            b"[]",
            b"7",
            b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}',
            b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[1, "x"]}',
        ):
            assert http.request("POST", at, body=wrong, headers=auth).status == 400, wrong
        tick(engine, 10)
        caught_up(store, cluster, engine)  # collecting throughout
        assert http.request("POST", at, body=body, headers=auth).status == 200
        text = http.request("GET", service + "/metrics").data.decode()
        assert http.request("GET", service + "/healthz").status == 200
    finally:
        collector.shutdown()
        server.should_exit = True
        thread.join(5)
    received = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("podslo_collector_events_received_total")
    }
    assert received[f'podslo_collector_events_received_total{{cluster="{cluster}",resource="pods"}}'] > 0
    assert f'podslo_collector_relists_total{{cause="start",cluster="{cluster}",resource="pods"}} 1.0' in text
    assert "podslo_collector_rows_written_total" in text
    rows = store.rows(
        "SELECT username, verb, name, response_code FROM raw_audit WHERE cluster = {c:String} ORDER BY name", c=cluster
    )
    assert rows == [("jane@example.com", "delete", f"web-{i}", 200) for i in range(3)]


def test_the_audit_webhook_is_off_without_a_token(cluster_api, store, cluster):
    import urllib3

    from collector.service import make_service
    from podslo.webserver import serve_app_in_thread

    collector = start(store, cluster_api[1], cluster)
    server, thread, service = serve_app_in_thread(make_service([collector]))
    try:
        refused = urllib3.PoolManager().request(
            "POST", service + f"/audit?cluster={cluster}", body=b"{}", headers={"Authorization": "Bearer anything"}
        )
        assert refused.status == 403 and b"--audit-token-file" in refused.data
    finally:
        collector.shutdown()
        server.should_exit = True
        thread.join(5)


def test_black_box_probes(store, cluster):
    from collector.probes import Prober
    from simulator.server import Clock

    engine = Engine(load_profile("default"), seed=12, nodes=4, pods_per_minute=30)
    clock = Clock(engine, speed=30)
    clock.thread.start()
    server, thread, url = serve_in_thread(engine)
    prober = Prober(store, KubeSource(server=url), cluster, every_s=0.1, ready_timeout_s=20, gone_timeout_s=20)
    try:
        for _ in range(2):
            prober.record(prober.probe())
    finally:
        clock.stop.set()
        server.should_exit = True
        thread.join(5)
    assert [r["outcome"] for r in prober.results] == ["ok", "ok"], prober.results
    for result in prober.results:
        assert 0 < result["ready_s"] < 60 and result["node"].startswith("node-")
        assert result["delete_s"] is not None and result["total_s"] >= result["delete_s"]
    assert not engine.objects["pods"].get(("podslo-probes", prober.results[0]["probe"])), "probe pods are cleaned up"
    stored = store.rows("SELECT outcome, ready_s > 0 FROM probe_results WHERE cluster = {c:String}", c=cluster)
    assert stored == [("ok", 1), ("ok", 1)]


def test_store_away_then_back_loses_nothing(cluster_api, store, cluster, tmp_path):
    """The store goes away (its table vanishes), batches spool, the collector even restarts
    while spooled; when the store is back the spool drains in order and nothing is lost."""
    from collector.spool import Spool

    engine, url, _ = cluster_api
    spool = Spool(tmp_path / "spool", max_bytes=64 * 1024 * 1024)
    collector = Collector(store, KubeSource(server=url), cluster, flush_s=0.2, spool=spool, **FAST).start()
    tick(engine, 10)
    caught_up(store, cluster, engine)
    listed_at = int(collector.stats.listed_at["pods"])
    store.command("RENAME TABLE raw_pods TO raw_pods_away")
    try:
        tick(engine, 30)
        time.sleep(1.0)
        assert spool.files(), "batches must wait in the spool"
        collector.shutdown()  # stopped while the store is away: the rest spools too
        waiting = len(spool.files())
        collector = Collector(store, KubeSource(server=url), cluster, flush_s=0.2, spool=spool, **FAST)
    finally:
        store.command("RENAME TABLE raw_pods_away TO raw_pods")
    collector.start()  # drains the spool (oldest first), then reads on
    tick(engine, 10)
    caught_up(store, cluster, engine)
    collector.shutdown()
    assert not spool.files() and collector.stats.drained[cluster] >= waiting
    assert served_pod_rvs(engine, listed_at) <= stored_pod_rvs(store, cluster)
    assert_mirrors(store, cluster, engine)


def test_spool_is_bounded(tmp_path):
    from collector.spool import Spool, SpoolFull

    spool = Spool(tmp_path, max_bytes=200)
    spool.put({"rows": {"raw_pods": [["x" * 300]]}, "checkpoints": []})
    with pytest.raises(SpoolFull):
        spool.put({"rows": {}, "checkpoints": []})
    written = []
    assert spool.drain(written.append) == 1 and written[0]["rows"]["raw_pods"] == [["x" * 300]]
    assert not spool.full()


def test_a_rebuilt_cluster_is_relisted_not_waited_for(store, cluster):
    """The stored resume point lies beyond what a rebuilt cluster has reached: relist."""
    old = Engine(load_profile("default"), seed=41, nodes=4, pods_per_minute=240)
    old.advance(old.now_ms + 600_000)
    server, thread, url = serve_in_thread(old)
    collect_while(store, url, cluster, old, 5)
    server.should_exit = True
    thread.join(5)
    rebuilt = Engine(load_profile("default"), seed=42, nodes=4, pods_per_minute=240)  # younger: smaller RVs
    server, thread, url = serve_in_thread(rebuilt)
    second = start(store, url, cluster)
    try:
        assert rebuilt.rv < old.rv
        tick(rebuilt, 10)
        deadline = time.monotonic() + 20  # the server waits 3 s before it says "too large"
        while time.monotonic() < deadline and not mirrored(store, cluster, rebuilt):
            time.sleep(0.2)
    finally:
        second.shutdown()
        server.should_exit = True
        thread.join(5)
    assert second.stats.relists["pods"] == 1
    assert mirrored(store, cluster, rebuilt), "the rebuilt cluster's pods are all stored"


def mirrored(store, cluster, engine) -> bool:
    live = {o["metadata"]["uid"]: int(o["metadata"]["resourceVersion"]) for o in engine.objects["pods"].values()}
    stored = dict(store.rows("SELECT uid, max(rv) FROM raw_pods WHERE cluster = {c:String} GROUP BY uid", c=cluster))
    return all(stored.get(uid) == rv for uid, rv in live.items())


def test_a_watch_that_opens_while_shutting_down_is_closed_at_once():
    """`close` may look before the resumed watch's response exists; the response must not
    then keep the thread reading until the read timeout."""
    from collector.collect import Reflector, Stats

    class Response:
        closed = False

        def shutdown(self):
            self.closed = True

    stop = threading.Event()
    reflector = Reflector(
        source=KubeSource(server="http://127.0.0.1:1"), resource="pods", sink=None, stop=stop, stats=Stats()
    )
    reflector.close()  # nothing open yet
    stop.set()
    late = Response()
    reflector._opened(late)
    assert late.closed
    running = Response()
    stop.clear()
    reflector._opened(running)
    assert not running.closed


def test_an_audit_body_that_trickles_is_cut_off(cluster_api, store, cluster, monkeypatch):
    from collector import service
    from podslo.webserver import serve_app_in_thread

    monkeypatch.setattr(service, "AUDIT_BODY_S", 0.5)
    collector = start(store, cluster_api[1], cluster)
    server, thread, url = serve_app_in_thread(service.make_service([collector], audit_token="t"))
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(
                f"POST /audit?cluster={cluster} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                'Transfer-Encoding: chunked\r\n\r\n5\r\n{"kin\r\n'.encode()
            )  # and then nothing more
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408")
    finally:
        collector.shutdown()
        server.should_exit = True
        thread.join(5)


def test_a_request_head_that_trickles_is_cut_off(cluster_api, store, cluster, monkeypatch):
    from collector import service
    from podslo import webserver

    monkeypatch.setattr(webserver, "HEAD_S", 0.5)
    collector = start(store, cluster_api[1], cluster)
    server, thread, url = webserver.serve_app_in_thread(service.make_service([collector], audit_token="t"))
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(b"POST /audit HTTP/1.1\r\nHost: x\r\n")  # and the rest of the head never comes
            assert sock.recv(4096) == b""  # closed
        assert urllib3.request("GET", url + "/healthz").status == 200  # whole requests still served
    finally:
        collector.shutdown()
        server.should_exit = True
        thread.join(5)


def test_an_unreachable_apiserver_is_logged_once_per_backoff_step(store, cluster, caplog, monkeypatch):
    """Retries against an apiserver that is not there: a line at the 1st, 2nd, 4th, 8th...
    failure in a row of each watch, not one per attempt (backoffs shortened to milliseconds; the
    request rate limiter, 5 a second, still paces the attempts)."""
    import collector.collect

    monkeypatch.setattr(collector.collect, "RELIST_BACKOFF_S", (0.001, 0.004))
    caplog.set_level("DEBUG")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        collector = Collector(
            store, KubeSource(server=url), cluster, flush_s=0.2, **{**FAST, "backoff_s": (0.001, 0.004)}
        ).start()
        deadline = time.monotonic() + 60
        while collector.stats.restarts["pods"] < 16 and time.monotonic() < deadline:
            time.sleep(0.05)
        collector.shutdown()
    attempts = collector.stats.restarts["pods"]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    pods = [line for line in said if line.startswith("pods")]
    assert attempts >= 16 and pods and "Connection refused" in pods[0]
    assert len(pods) <= 2 * attempts.bit_length(), pods  # its failures and its quick relists, per step
    assert not [line for line in said if "Retrying" in line], "no retries under the reflector's own"


def test_a_probe_whose_watch_expires_watches_again(store, cluster):
    """The apiserver ends a probe's watch with an ERROR event (410 Gone: a Status, not a pod):
    the probe watches again from now and still sees its pod ready and gone."""
    from collector.probes import Prober
    from simulator.server import Clock

    engine = Engine(load_profile("default"), seed=13, nodes=4, pods_per_minute=30)
    clock = Clock(engine, speed=30)
    clock.thread.start()
    server, thread, url = serve_in_thread(engine)
    source = KubeSource(server=url)
    create = source.create_pod

    def create_then_compact(namespace, body):
        created = create(namespace, body)
        deadline = time.monotonic() + 10
        while engine.rv <= int(created["metadata"]["resourceVersion"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.compact()  # the cluster moved on and forgot: the probe's resourceVersion is too old
        return created

    source.create_pod = create_then_compact
    prober = Prober(store, source, cluster, every_s=0.1, ready_timeout_s=20, gone_timeout_s=20)
    try:
        result = prober.probe()
    finally:
        clock.stop.set()
        server.should_exit = True
        thread.join(5)
    assert result["outcome"] == "ok", result
    assert result["ready_s"] > 0 and result["delete_s"] is not None
