"""The simulator speaks the real Kubernetes API: kubectl and the official Python client."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.conftest import ROOT

KUBECTL = shutil.which("kubectl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "simulate",
            "--port",
            str(port),
            "--nodes",
            "6",
            "--pods-per-minute",
            "240",
            "--speed",
            "20",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager()
    for _ in range(100):
        try:
            if http.request("GET", url + "/version", timeout=1).status == 200:
                break
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(proc.stderr.read().decode())
    time.sleep(2)  # let the cluster fill a little
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def v1(server) -> client.CoreV1Api:
    config = client.Configuration()
    config.host = server
    return client.CoreV1Api(client.ApiClient(config))


def kubectl(server, *args, timeout=30) -> str:
    done = subprocess.run([KUBECTL, "--server", server, *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not KUBECTL, reason="kubectl not installed")
def test_kubectl_tables_json_yaml(server):
    nodes = kubectl(server, "get", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and len(nodes) == 7
    pods = kubectl(server, "get", "pods", "-A").splitlines()
    assert pods[0].split()[:4] == ["NAMESPACE", "NAME", "READY", "STATUS"] and len(pods) > 5
    listed = json.loads(kubectl(server, "get", "pods", "-A", "-o", "json"))
    assert listed["items"] and all(p["kind"] == "Pod" for p in listed["items"])
    assert "kind: Node" in kubectl(server, "get", "node", "node-1", "-o", "yaml")
    events = kubectl(server, "get", "events", "-A").splitlines()
    assert events[0].split()[:4] == ["NAMESPACE", "LAST", "SEEN", "TYPE"]
    assert any("Scheduled" in line for line in events)


@pytest.mark.skipif(not KUBECTL, reason="kubectl not installed")
def test_kubectl_watch_with_events(server):
    done = subprocess.run(
        [
            KUBECTL,
            "--server",
            server,
            "get",
            "pods",
            "-A",
            "--watch",
            "-o",
            "json",
            "--output-watch-events",
            "--request-timeout=3s",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    decoder, text, pos, kinds = json.JSONDecoder(), done.stdout, 0, set()
    while pos < len(text.rstrip()):
        while text[pos].isspace():
            pos += 1
        value, pos = decoder.raw_decode(text, pos)
        kinds.add(value["type"])
        assert value["object"]["kind"] == "Pod"
    assert {"ADDED", "MODIFIED"} <= kinds


@pytest.mark.skipif(not KUBECTL, reason="kubectl not installed")
def test_kubectl_run_and_delete(server):
    kubectl(server, "run", "probe-k", "--image=registry.k8s.io/pause:3.9", "-n", "default")
    assert "probe-k" in kubectl(server, "get", "pod", "probe-k", "-n", "default")
    kubectl(server, "delete", "pod", "probe-k", "-n", "default", "--timeout=30s")
    missing = subprocess.run(
        [KUBECTL, "--server", server, "get", "pod", "probe-k", "-n", "default"], capture_output=True, text=True
    )
    assert missing.returncode == 1 and "NotFound" in missing.stderr


def test_list_watch_resume_and_410(server, v1):
    listed = json.loads(v1.list_pod_for_all_namespaces(_preload_content=False).data)
    rv = listed["metadata"]["resourceVersion"]
    seen, last = [], rv
    for event in watch.Watch().stream(
        v1.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=3, allow_watch_bookmarks=True
    ):
        seen.append(event["type"])
        last = event["raw_object"]["metadata"]["resourceVersion"]
    assert "MODIFIED" in seen and "BOOKMARK" in seen and int(last) > int(rv)
    resumed = [
        e["raw_object"]["metadata"]["resourceVersion"]
        for e in watch.Watch().stream(v1.list_pod_for_all_namespaces, resource_version=last, timeout_seconds=2)
        if e["type"] != "BOOKMARK"
    ]
    assert all(int(r) > int(last) for r in resumed), "a resumed watch starts after its resourceVersion"
    urllib3.PoolManager().request("POST", v1.api_client.configuration.host + "/simulator/v1/compact")
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(v1.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=2):
            pass
    assert gone.value.status == 410


def test_paging_and_selectors(v1):
    first = v1.list_pod_for_all_namespaces(limit=5)
    assert len(first.items) == 5 and first.metadata._continue
    second = v1.list_pod_for_all_namespaces(limit=5, _continue=first.metadata._continue)
    assert not {p.metadata.uid for p in first.items} & {p.metadata.uid for p in second.items}
    on_node = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-2").items
    assert on_node and all(p.spec.node_name == "node-2" for p in on_node)
    pod = on_node[0]
    events = v1.list_namespaced_event(pod.metadata.namespace, field_selector=f"involvedObject.uid={pod.metadata.uid}")
    assert events.items and all(e.involved_object.uid == pod.metadata.uid for e in events.items)
    proxies = v1.list_namespaced_pod("kube-system", label_selector="k8s-app in (kube-proxy),k8s-app!=other,!probe")
    assert len(proxies.items) >= 5 and all(p.metadata.labels["k8s-app"] == "kube-proxy" for p in proxies.items)


def test_later_pages_answer_at_the_first_pages_version(v1):
    """As etcd serves them: a paged list is one snapshot however the cluster moves meanwhile."""

    def page_of(token=None) -> dict:
        return json.loads(v1.list_pod_for_all_namespaces(limit=20, _continue=token, _preload_content=False).data)

    page = page_of()
    listed_at, items = int(page["metadata"]["resourceVersion"]), page["items"]
    for _ in range(4):
        time.sleep(0.5)  # the cluster moves at 20x between pages
        page = page_of(page["metadata"]["continue"])
        assert int(page["metadata"]["resourceVersion"]) == listed_at
        items += page["items"]
    assert max(int(p["metadata"]["resourceVersion"]) for p in items) <= listed_at
    assert len({p["metadata"]["uid"] for p in items}) == len(items) == 100
    with pytest.raises(ApiException) as expired:
        forged = base64.urlsafe_b64encode(json.dumps({"rv": listed_at - 1, "after": ["", ""]}).encode()).decode()
        v1.list_pod_for_all_namespaces(limit=5, _continue=forged)
    assert expired.value.status == 410


def test_create_watch_ready_delete_gone(server, v1):
    """What a black-box probe does: create, see it Ready, delete, see it gone."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe-py", "labels": {"probe": "yes"}},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9"}]},
    }
    created = v1.create_namespaced_pod("default", body)
    assert created.metadata.uid
    ready = False
    for event in watch.Watch().stream(
        v1.list_namespaced_pod,
        "default",
        label_selector="probe=yes",
        resource_version=created.metadata.resource_version,
        timeout_seconds=20,
    ):
        conditions = event["object"].status.conditions or []
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            ready = True
            break
    assert ready
    deleted = v1.delete_namespaced_pod("probe-py", "default", grace_period_seconds=5)
    assert deleted.metadata.deletion_timestamp is not None
    for _ in range(100):
        try:
            v1.read_namespaced_pod("probe-py", "default")
            time.sleep(0.1)
        except ApiException as exc:
            assert exc.status == 404
            break
    else:
        pytest.fail("the pod never went away")
    with pytest.raises(ApiException) as missing:
        v1.delete_namespaced_pod("probe-py", "default")
    assert missing.value.status == 404


