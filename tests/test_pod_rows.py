"""The collector's hot path (a watch line -> row) and the general one (dict -> row) agree,
on real objects with managedFields and on bad ones."""

from __future__ import annotations

import json

import orjson
import pytest
import yaml

from collector.normalize import ObjectError
from collector.pods import pod_line_row, pod_row
from collector.route import Router, Tally
from collector.source import WatchLine, decode_frame
from podslo.schema import RAW_PODS
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "kind-rollout" / "recording.yaml"


def frame(obj: bytes, event_type: str = "ADDED") -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + obj + b"}"


MANAGED = [
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-03-02T10:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {"f:conditions": {}}},
    }
]


def fixture_pods() -> list[dict]:
    pods = [
        doc for doc in yaml.safe_load_all(FIXTURE.read_text()) if isinstance(doc, dict) and doc.get("kind") == "Pod"
    ]
    assert pods and any("managedFields" in p["metadata"] for p in pods)
    return pods


OBJECT = RAW_PODS.columns.index("object")


def _without_object(row: list) -> list:
    return row[:OBJECT] + row[OBJECT + 1 :]


def test_watch_bytes_and_replayed_dicts_give_the_same_row():
    for pod in fixture_pods():
        from_dict = pod_row("c", pod, "MODIFIED", 1)
        from_bytes = pod_line_row("c", frame(orjson.dumps(pod), "MODIFIED"), 1)
        assert _without_object(from_dict) == _without_object(from_bytes)
        assert json.loads(from_dict[OBJECT]) == json.loads(from_bytes[OBJECT])
        assert b"managedFields" not in from_bytes[OBJECT]


@pytest.mark.parametrize("where", ["first", "middle", "last", "only"])
def test_managed_fields_are_cut_wherever_they_sit(where):
    pod = fixture_pods()[0]
    meta = {k: v for k, v in pod["metadata"].items() if k != "managedFields"}
    keys = list(meta)
    at = {"first": 0, "middle": len(keys) // 2, "last": len(keys), "only": 0}[where]
    if where == "only":
        keys = ["uid", "name", "creationTimestamp"]
    ordered = dict([(k, meta[k]) for k in keys[:at]] + [("managedFields", MANAGED)] + [(k, meta[k]) for k in keys[at:]])
    raw = orjson.dumps({**pod, "metadata": ordered})
    stored = json.loads(pod_line_row("c", frame(raw), 1)[OBJECT])
    assert stored["metadata"] == {k: meta[k] for k in keys}
    spaced = json.dumps({**pod, "metadata": ordered}, separators=(", ", ": ")).encode()  # not compact: the slow way
    assert json.loads(pod_line_row("c", frame(spaced), 1)[OBJECT])["metadata"] == {k: meta[k] for k in keys}


def test_bad_pods_name_the_field_on_both_paths():
    pod = fixture_pods()[0]
    cases = {
        "Pod.metadata.labels: expected an object, got": {**pod, "metadata": {**pod["metadata"], "labels": ["x"]}},
        "Pod.status.conditions[0].lastTransitionTime: expected a string, got": {
            **pod,
            "status": {**pod["status"], "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": 5}]},
        },
        "Pod.metadata.uid: missing": {**pod, "metadata": {k: v for k, v in pod["metadata"].items() if k != "uid"}},
        "not a timestamp": {**pod, "metadata": {**pod["metadata"], "creationTimestamp": "yesterday"}},
        "Pod.status.conditions[].lastTransitionTime: not a timestamp": {
            **pod,
            "status": {
                **pod["status"],
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "soon"}],
            },
        },
        "Pod.status.containerStatuses[].terminated.finishedAt: not a timestamp": {
            **pod,
            "status": {
                **pod["status"],
                "containerStatuses": [{"state": {"terminated": {"exitCode": 1, "finishedAt": "late"}}}],
            },
        },
    }
    for expected, bad in cases.items():
        with pytest.raises(ObjectError) as error:
            pod_row("c", bad, "ADDED", 1)
        assert expected in str(error.value)
        assert expected in watched_problem(frame(orjson.dumps(bad)))
    assert "truncated" in watched_problem(frame(orjson.dumps(pod))[:-20])


def watched_problem(line: bytes) -> str:
    """What the collector reports for a pod line that the hot path hands on."""
    problems = []
    router = Router("c", lambda table, row: None, Tally(), lambda at, message: problems.append(message))
    assert router.route_pod_lines([line], 0, 1) == (0, "")
    event = decode_frame(line)  # as the reflector does next
    if isinstance(event, WatchLine):
        return event.error
    assert router.route_watched(event.type, event.object, 1) is None
    return problems[0]


def test_a_watch_line_is_decoded_once_or_left_to_the_general_path():
    pod = fixture_pods()[-1]
    line = orjson.dumps({"type": "MODIFIED", "object": pod})
    row = pod_line_row("c", line, 1)
    assert _without_object(row) == _without_object(pod_row("c", pod, "MODIFIED", 1))
    assert json.loads(row[OBJECT]) == {
        **pod,
        "metadata": {k: v for k, v in pod["metadata"].items() if k != "managedFields"},
    }
    odd = [
        orjson.dumps({"object": pod, "type": "MODIFIED"}),  # another key order
        orjson.dumps({"type": "MODIFIED", "object": pod, "extra": 1}),
        b'{"type":"MODIFIED","object":' + orjson.dumps(pod) + b',"type":"DELETED"}',
        orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}),
        orjson.dumps({"type": "MODIFIED", "object": {"metadata": "oops"}}),
        line[:-30],
    ]
    assert [pod_line_row("c", bad, 1) for bad in odd] == [None] * len(odd)


