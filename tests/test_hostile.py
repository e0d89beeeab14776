"""Hostile input never costs good data: a generated corpus of wrong types, extremes and
odd strings in every field the analyzer reads, mixed with good pods; and the forms that
used to crash replay or move every verdict (nesting, ranges, YAML tags and aliases,
surrogates, a byte-order mark, a garbage first line, a far-future time)."""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta

import pytest

from collector import stream
from simulator.stories import STORIES, Scene
from tests.conftest import run_podslo
from tests.golden.generate import T0

# Where the analyzer reads a pod, and values no cluster should send there.
PATHS = [
    ("metadata", "uid"),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "creationTimestamp"),
    ("metadata", "deletionTimestamp"),
    ("metadata", "deletionGracePeriodSeconds"),
    ("metadata", "labels"),
    ("metadata", "finalizers"),
    ("metadata", "ownerReferences"),
    ("metadata", "resourceVersion"),
    ("spec", "nodeName"),
    ("spec", "restartPolicy"),
    ("spec", "containers"),
    ("spec", "volumes"),
    ("spec", "containers", 0, "resources", "requests", "cpu"),
    ("spec", "containers", 0, "resources", "requests", "memory"),
    ("status", "phase"),
    ("status", "reason"),
    ("status", "conditions"),
    ("status", "conditions", 0, "lastTransitionTime"),
    ("status", "conditions", 0, "type"),
    ("status", "containerStatuses"),
    ("status", "containerStatuses", 0, "state"),
    ("status", "containerStatuses", 0, "name"),
]


def _deep(levels: int):
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


VALUES = [
    None,
    [],
    {},
    "",
    0,
    -1,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    True,
    "x" * 70_000,
    "\x1b[31m\x1b]0;owned\x07",
    "\u202eevil",
    "2299-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "-5Gi",
    "1e400",
    _deep(300),
    [[[[]]]],
]


def _set(obj: dict, path: tuple, value) -> bool:
    """Put `value` at `path` (False when the pod has nothing there to replace)."""
    node = obj
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False
    if isinstance(node, list) and not (isinstance(path[-1], int) and path[-1] < len(node)):
        return False
    node[path[-1]] = value
    return True


def _recording() -> list[dict]:
    scene = Scene(T0)
    for name in ("ok_service", "image_not_found", "app_crash", "stuck_finalizer", "node_not_ready", "evicted"):
        STORIES[name](scene, name.replace("_", "-") + "-0", T0)
    scene.heartbeat(T0 + timedelta(seconds=2400))
    return scene.rec.stream()


def _hostile_variants(good: list[dict]) -> list[dict]:
    """Every (path, value) pair on a running pod, each a pod of its own name and uid."""
    template = next(
        e
        for e in reversed(good)
        if e["object"]["kind"] == "Pod" and e["object"].get("status", {}).get("containerStatuses")
    )
    out = []
    for i, path in enumerate(PATHS):
        for j, value in enumerate(VALUES):
            event = copy.deepcopy(template)
            meta = event["object"]["metadata"]
            meta["name"], meta["uid"] = f"hostile-{i}-{j}", f"hostile-uid-{i}-{j}"
            if _set(event["object"], path, copy.deepcopy(value)):
                out.append(event)
    return out


