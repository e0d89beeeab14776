"""The real `podslo` command, each call in its own process (and chDB engine)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_podslo
from tests.golden.generate import HERE as GOLDEN

REQUIRED = {"cluster", "namespace", "name", "uid", "kind", "created_at", "deadline_s", "outcome", "attribution",
            "reason", "evidence", "node", "delivery_s", "phases"}
PHASES = {"scheduling_s", "sandbox_s", "image_pull_s", "container_start_s", "readiness_s"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A store filled through `podslo replay -` from stdin: two golden cases."""
    path = tmp_path_factory.mktemp("cli")
    for case in ("image_not_found", "stuck_finalizer"):
        done = run_podslo("replay", "--cluster", case, "-", cwd=path, stdin=(GOLDEN / case / "input.jsonl").read_bytes())
        assert done.returncode == 0, done.stderr.decode()
        assert b"taken:" in done.stdout and b"pod verdicts" in done.stdout
    return path


def test_pods_json_is_the_contract(workdir):
    done = run_podslo("pods", "--format", "json", cwd=workdir)
    assert done.returncode == 0, done.stderr.decode()
    pods = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(pods) == 2
    for pod in pods:
        assert REQUIRED <= set(pod) and set(pod["phases"]) == PHASES
    stuck = next(p for p in pods if p["cluster"] == "stuck_finalizer")
    assert stuck["deletion"]["stuck"] is True and stuck["deletion"]["reason"] == "Finalizer"
    assert set(stuck["deletion"]) >= {"requested_at", "gone_at", "stuck", "reason"}


def test_pods_table_and_filters(workdir):
    done = run_podslo("pods", "--cluster", "image_not_found", "--outcome", "failed", cwd=workdir)
    text = done.stdout.decode()
    assert done.returncode == 0 and text.splitlines()[0].split()[:5] == ["POD", "KIND", "OUTCOME", "FAULT", "REASON"]
    assert "ImageNotFound" in text and "1 pods: 1 failed" in text
    both = run_podslo("pods", cwd=workdir).stdout.decode()
    assert both.splitlines()[0].split()[:2] == ["CLUSTER", "POD"] and "2 pods" in both  # several clusters
    stuck = run_podslo("pods", "--stuck", "--reason", "Finalizer", "--format", "json", cwd=workdir).stdout
    assert [json.loads(line)["cluster"] for line in stuck.splitlines()] == ["stuck_finalizer"]
    assert len(run_podslo("pods", "--limit", "1", "--format", "json", cwd=workdir).stdout.splitlines()) == 1
    listed = run_podslo("clusters", cwd=workdir).stdout.decode()
    assert "image_not_found" in listed and "stuck_finalizer" in listed and "HEALTH" in listed


def test_nodes_json(workdir):
    done = run_podslo("nodes", "--cluster", "stuck_finalizer", "--format", "json", cwd=workdir)
    nodes = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(n["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    for node in nodes:
        assert {"cluster", "name", "availability", "downtime_s", "faulty", "reasons", "needs_manual_repair"} <= set(node)
        assert node["availability"] == 1.0 and node["faulty"] is False


def test_trace(workdir):
    done = run_podslo("trace", "default/image-not-found-7d9f8c6b5-x2kq9", cwd=workdir)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "decided by rule ImageNotFound" in text and "Failed to pull image" in text and "timeline:" in text
    assert "waiting app ImagePullBackOff" in text  # the stored container state
    assert "whose move: the workload's owner; first check: That the tag was pushed" in text  # slo_rules' words


def test_errors_are_one_clear_line(workdir, tmp_path):
    missing = run_podslo("trace", "no-such-pod", cwd=workdir)
    assert missing.returncode == 1 and missing.stderr.decode().startswith("Error: no pod 'no-such-pod'")
    bad_dsn = run_podslo("pods", "--dsn", "mysql://x", cwd=workdir)
    assert bad_dsn.returncode == 1 and b"Traceback" not in bad_dsn.stderr and b"DSN" in bad_dsn.stderr
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 2\n")
    bad_rules = run_podslo("check-rules", str(rules), cwd=workdir)
    assert bad_rules.returncode == 1 and f"{rules}:1: version".encode() in bad_rules.stderr
    unreadable = run_podslo("replay", str(tmp_path / "nope.jsonl"), cwd=workdir)
    assert unreadable.returncode == 2 and b"nope.jsonl" in unreadable.stderr
    unknown = run_podslo("pods", "--cluster", "nope", cwd=workdir)
    assert unknown.returncode == 1 and b"no cluster 'nope' in the store (it holds: image_not_found, stuck_finalizer" in unknown.stderr
    empty = run_podslo("slo", "--dsn", f"chdb://{tmp_path}/empty", cwd=workdir)
    assert empty.returncode == 1 and empty.stderr.decode().startswith("Error: the store") \
        and "holds no podslo data yet" in empty.stderr.decode()


def test_json_logs(tmp_path):
    done = run_podslo("--log-format", "json", "-v", "migrate", "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path)
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")]
    assert any(r["msg"] == "schema: created table raw_pods" and r["level"] == "info" for r in records)


def test_demo_runs_the_whole_path(tmp_path):
    """`make demo`'s command: simulated API -> collector -> store -> verdicts, checked against the truth."""
    done = run_podslo("demo", "--minutes", "3", "--speed", "60", "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "serving the Kubernetes API" in text and "delivery success rate" in text
    agree, judged = map(int, text.split("injected: ")[1].split(" ")[0].split("/"))
    assert judged > 100 and agree / judged >= 0.98


def test_ingest_benchmark_stores_every_event(tmp_path):
    """`podslo bench ingest` (figures are for a person; here only that it measures the real path)."""
    done = run_podslo("bench", "ingest", "--events", "3000", "--rounds", "2", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    figures = json.loads(done.stdout)
    assert figures["events"] == figures["stored_rows"] == 3000  # the second round into a fresh store
    assert figures["bytes_per_event"] > 3000  # served as an apiserver serves pods, managedFields and all
    assert 0 < figures["cpu_s"] <= figures["process_cpu_s"] and figures["events_per_s"] > 0
    assert len(figures["rounds_events_per_s"]) == 2 and figures["events_per_s"] in figures["rounds_events_per_s"]