def test_the_hot_path_takes_a_run_of_pod_lines_and_stops_where_the_general_path_must_go():
    pods = fixture_pods()
    good = [frame(orjson.dumps(pod), "MODIFIED") for pod in pods[:3]]
    bookmark = orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "99"}}})
    lines = [good[0], good[1], bookmark, good[2]]
    rows = []
    router = Router("c", lambda table, row: rows.append(row), Tally(), lambda at, message: None)
    assert router.route_pod_lines(lines, 0, 7) == (2, pods[1]["metadata"]["resourceVersion"])
    assert router.route_pod_lines(lines, 2, 7) == (0, "")  # the reflector handles the bookmark itself
    assert router.route_pod_lines(lines, 3, 7) == (1, pods[2]["metadata"]["resourceVersion"])
    assert [row[1] for row in rows] == [pod["metadata"]["uid"] for pod in pods[:3]]


def test_long_strings_are_cut_on_the_hot_path_too():
    from collector.normalize import MAX_TEXT

    pod = fixture_pods()[0]
    meta = pod["metadata"]
    long = {
        **pod,
        "metadata": {
            **meta,
            "name": "n" * (MAX_TEXT + 5),
            "labels": {**meta.get("labels", {}), "blob": "v" * (MAX_TEXT + 1), "k" * (MAX_TEXT + 2): "x"},
        },
    }
    for row in (pod_line_row("c", frame(orjson.dumps(long)), 1), pod_row("c", long, "ADDED", 1)):
        named = RAW_PODS.Row(*row)._asdict()
        assert named["name"] == "n" * MAX_TEXT
        assert named["labels"]["blob"] == "v" * MAX_TEXT and named["labels"]["k" * MAX_TEXT] == "x"
        assert b"v" * (MAX_TEXT + 1) in named["object"]  # the stored object keeps them whole
    short = RAW_PODS.Row(*pod_line_row("c", frame(orjson.dumps(pod)), 1))._asdict()
    assert short["labels"] == meta.get("labels", {}) and short["name"] == meta["name"]


@pytest.mark.parametrize(
    "managed,want",
    [
        (
            [
                {**MANAGED[0], "time": "2026-03-02T10:00:00Z"},
                {**MANAGED[0], "manager": "backup", "time": "2026-03-02T11:00:05Z"},
            ],
            1772449205000,
        ),  # the newest write
        ([{**MANAGED[0], "time": "not a time"}], None),  # optional: unreadable is unknown, never an error
        ({"manager": "x"}, None),
    ],
)
def test_a_deleted_pods_last_write_is_read_on_both_paths(managed, want):
    pod = fixture_pods()[0]
    deleted = {**pod, "metadata": {**pod["metadata"], "managedFields": managed}}
    for row in (pod_line_row("c", frame(orjson.dumps(deleted), "DELETED"), 1), pod_row("c", deleted, "DELETED", 1)):
        named = RAW_PODS.Row(*row)._asdict()
        assert named["last_write_at"] == want and b"managedFields" not in named["object"]
    modified = RAW_PODS.Row(*pod_line_row("c", frame(orjson.dumps(deleted), "MODIFIED"), 1))._asdict()
    assert modified["last_write_at"] is None  # read for deletions only


def test_rows_hold_what_the_pod_said_not_what_it_means():
    """Every condition off its normal state, every container state that is not plain
    running, the claims, the status reason: stored as written; signals are the analyzer's."""
    from datetime import timedelta

    from simulator.objects import PodStory, Recorder
    from tests.golden.generate import T0

    pod = PodStory(Recorder(), T0, "db-0", containers=2)
    pod.add_claim("data", "data-db-0")
    pod.schedule(1, "node-1")
    pod.creating(1)
    pod.terminated(9, 4, "StartError", 128)
    pod._condition(9, "example.com/gate", "False", "Waiting", "for the load balancer")
    pod.fail_pod(10, "Evicted", "The node was low on resource: memory.")
    obj = pod.rec.stream()[-1]["object"]
    for row in (pod_line_row("c", frame(orjson.dumps(obj), "MODIFIED"), 1), pod_row("c", obj, "MODIFIED", 1)):
        named = RAW_PODS.Row(*row)._asdict()
        assert named["signals"] == []
        assert named["claims"] == ["data-db-0"]
        assert (named["status_reason"], named["status_message"]) == ("Evicted", "The node was low on resource: memory.")
        finished = int((T0 + timedelta(seconds=9)).timestamp() * 1000)
        assert [k[:7] + (k[8],) for k in named["containers"]] == [
            (name, 0, 0, "terminated", "StartError", "", 128, finished) for name in ("app", "sidecar-1")
        ]
        conditions = {c[0]: c[1:4] for c in named["conditions"]}
        assert conditions["example.com/gate"] == ("False", "Waiting", "for the load balancer")
        assert "PodScheduled" not in conditions  # True without a reason: its time is scheduled_at
        assert named["scheduled_at"] == int((T0 + timedelta(seconds=1)).timestamp() * 1000)
        assert named["running_containers"] == 0