def test_a_hostile_corpus_costs_no_good_pod_its_verdict(ingest, store, rules):
    good = _recording()
    baseline = ingest.cluster
    ingest(_lines(good))
    expected = ingest.pods()
    hostile = _hostile_variants(good)
    mixed = [(e, False) for e in good]
    rng = random.Random(5)
    for event in hostile:
        mixed.insert(rng.randrange(1, len(mixed)), (event, True))
    ingest.cluster = baseline + "-hostile"
    tally = ingest(_lines([e for e, _ in mixed]))  # a crash fails the test here
    assert _good(ingest.pods()) == _good(expected)
    hostile_lines = {n for n, (_, bad) in enumerate(mixed, 1) if bad}
    reported = {line for line, _ in ingest.problems}
    assert reported <= hostile_lines, "only hostile values are reported"
    stored = {
        r[0] for r in store.rows("SELECT DISTINCT uid FROM raw_pods WHERE cluster = {c:String}", c=ingest.cluster)
    }
    unaccounted = [
        e["object"]["metadata"].get("uid")
        for n, (e, bad) in enumerate(mixed, 1)
        if bad and n not in reported and e["object"]["metadata"].get("uid") not in stored
    ]
    assert not unaccounted, f"hostile values neither stored nor reported: {unaccounted[:5]}"
    assert len(hostile) > 400 and tally.malformed == len(reported) > 50


def _good(pods: dict) -> dict:
    """The verdicts of the pods that are not hostile variants, but for their cluster's name."""
    return {
        p["uid"]: {k: v for k, v in p.items() if k != "cluster"}
        for p in pods.values()
        if not p["uid"].startswith("hostile-uid") and not p["name"].startswith("hostile-")
    }


def _lines(values) -> bytes:
    return b"".join(json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n" for v in values)


def _pods(n: int = 3) -> list[dict]:
    good = [e for e in _recording() if e["object"]["kind"] == "Pod"]
    return good[:n]


@pytest.mark.parametrize(
    "bad,why",
    [
        (b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}", "depth limit"),
        (b"[" * 2000 + b"]" * 2000, "depth limit"),
        (b'{"type":[],"object":{}}', "kind/apiversion"),
        (b'{"type":{"a":1},"object":{}}', "kind/apiversion"),
        (
            b'{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"s","uid":"s1","annotations":{"a":"\\ud800"}}}}',
            "surrogate",
        ),
        (b'{"type":"ADDED","object":', "unexpected end of data (at line 2)"),
    ],
)
def test_one_bad_value_never_loses_its_neighbours(ingest, bad, why):
    good = _pods(2)
    tally = ingest(_lines(good[:1]) + bad + b"\n" + _lines(good[1:]))
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    ((line, message),) = ingest.problems
    assert line == 2 and why in message.lower().replace("low surrogate", "surrogate")


def test_numbers_out_of_range_are_reported_not_stored(ingest):
    good = _pods(3)
    events = copy.deepcopy(good)
    negative = copy.deepcopy(good[0])
    negative["object"]["metadata"].update(uid="neg", name="negative-cpu")
    negative["object"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "-1"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "x.1", "namespace": "default", "uid": "e-1"},
        "involvedObject": {"kind": "Pod", "name": "nobody", "namespace": "default", "uid": "nobody"},
        "reason": "X",
        "message": "m",
        "count": -9223372036854775809,
        "type": "Normal",
        "firstTimestamp": "2026-03-02T10:00:00Z",
        "lastTimestamp": "2026-03-02T10:00:00Z",
    }
    audit = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": "a-1",
        "stage": "ResponseComplete",
        "responseStatus": {"code": 2**70},
        "stageTimestamp": "2026-03-02T10:00:00Z",
    }
    tally = ingest(_lines(events[:1] + [negative, event, audit] + events[1:]))
    assert tally.taken["Pod"] == 3 and tally.malformed == 3
    messages = " | ".join(m for _, m in ingest.problems)
    assert "requests.cpu: '-1' is out of range" in messages and "Event.count" in messages
    assert "responseStatus.code" in messages


@pytest.mark.parametrize(
    "doc,why",
    [
        ("apiVersion: v1\nkind: Pod\nmetadata: !!set {a, b}\n", "set"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x, uid: !!binary aGVsbG8=}\n", "bytes"),
        ("a: &a [*a]\n", "contains it"),
        (
            "a: &a [1,2,3,4,5,6,7,8,9]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
            "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
            "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n",
            "aliases are expanded",
        ),
    ],
)
def test_yaml_that_is_not_plain_data_is_refused(ingest, doc, why):
    import yaml

    good = [e["object"] for e in _pods(2)]
    text = "---\n".join([yaml.safe_dump(good[0]), doc, yaml.safe_dump(good[1])])
    tally = ingest(text)
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    assert why in ingest.problems[0][1]