def test_truth_is_beside_the_api(server):
    truth = json.loads(urllib3.PoolManager().request("GET", server + "/simulator/v1/truth").data)
    assert truth["pods"] and {"uid", "outcome", "attribution", "reason", "stuck", "injected"} <= set(truth["pods"][0])
    assert len(truth["nodes"]) == 6


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/api/v1/pods?limit=abc", None),
        ("GET", "/api/v1/pods?limit=-1", None),
        ("GET", "/api/v1/pods?limit=99999999999999999999999", None),
        ("GET", "/api/v1/pods?watch=true&timeoutSeconds=soon", None),
        ("GET", "/api/v1/pods?watch=true&resourceVersion=abc", None),
        ("DELETE", "/api/v1/namespaces/default/pods/x?gracePeriodSeconds=later", None),
        ("DELETE", "/api/v1/namespaces/default/pods/x?gracePeriodSeconds=999999999999999999999", None),
        ("POST", "/api/v1/namespaces/default/pods", {"metadata": "x"}),
        ("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "a"}, "spec": {"containers": "x"}}),
        ("POST", "/api/v1/namespaces/default/pods", {"metadata": {"name": "a"}, "spec": "x"}),
    ],
)
def test_bad_requests_get_the_apiservers_400(server, method, path, body):
    answer = urllib3.request(method, server + path, body=None if body is None else json.dumps(body), timeout=10)
    status = json.loads(answer.data)
    assert answer.status == 400 and status["kind"] == "Status" and status["code"] == 400


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_every_label_selector_form_works_as_kubectl_sends_it(server):
    """Each form returns exactly the pods it names (the cluster moves between calls, so
    each answer is checked against its own labels)."""

    def apps(selector: str) -> list:
        items = json.loads(kubectl(server, "get", "pods", "-A", "-l", selector, "-o", "json"))["items"]
        return [item["metadata"].get("labels", {}).get("app") for item in items]

    with_app = apps("app")
    assert with_app and None not in with_app
    some = with_app[0]
    assert all(app is None for app in apps("!app"))
    for selector, want in (
        (f"app in ({some},nothing)", True),
        (f"app=={some}", True),
        (f"app={some}", True),
        (f"app notin ({some})", False),
        (f"app!={some}", False),
    ):
        got = apps(selector)
        assert (got and all(app == some for app in got)) if want else all(app != some for app in got), selector
