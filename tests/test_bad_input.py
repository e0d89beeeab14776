"""Bad input gets a clear error naming what and where; good neighbours are kept."""

from __future__ import annotations

import json

import yaml

from simulator.objects import PodStory, Recorder
from simulator.stories import Scene
from tests.golden.generate import T0


def pod_events(n: int) -> list[dict]:
    rec = Recorder()
    for i in range(n):
        PodStory(rec, T0, f"web-{i}")
    return rec.stream()


def lines(values) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


def test_truncated_value_between_good_ones(ingest):
    good = pod_events(3)
    data = lines(good[:1]) + json.dumps(good[1]).encode()[:-40] + b"\n" + lines(good[2:])
    tally = ingest(data)
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    assert set(ingest.pods()) == {"web-0", "web-2"}
    ((line, message),) = ingest.problems
    assert line == 2 and "line 2" in message and "JSON" in message


def test_truncated_last_value_is_reported_as_truncated(ingest):
    good = pod_events(2)
    tally = ingest(lines(good[:1]) + json.dumps(good[1], indent=2).encode()[:-30])
    assert tally.taken["Pod"] == 1 and tally.malformed == 1
    assert "truncated" in ingest.problems[0][1]


def test_pretty_printed_concatenated_values_with_a_broken_one(ingest):
    good = pod_events(3)
    broken = json.dumps(good[1], indent=2).replace('"metadata": {', '"metadata": {{', 1)
    data = "\n".join([json.dumps(good[0], indent=2), broken, json.dumps(good[2], indent=4)]) + "\n"
    tally = ingest(data)
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    start = 2 + json.dumps(good[0], indent=2).count("\n")
    assert ingest.problems[0][0] == start


def test_several_values_on_one_line(ingest):
    good = pod_events(2)
    tally = ingest(json.dumps(good[0]) + json.dumps(good[1]) + "\n")
    assert tally.taken["Pod"] == 2 and tally.malformed == 0


def test_wrong_types_name_the_field(ingest):
    good = pod_events(4)
    good[1]["object"]["metadata"]["creationTimestamp"] = 12345
    good[2]["object"]["spec"]["containers"] = {"name": "app"}
    good[3]["object"]["metadata"] = "oops"
    tally = ingest(lines(good))
    assert tally.taken["Pod"] == 1 and tally.malformed == 3
    messages = "\n".join(m for _, m in ingest.problems)
    assert "line 2: Pod default/web-1: Pod.metadata.creationTimestamp" in messages
    assert "line 3: Pod default/web-2: Pod.spec.containers: expected a list" in messages
    assert "line 4: Pod ?: Pod.metadata: expected an object, got str" in messages


def test_unknown_kinds_are_counted_and_skipped(ingest):
    others = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}},
        {"type": "ADDED", "object": {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}}},
        {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}},
        {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired"}},
    ]
    tally = ingest(lines(pod_events(1) + others))
    assert tally.taken == {"Pod": 1} and tally.malformed == 0
    assert tally.skipped == {
        "unknown kind apps/v1/Deployment": 1,
        "unknown kind example.com/v1/Widget": 1,
        "bookmark": 1,
        "watch error": 1,
    }


def test_non_objects_and_junk_lines(ingest):
    data = lines(pod_events(1)) + b'"just a string"\n' + b"[1, 2]\n" + b"garbage here\n" + lines(pod_events(2)[1:])
    tally = ingest(data)
    assert tally.taken["Pod"] == 2
    assert tally.malformed == 4  # a string, two numbers, one junk line
    assert any("line 4" in m and "expected a JSON value" in m for _, m in ingest.problems)


def test_invalid_utf8_line_is_skipped(ingest):
    good = pod_events(3)
    bad = json.dumps(good[1]).encode().replace(b"web-1", b"web-\xff\xfe1")
    tally = ingest(lines(good[:1]) + bad + b"\n" + lines(good[2:]))
    assert tally.taken["Pod"] == 2 and tally.malformed == 1
    assert "line 2" in ingest.problems[0][1]


def test_huge_label_value_is_kept(ingest):
    good = pod_events(2)
    good[0]["object"]["metadata"]["labels"]["blob"] = "x" * 100_000
    good[1]["object"]["metadata"]["name"] = "web-\u00e9\u4e2d\U0001f600\x00"
    tally = ingest(lines(good))
    assert tally.taken["Pod"] == 2 and tally.malformed == 0
    assert {"web-0", "web-\u00e9\u4e2d\U0001f600\x00"} <= set(ingest.pods())


def test_lists_are_expanded(ingest):
    items = [e["object"] for e in pod_events(3)]
    tally = ingest(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}) + "\n")
    assert tally.taken["Pod"] == 3


def test_multi_document_yaml_with_a_broken_document(ingest):
    good = [e["object"] for e in pod_events(3)]
    docs = [yaml.safe_dump(good[0]), "metadata: [unclosed\n", yaml.safe_dump(good[1]), yaml.safe_dump(good[2])]
    tally = ingest("---\n" + "---\n".join(docs))
    assert tally.taken["Pod"] == 3 and tally.malformed == 1
    assert "YAML" in ingest.problems[0][1]


def test_audit_event_list(ingest):
    audit = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "Metadata",
                "auditID": "a1",
                "stage": "ResponseComplete",
                "requestURI": "/api/v1/namespaces/default/pods/web-0",
                "verb": "delete",
                "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "userAgent": "kube-controller-manager/v1.31.2",
                "objectRef": {"resource": "pods", "namespace": "default", "name": "web-0", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": "2026-03-02T10:00:10.123456Z",
                "stageTimestamp": "2026-03-02T10:00:10.130000Z",
            },
            {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete"},
        ],
    }
    tally = ingest(json.dumps(audit) + "\n", analyze_after=False)
    assert tally.taken == {"AuditEvent": 1} and tally.malformed == 1
    assert "auditID: missing" in ingest.problems[0][1]


def test_scene_nodes_and_events_of_both_apis(ingest):
    scene = Scene(T0)
    pod = PodStory(scene.rec, T0, "web-0")
    pod.schedule(1, "node-1")  # the scheduler's events.k8s.io/v1 Event
    pod.event(2, "Pulling", 'Pulling image "x"')  # the kubelet's core/v1 Event
    tally = ingest(lines(scene.rec.stream()))
    assert tally.taken == {"Node": 3, "Pod": 2, "Event": 2}