def test_a_bom_or_a_garbage_first_line_costs_nothing(ingest):
    good = _pods(3)
    assert ingest(stream.BOM + _lines(good)).taken["Pod"] == 3
    ingest.cluster += "-garbage"
    tally = ingest(b"this is not json\n" + _lines(good))
    assert tally.taken["Pod"] == 3 and tally.malformed == 1


def test_a_single_line_is_held_to_the_value_size_limit(ingest, monkeypatch):
    monkeypatch.setattr(stream, "MAX_VALUE_BYTES", 4096)
    good = _pods(2)
    huge = json.dumps({**good[0], "pad": "x" * 20_000}).encode()
    tally = ingest(_lines(good[:1]) + huge + b"\n" + _lines(good[1:]))
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    assert "larger than 4096 bytes" in ingest.problems[0][1]


def test_a_far_future_timestamp_does_not_move_now(ingest):
    good = _recording()
    ingest(_lines(good))
    before = ingest.pods()
    future = {
        "type": "ADDED",
        "object": {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "x.2", "namespace": "default", "uid": "e-2"},
            "involvedObject": {"kind": "Pod", "name": "nobody", "namespace": "default", "uid": "nobody"},
            "reason": "X",
            "message": "far future",
            "count": 1,
            "type": "Normal",
            "firstTimestamp": "2299-01-01T00:00:00Z",
            "lastTimestamp": "2299-01-01T00:00:00Z",
        },
    }
    ingest.cluster += "-future"
    ingest(_lines(good[:5] + [future] + good[5:]))
    assert _good(ingest.pods()) == _good(before)


