"""Gentle on the apiserver: the three list forms (streaming from the watch cache, whole
from the cache, paged from etcd) served by the simulator as an apiserver serves them and
used by the collector gentlest first; relists by cause, backed off; a bounded request
rate; a user agent that names podslo."""

from __future__ import annotations

import threading

import orjson
import pytest
import urllib3

from collector.collect import RELIST_BACKOFF_S, Collector, Reflector, Stats
from collector.source import INITIAL_EVENTS_END, USER_AGENT, KubeSource, TokenBucket
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.server import serve_in_thread
from tests.test_collector import FAST, caught_up, tick


@pytest.fixture
def engine():
    engine = Engine(load_profile("default"), seed=13, nodes=5, pods_per_minute=240)
    engine.advance(engine.now_ms + 120_000)
    return engine


def served(url: str) -> dict:
    return orjson.loads(urllib3.request("GET", url + "/simulator/v1/served").data)


def test_a_streaming_list_is_the_objects_then_the_end_bookmark_then_the_changes(engine):
    server, thread, url = serve_in_thread(engine)
    try:
        query = "watch=true&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=60"
        refused = urllib3.request("GET", f"{url}/api/v1/pods?{query}")  # no resourceVersionMatch
        assert refused.status == 422 and b"NotOlderThan" in refused.data
        response = urllib3.request(
            "GET", f"{url}/api/v1/pods?{query}&resourceVersionMatch=NotOlderThan", preload_content=False
        )
        live = {o["metadata"]["uid"] for o in engine.objects["pods"].values()}  # the cluster holds still...
        lines = []
        for line in response:  # ...until the initial events end; then it moves, until a change arrives
            lines.append(orjson.loads(line))
            if lines[-1]["type"] == "BOOKMARK":
                engine.advance(engine.now_ms + 20_000)
            if lines[-1]["type"] == "MODIFIED":
                break
        response.release_conn()
        counts = served(url)["served"]
    finally:
        server.should_exit = True
        thread.join(5)
    end = next(
        i
        for i, e in enumerate(lines)
        if e["type"] == "BOOKMARK" and e["object"]["metadata"].get("annotations", {}).get(INITIAL_EVENTS_END) == "true"
    )
    assert {e["type"] for e in lines[:end]} == {"ADDED"}
    assert {e["object"]["metadata"]["uid"] for e in lines[:end]} == live
    assert any(e["type"] == "MODIFIED" for e in lines[end + 1 :]), "then it goes on as a watch"
    assert counts["watch streaming"]["requests"] == 1 and counts["watch streaming"]["bytes"] > 1000


@pytest.mark.parametrize(
    "forms,used",
    [
        (("paged", "cache", "streaming"), "streaming"),
        (("paged", "cache"), "cache"),
        (("paged",), "paged"),
    ],
)
def test_the_collector_lists_in_the_gentlest_form_served(engine, store, cluster, forms, used):
    server, thread, url = serve_in_thread(engine, forms=forms)
    collector = Collector(store, KubeSource(server=url), cluster, flush_s=0.2, **FAST).start()
    try:
        tick(engine, 10)
        caught_up(store, cluster, engine)
        counts = served(url)
    finally:
        collector.shutdown()
        server.should_exit = True
        thread.join(5)
    assert collector.stats.list_form == {"pods": used, "nodes": used, "events": used}
    kinds = {key.split(" ")[1] for key in counts["served"] if key.startswith("list ")}
    assert kinds == ({"cache"} if used == "cache" else {"paged"} if used == "paged" else set())
    if used == "streaming":  # one request lists and watches
        assert counts["served"]["watch streaming"]["requests"] == 3
    assert set(counts["user_agents"]) == {USER_AGENT} and USER_AGENT.startswith("podslo-collector/")
    stored = dict(store.rows("SELECT uid, max(rv) FROM raw_pods WHERE cluster = {c:String} GROUP BY uid", c=cluster))
    assert all(
        stored.get(o["metadata"]["uid"]) == int(o["metadata"]["resourceVersion"])
        for o in engine.objects["pods"].values()
    )


def test_relists_close_together_back_off_with_jitter():
    waits = []

    class Clock(threading.Event):
        def wait(self, timeout=None):
            waits.append(timeout)
            return False

    reflector = Reflector(KubeSource(server="http://127.0.0.1:1"), "pods", None, Clock(), Stats())
    for _ in range(4):
        reflector._pause_before_relist("expired")
    first, cap = RELIST_BACKOFF_S
    assert len(waits) == 3  # the first relist does not wait
    assert all(0 <= w <= min(cap, first * 2 ** (i + 1)) for i, w in enumerate(waits))
    assert len(set(waits)) == 3  # jittered


def test_the_request_rate_is_bounded():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(qps=5, burst=10, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        assert bucket.take() == 0  # the burst
    waits = [bucket.take() for _ in range(5)]
    assert waits == pytest.approx([0.2] * 5)
    now[0] += 10  # idle: the bucket fills up to its burst, no further
    assert [bucket.take() for _ in range(10)] == [0] * 10 and bucket.take() == pytest.approx(0.2)
