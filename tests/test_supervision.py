"""A service you can page on: delivery in order per receiver under faults, permanent refusals
given up, what is owed derived from the alert state, supervised loops and an honest /healthz,
clusters analysed apart, a taken port, a silent cluster, a quick SIGTERM. Real HTTP
receivers and real processes where the product meets them."""

from __future__ import annotations

import http.server
import json
import signal
import socket
import threading
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from analyzer.alerting import delivery
from analyzer.alerting.conditions import SLO_ALERT, Condition
from analyzer.alerting.delivery import DELIVERY_HEADER, Outbox
from analyzer.alerting.outbox import drop_removed, enqueue_owed, prune
from analyzer.alerting.receivers import Receiver
from analyzer.alerting.state import advance
from podslo.backoff import Backoff
from podslo.supervisor import Supervisor
from podslo.webserver import free_port
from slo_rules import load_rules
from tests.conftest import kill_tree, run_podslo, start_podslo, stop_process, wait_for

NOW = 1_772_409_600_000  # 2026-03-02, cluster time


class Hook:
    """A real webhook receiver on loopback: `answer(n, body)` gives the n-th post's
    (status, headers, body, delay); every post is kept with its headers."""

    def __init__(self, answer):
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                status, headers, reply, delay = answer(len(posts), body)
                posts.append({"body": json.loads(body), "headers": dict(self.headers), "status": status})
                time.sleep(delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                try:
                    self.wfile.write(reply)
                except OSError:  # podslo read what it wanted and hung up
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[tuple[str, str]]:
        """(status, fingerprint) of each notification it took, in order."""
        return [(a["status"], a["fingerprint"]) for p in self.posts if p["status"] == 200 for a in p["body"]["alerts"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _answer(status=200, headers=None, reply=b"", delay=0.0):
    return lambda n, body: (status(n) if callable(status) else status, headers or {}, reply, delay)


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(delivery, "DELIVERY", Backoff(0.05, 0.2))


def _condition(cluster: str, slo: str, severity: str = "page") -> Condition:
    return Condition(SLO_ALERT, slo, cluster, severity, 20.0, {"summary": "s", "description": "d"})


def _incident(store, rules, cluster, receivers) -> None:
    """Two alerts fire, then the first resolves: three notifications, in this order."""
    first, second = _condition(cluster, "pod-delivery"), _condition(cluster, "pod-deletion")
    keep = rules.spec.alerting.keep_firing_for.s * 1000
    advance(store, rules, cluster, NOW, [first])
    enqueue_owed(store, receivers, "http://podslo", [cluster])
    advance(store, rules, cluster, NOW + 60_000, [first, second])
    enqueue_owed(store, receivers, "http://podslo", [cluster])
    advance(store, rules, cluster, NOW + 120_000 + keep, [second])
    enqueue_owed(store, receivers, "http://podslo", [cluster])


def _drain_until(outbox: Outbox, receiver: str, done, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{receiver}: not delivered in time"
        outbox.drain(receiver)
        time.sleep(0.02)


def test_a_receiver_in_backoff_gets_every_notification_in_order(store, rules, cluster, fast_retries):
    hook = Hook(_answer(status=lambda n: 503 if n < 3 else 200))  # down for its first three posts
    receivers = [Receiver(f"a-{cluster}", hook.url)]
    try:
        _incident(store, rules, cluster, receivers)
        outbox = Outbox(store, receivers)
        _drain_until(outbox, receivers[0].name, lambda: len(hook.delivered()) == 3)
    finally:
        hook.close()
    statuses = [s for s, _ in hook.delivered()]
    first_fp = hook.delivered()[0][1]
    assert statuses == ["firing", "firing", "resolved"] and hook.delivered()[2][1] == first_fp
    tried = [(p["body"]["alerts"][0]["status"], p["body"]["alerts"][0]["fingerprint"]) for p in hook.posts]
    assert tried[:3] == [tried[0]] * 3, "while the oldest waits out its backoff, nothing overtakes it"
    ids = [p["headers"][DELIVERY_HEADER] for p in hook.posts if p["status"] == 200]
    assert len(set(ids)) == 3 and all(i.startswith(receivers[0].name + "|") for i in ids)
    assert outbox.posts["failed"] == 3 and outbox.posts["delivered"] == 3


def test_a_permanent_refusal_is_given_up_at_once_and_holds_nothing_back(store, rules, cluster, fast_retries):
    hook = Hook(_answer(status=400, reply=b"bad payload"))
    receivers = [Receiver(f"b-{cluster}", hook.url)]
    try:
        _incident(store, rules, cluster, receivers)
        outbox = Outbox(store, receivers)
        outbox.drain(receivers[0].name)
    finally:
        hook.close()
    assert len(hook.posts) == 3, "each refused once, none retried, none held back"
    assert outbox.posts["rejected"] == 3 and _pending(store, receivers[0].name) == 0
    rows = store.dicts(
        "SELECT given_up, last_error FROM webhook_outbox FINAL WHERE receiver = {r:String}", r=receivers[0].name
    )
    assert {r["given_up"] for r in rows} == {"rejected"} and all("HTTP 400" in r["last_error"] for r in rows)


def _pending(store, receiver: str) -> int:
    return store.scalar(
        "SELECT count() FROM webhook_outbox FINAL WHERE receiver = {r:String} AND delivered_at IS NULL "
        "AND given_up_at IS NULL",
        r=receiver,
    )


def test_429_waits_for_its_retry_after_and_a_huge_answer_is_read_only_in_part(store, rules, cluster):
    huge = b"x" * (20 << 20)
    hook = Hook(_answer(status=429, headers={"Retry-After": "120"}, reply=huge))
    receivers = [Receiver(f"c-{cluster}", hook.url)]
    try:
        advance(store, rules, cluster, NOW, [_condition(cluster, "pod-delivery")])
        enqueue_owed(store, receivers, "http://podslo", [cluster])
        outbox = Outbox(store, receivers)
        before = time.time()
        outbox.drain(receivers[0].name)
    finally:
        hook.close()
    row = store.dicts("SELECT * FROM webhook_outbox FINAL WHERE receiver = {r:String}", r=receivers[0].name)[0]
    assert row["next_at"].timestamp() >= before + 119, "Retry-After is honoured"
    assert len(hook.posts) == 1 and len(row["last_error"]) < 300


def test_a_hanging_receiver_costs_the_others_nothing(store, rules, cluster, monkeypatch):
    monkeypatch.setattr(delivery, "TIMEOUT_S", 3.0)
    slow = Hook(_answer(delay=2.5))
    quick = Hook(_answer())
    receivers = [Receiver(f"slow-{cluster}", slow.url), Receiver(f"quick-{cluster}", quick.url)]
    stop = threading.Event()
    try:
        _incident(store, rules, cluster, receivers)
        outbox = Outbox(store, receivers)
        supervisor = Supervisor(stop)
        started = time.monotonic()
        for receiver in receivers:
            supervisor.every(f"webhook {receiver.name}", partial(outbox.drain, receiver.name), 0.1)
        wait_for("the quick receiver's three", lambda: len(quick.delivered()) == 3, 30)
        quick_s = time.monotonic() - started
        wait_for("the slow receiver's three", lambda: len(slow.delivered()) == 3, 60)
    finally:
        stop.set()
        slow.close()
        quick.close()
    assert quick_s < 2.5, f"the quick receiver waited {quick_s:.1f}s on the slow one"


def test_what_is_owed_comes_from_the_alert_state(store, rules, cluster):
    """A lost outbox write costs a round, not a page; a receiver added later hears only of
    what fires now; a removed one's notifications are dropped and counted."""
    old = Receiver(f"old-{cluster}", "http://127.0.0.1:9/x")
    first, second = _condition(cluster, "pod-delivery"), _condition(cluster, "pod-deletion")
    keep = rules.spec.alerting.keep_firing_for.s * 1000
    advance(store, rules, cluster, NOW, [first])  # ... and the outbox write after it failed
    assert enqueue_owed(store, [old], "http://podslo", [cluster]) == 1
    assert enqueue_owed(store, [old], "http://podslo", [cluster]) == 0
    advance(store, rules, cluster, NOW + 60_000 + keep, [second])  # first resolves, second fires
    new = Receiver(f"new-{cluster}", "http://127.0.0.1:9/y")
    assert enqueue_owed(store, [old, new], "http://podslo", [cluster]) == 3  # old: resolved + second; new: second only
    owed_to_new = store.rows("SELECT id FROM webhook_outbox FINAL WHERE receiver = {r:String}", r=new.name)
    assert len(owed_to_new) == 1 and "|firing|" in owed_to_new[0][0]
    assert drop_removed(store, [new]) >= 3 and _pending(store, old.name) == 0


def test_the_outbox_is_bounded_per_receiver(store, rules, cluster):
    receiver = Receiver(f"bound-{cluster}", "http://127.0.0.1:9/x")
    for i in range(5):
        advance(store, rules, f"{cluster}-{i}", NOW + i, [_condition(f"{cluster}-{i}", "pod-delivery")])
    enqueue_owed(store, [receiver], "http://podslo", [f"{cluster}-{i}" for i in range(5)])
    assert _pending(store, receiver.name) == 5
    assert prune(store, receiver.name, max_pending=3)["over-count"] == 2 and _pending(store, receiver.name) == 3
    assert prune(store, receiver.name, max_age_s=0)["too-old"] == 3 and _pending(store, receiver.name) == 0


def test_a_loop_that_raises_restarts_and_a_stale_one_turns_healthz_red(monkeypatch):
    from fastapi.testclient import TestClient

    from collector.service import make_service
    from podslo import supervisor as supervision

    monkeypatch.setattr(supervision, "RESTART", Backoff(0.05, 0.1))
    runs = {"flaky": 0}

    def flaky():
        runs["flaky"] += 1
        if runs["flaky"] <= 2:
            raise OSError("disk full")

    def broken():
        raise OSError("disk full for good")

    stop = threading.Event()
    loops = Supervisor(stop)
    try:
        flaky_state = loops.every("prober", flaky, 0.05, stale_after_s=5)
        wait_for("the flaky loop to work again", lambda: runs["flaky"] > 3 and flaky_state.failures == 0, 30)
        assert flaky_state.failed_total == 2 and loops.health()["status"] == "ok"
        client = TestClient(make_service([], health=loops.health))
        assert client.get("/healthz").status_code == 200
        loops.every("analysis", broken, 0.05, stale_after_s=0.5)
        wait_for("the broken loop to go stale", lambda: loops.health()["status"] != "ok", 30)
        answer = client.get("/healthz")
        assert answer.status_code == 503 and "analysis" in answer.json()["unhealthy"]
        assert "disk full for good" in answer.json()["unhealthy"]["analysis"]
        assert loops.loops["analysis"].thread.is_alive(), "it keeps trying"
    finally:
        stop.set()
        loops.join(5)


def test_one_failing_cluster_does_not_stop_the_others(ingest, store, rules, cluster, monkeypatch):
    from app import analysis_loop
    from app.analysis_loop import AnalysisLoop
    from tests.conftest import simulate

    ingest(simulate(seconds=300, seed=3, nodes=4)[1], analyze_after=False)
    real = analysis_loop.analyze

    def analyze(store_, name, rules_):
        if name == "broken":
            raise RuntimeError("a query this cluster's data breaks")
        return real(store_, name, rules_)

    monkeypatch.setattr(analysis_loop, "analyze", analyze)
    # a first retry long after three rounds, however slow the machine (the default's is 2.5-5 s)
    monkeypatch.setattr(analysis_loop, "CLUSTER_RETRY", Backoff(600.0, 600.0, "equal"))
    loop = AnalysisLoop(store, rules, ["broken", cluster], [], "http://podslo")
    for _ in range(3):
        result = loop.run_round()
        assert {s.cluster for s in result.statuses} == {cluster}
    assert loop.failures["broken"] == 1, "retried with backoff, not every round"
    assert loop.retries["broken"].next_at > time.monotonic()


def test_a_taken_listen_address_ends_serve_at_start(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        done = run_podslo(
            "serve", "--simulate", "--listen", f"127.0.0.1:{port}", "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path
        )
    said = done.stderr.decode().strip()
    assert done.returncode == 1 and time.monotonic() - started < 60
    assert "cannot listen on 127.0.0.1" in said and len(said.splitlines()) == 1 and "Traceback" not in said


def test_sigterm_ends_serve_within_30s_at_120x(tmp_path):
    api = free_port()
    serve = start_podslo(
        "serve",
        "--simulate",
        "--speed",
        "120",
        "--listen",
        f"127.0.0.1:{api}",
        "--analyze-every",
        "1",
        "--webhook",
        "http://127.0.0.1:9/unreachable",
        env={"PODSLO_DSN": f"chdb://{tmp_path}/db"},
        cwd=tmp_path,
    )
    try:
        wait_for(
            "pods verdicts",
            lambda: httpx.get(f"http://127.0.0.1:{api}/api/v1/pods?limit=1").json()["items"],
            240,
            serve,
        )
        wait_for("healthz", lambda: httpx.get(f"http://127.0.0.1:{api}/healthz").status_code == 200, 60, serve)
        time.sleep(10)  # a backlog builds at 120x
        started = time.monotonic()
        code = stop_process(serve)
        took = time.monotonic() - started
    finally:
        if serve.poll() is None:
            kill_tree(serve)
    assert code == 0 and took < 30, f"exit {code} after {took:.1f}s"


def test_a_silent_cluster_reads_unknown_pages_data_missing_and_resolves(tmp_path):
    """Its apiserver goes away: health Unknown and a DataMissing page at the receiver; it
    comes back: resolved."""
    rules = (
        Path(load_rules().source)
        .read_text()
        .replace("data_missing: {after: 5m, severity: page}", "data_missing: {after: 20s, severity: page}")
    )
    assert "after: 20s" in rules
    (tmp_path / "rules.yaml").write_text(rules)
    hook = Hook(_answer())
    sim_port, api = free_port(), free_port()

    def simulator():
        return start_podslo("simulate", "--port", str(sim_port), "--speed", "5", env={}, cwd=tmp_path)

    sim = simulator()
    serve = start_podslo(
        "serve",
        "--server",
        f"http://127.0.0.1:{sim_port}",
        "--cluster",
        "quiet",
        "--analyze-every",
        "2",
        "--listen",
        f"127.0.0.1:{api}",
        "--rules",
        str(tmp_path / "rules.yaml"),
        "--webhook",
        hook.url,
        env={"PODSLO_DSN": f"chdb://{tmp_path}/db"},
        cwd=tmp_path,
    )

    def health():
        return {c["name"]: c["health"] for c in httpx.get(f"http://127.0.0.1:{api}/api/v1/clusters").json()}

    def data_missing(status):
        return [
            a
            for p in hook.posts
            for a in p["body"]["alerts"]
            if a["labels"]["alertname"] == "DataMissing" and a["status"] == status
        ]

    try:
        wait_for("the cluster's data", lambda: health().get("quiet") == "Healthy", 180, serve)
        stop_process(sim, signal.SIGKILL)  # the apiserver goes away
        wait_for("health Unknown", lambda: health().get("quiet") == "Unknown", 120, serve)
        wait_for("a DataMissing page", lambda: data_missing("firing"), 60, serve)
        page = data_missing("firing")[0]
        assert page["labels"]["severity"] == "page" and page["labels"]["cluster"] == "quiet"
        assert "No data from cluster quiet" in page["annotations"]["summary"]
        sim = simulator()
        wait_for("DataMissing resolved", lambda: data_missing("resolved"), 180, serve)
        assert health()["quiet"] != "Unknown"
    finally:
        stop_process(serve)
        stop_process(sim, signal.SIGKILL)
        hook.close()


def test_podslo_slo_shows_what_serve_would_hold(tmp_path):
    """After a replay, without serve: the alert state and health `podslo slo` shows are the
    ones serve holds after its first round on the same store (not the empty stored state)."""
    from tests.conftest import simulate

    (tmp_path / "outage.jsonl").write_bytes(simulate("cni-outage", seconds=1080, seed=5, nodes=10)[1])  # mid-outage
    env = {"PODSLO_DSN": f"chdb://{tmp_path}/db"}
    assert run_podslo("replay", "--cluster", "c1", "outage.jsonl", cwd=tmp_path, env=env).returncode == 0
    shown = run_podslo("slo", "--format", "json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    alone = {
        (r["slo"], r["alerts"]["page"], r["alerts"]["ticket"], r["health"])
        for r in map(json.loads, shown.stdout.splitlines())
    }
    assert any(slo == "pod-delivery" and page == "firing" and health == "Fatal" for slo, page, _, health in alone)
    api = free_port()
    serve = start_podslo("serve", "--no-collect", "--listen", f"127.0.0.1:{api}", env=env, cwd=tmp_path)
    try:
        served = wait_for(
            "serve's first round",
            lambda: (
                httpx.get(f"http://127.0.0.1:{api}/api/v1/alerts", timeout=10).json()
                and httpx.get(f"http://127.0.0.1:{api}/api/v1/slos", timeout=10).json()
            ),
            180,
            serve,
        )
    finally:
        stop_process(serve)
    assert {(r["slo"], r["alerts"]["page"], r["alerts"]["ticket"], r["health"]) for r in served} == alone


def test_idle_connections_cannot_starve_healthz():
    from collector.collect import SERVICE_CONNECTIONS
    from collector.service import make_service
    from podslo.webserver import serve_app_in_thread

    server, thread, url = serve_app_in_thread(make_service([]), limit_concurrency=SERVICE_CONNECTIONS)
    port = int(url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
    trickling = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    try:
        for sock in trickling:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head never finished
        answers = [httpx.get(f"{url}/healthz", timeout=5).status_code for _ in range(20)]
        assert answers == [200] * 20
    finally:
        for sock in idle + trickling:
            sock.close()
        server.should_exit = True
        thread.join(5)