def test_a_file_of_nothing_but_malformed_values_fails(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"nope\n[1,\n{"type":"ADDED","object":\n')
    done = run_podslo("replay", str(bad), "--dsn", f"chdb://{tmp_path}/db", "--no-analyze", cwd=tmp_path)
    assert done.returncode == 1 and b"every value was malformed" in done.stderr and b"Traceback" not in done.stderr


def test_a_batch_the_store_refuses_never_blocks_the_ones_behind_it(store, cluster, tmp_path):
    """One row the store cannot take, in a spooled batch and a fresh one: it is split out
    into the quarantine table, everything else is written, and the spool drains."""
    from collector.collect import Sink, Stats
    from collector.pods import pod_row
    from collector.spool import Spool

    pods = [pod_row(cluster, e["object"], "ADDED", None) for e in _pods(3)]
    bad = list(pods[1])
    bad[20] = -1  # cpu_request_m, a UInt64
    spool = Spool(tmp_path / "spool")
    spool.put({"rows": {"raw_pods": [pods[0], bad, pods[2]]}, "checkpoints": [[cluster, "pods", "7", 1]]})
    sink = Sink(store, cluster, 100, Stats(), spool)
    sink.writer.hold("raw_pods", list(bad))
    sink.writer.hold("raw_pods", pods[2])
    sink.try_flush()
    assert spool.files() == []
    stored = store.rows(
        "SELECT uid, count() FROM raw_pods WHERE cluster = {c:String} GROUP BY uid ORDER BY uid", c=cluster
    )
    assert sorted(stored) == sorted([(pods[0][1], 1), (pods[2][1], 2)])
    assert sink.writer.written["raw_pods"] == 3 and sink.writer.quarantined["raw_pods"] == 2
    kept = store.rows("SELECT target, error, row FROM quarantine WHERE cluster = {c:String}", c=cluster)
    assert len(kept) == 2 and all(t == "raw_pods" and pods[1][1] in r for t, _, r in kept)
    assert sink.checkpoint("pods") == "7"


def test_names_are_not_paths_and_text_is_not_terminal_control(tmp_path):
    from podslo.names import printable

    for bad in ("../../x", "a/b", ".hidden", "x" * 64, ""):
        done = run_podslo("replay", "-", "--cluster", bad, "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path, stdin=b"")
        assert done.returncode == 2 and b"--cluster" in done.stderr, bad
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text("clusters:\n  - {name: ../../escape, server: http://127.0.0.1:1}\n")
    done = run_podslo("collect", "--clusters", str(clusters), "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path)
    assert done.returncode != 0 and b"../../escape" in done.stderr and b"Traceback" not in done.stderr
    assert not (tmp_path / "escape").exists()
    assert (
        printable("web-0 \x1b[31mred\x1b]0;title\x07 \u202eevil\ttab\n")
        == "web-0 \\x1b[31mred\\x1b]0;title\\x07 \\u202eevil\ttab\n"
    )


def test_trace_shows_control_characters_as_escapes(tmp_path):
    scene = Scene(T0)
    STORIES["image_not_found"](scene, "web-0", T0)
    events = scene.rec.stream()
    for e in events:
        if e["object"]["kind"] == "Event":
            e["object"]["message"] = "pull failed \x1b[31m\x1b]0;pwned\x07"
    recording = tmp_path / "r.jsonl"
    recording.write_bytes(_lines(events))
    dsn = f"chdb://{tmp_path}/db"
    assert run_podslo("replay", str(recording), "--dsn", dsn, cwd=tmp_path).returncode == 0
    done = run_podslo("trace", "web-0", "--dsn", dsn, cwd=tmp_path)
    assert done.returncode == 0 and b"\x1b" not in done.stdout and b"\\x1b[31m" in done.stdout


def test_a_time_received_live_counts_no_later_than_its_receive_time(ingest):
    """Live rows carry their receive time: an Event two days ahead (near enough to the bulk
    to pass as data) cannot move now past when it was received."""
    from podslo.timeutil import iso

    scene = Scene(T0)
    for name in ("ok_service", "image_not_found", "stuck_finalizer"):
        STORIES[name](scene, name.replace("_", "-") + "-0", T0)
    STORIES["pending"](scene, "young-0", T0 + timedelta(seconds=2395))  # 5 s old at the end: pending
    scene.heartbeat(T0 + timedelta(seconds=2400))
    received = [
        {**item, "time": iso(int(at.timestamp() * 1000))}
        for at, _, item in sorted(scene.rec.items, key=lambda x: (x[0], x[1]))
    ]
    ingest(_lines(received))
    before = ingest.pods()
    assert before["young-0"]["outcome"] == "pending"
    ahead = (T0 + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = {
        "type": "ADDED",
        "time": iso(int((T0 + timedelta(seconds=2400)).timestamp() * 1000)),
        "object": {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "x.3", "namespace": "default", "uid": "e-3"},
            "involvedObject": {"kind": "Pod", "name": "nobody", "namespace": "default", "uid": "nobody"},
            "reason": "X",
            "message": "a clock two days fast",
            "count": 1,
            "type": "Normal",
            "firstTimestamp": ahead,
            "lastTimestamp": ahead,
        },
    }
    ingest.cluster += "-ahead"
    ingest(_lines(received + [future]))
    assert _good(ingest.pods()) == _good(before)


def test_a_uid_seen_under_two_names_keeps_its_latest(ingest):
    first = _pods(1)[0]
    renamed = copy.deepcopy(first)
    renamed["type"] = "MODIFIED"
    renamed["object"]["metadata"]["name"] = "renamed-0"
    renamed["object"]["metadata"]["resourceVersion"] = str(int(first["object"]["metadata"]["resourceVersion"]) + 1)
    ingest(_lines([first, renamed]))
    assert [p["name"] for p in ingest.pods().values()] == ["renamed-0"]
