"""The real `podslo` command, each call in its own process (and chDB engine)."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import httpx
import pytest

from podslo.webserver import free_port
from tests.conftest import kill_tree, run_podslo, start_podslo, stop_process, wait_for
from tests.golden.generate import HERE as GOLDEN

REQUIRED = {
    "cluster",
    "namespace",
    "name",
    "uid",
    "kind",
    "created_at",
    "deadline_s",
    "outcome",
    "attribution",
    "reason",
    "evidence",
    "node",
    "delivery_s",
    "phases",
}
PHASES = {"scheduling_s", "sandbox_s", "image_pull_s", "container_start_s", "readiness_s"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A store filled through `podslo replay -` from stdin: two golden cases."""
    path = tmp_path_factory.mktemp("cli")
    for case in ("image_not_found", "stuck_finalizer"):
        done = run_podslo(
            "replay", "--cluster", case, "-", cwd=path, stdin=(GOLDEN / case / "input.jsonl").read_bytes()
        )
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
    head = ["CREATED", "(UTC)", "POD", "KIND", "OUTCOME", "FAULT", "REASON", "DELIVERY"]
    assert done.returncode == 0 and text.splitlines()[0].split()[:8] == head
    assert "ImageNotFound" in text and "1 pods: 1 failed" in text
    both = run_podslo("pods", cwd=workdir).stdout.decode()
    assert both.splitlines()[0].split()[:4] == ["CLUSTER", "CREATED", "(UTC)", "POD"] and "2 pods" in both
    newest = [json.loads(line) for line in run_podslo("pods", "--format", "json", cwd=workdir).stdout.splitlines()]
    keys = [(p["created_at"], p["cluster"]) for p in newest]  # created at the same time: by cluster
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 2
    one = run_podslo("pods", "--limit", "1", "--format", "json", cwd=workdir).stdout.splitlines()
    assert [json.loads(line)["uid"] for line in one] == [newest[0]["uid"]]  # the newest, not the oldest
    stuck = run_podslo("pods", "--stuck", "--reason", "Finalizer", "--format", "json", cwd=workdir).stdout
    assert [json.loads(line)["cluster"] for line in stuck.splitlines()] == ["stuck_finalizer"]
    listed = run_podslo("clusters", cwd=workdir).stdout.decode()
    assert "image_not_found" in listed and "stuck_finalizer" in listed and "HEALTH" in listed


def test_nodes_json(workdir):
    done = run_podslo("nodes", "--cluster", "stuck_finalizer", "--format", "json", cwd=workdir)
    nodes = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(n["name"] for n in nodes) == ["node-1", "node-2", "node-3"]
    for node in nodes:
        assert {"cluster", "name", "availability", "downtime_s", "faulty", "reasons", "needs_manual_repair"} <= set(
            node
        )
        assert node["availability"] == 1.0 and node["faulty"] is False


def test_trace(workdir):
    done = run_podslo("trace", "default/image-not-found-7d9f8c6b5-x2kq9", cwd=workdir)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "decided by rule ImageNotFound" in text and "Failed to pull image" in text and "timeline:" in text
    assert "waiting app ImagePullBackOff" in text  # the stored container state
    assert "whose move: the workload's owner; first check: That the tag was pushed" in text  # slo_rules' words


def test_a_name_in_two_clusters_is_said_and_tables_name_the_cluster(tmp_path):
    case = (GOLDEN / "image_not_found" / "input.jsonl").read_bytes()
    for cluster in ("east", "west"):
        assert run_podslo("replay", "--cluster", cluster, "-", cwd=tmp_path, stdin=case).returncode == 0
    done = run_podslo("trace", "image-not-found-7d9f8c6b5-x2kq9", cwd=tmp_path)
    note = done.stderr.decode()
    assert done.returncode == 0 and "2 pods match image-not-found-7d9f8c6b5-x2kq9" in note
    assert "east default/image-not-found-7d9f8c6b5-x2kq9" in note or "west default/" in note
    assert run_podslo("trace", "--cluster", "east", "image-not-found-7d9f8c6b5-x2kq9", cwd=tmp_path).stderr == b""
    nodes = run_podslo("nodes", cwd=tmp_path).stdout.decode().splitlines()
    assert nodes[0].split()[:2] == ["CLUSTER", "NODE"] and {line.split()[0] for line in nodes[1:]} == {"east", "west"}
    slos = run_podslo("slo", "--format", "json", cwd=tmp_path).stdout.splitlines()
    health = {(s["cluster"], s["slo"]): s["health"] for s in map(json.loads, slos)}
    assert health[("east", "pod-delivery")] == "Unknown"  # its one pod failed by its user: nothing counts
    assert health[("east", "node-availability")] == "Healthy"
    assert health[("east", "probe-online")] == "Unknown"  # no probe ran: no data is not healthy


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
    assert (
        unknown.returncode == 1
        and b"no cluster 'nope' in the store (it holds: image_not_found, stuck_finalizer" in unknown.stderr
    )
    empty = run_podslo("slo", "--dsn", f"chdb://{tmp_path}/empty", cwd=workdir)
    assert (
        empty.returncode == 1
        and empty.stderr.decode().startswith("Error: the store")
        and "holds no podslo data yet" in empty.stderr.decode()
    )


def test_json_logs(tmp_path):
    done = run_podslo("--log-format", "json", "-v", "migrate", "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path)
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")]
    assert any(r["msg"] == "schema: created table raw_pods" and r["level"] == "info" for r in records)


def test_a_bounded_demo_tells_the_incident(tmp_path):
    """`podslo demo --minutes M`: simulated API -> serve -> store -> verdicts, SLOs and the
    summary, checked against the truth; then it exits."""
    done = run_podslo("demo", "--minutes", "12", "--speed", "120", "--dsn", f"chdb://{tmp_path}/db", cwd=tmp_path)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "serving the Kubernetes API" in text and ": Fatal (" in text  # the outage pages
    delivery = next(line for line in text.splitlines() if " pod-delivery " in line)
    assert delivery.split()[-2:] == ["page", "Fatal"]  # no ticket: 12 minutes of data cover no ticket's 2 h
    why = text.split("why the platform failed pods (the incident):")[1]
    assert why.splitlines()[2].split()[1] == "SandboxCreateFailed" and "first check:" in why
    agree, judged = map(int, text.split("injected: ")[1].split(" ")[0].split("/"))
    assert judged > 500 and agree / judged >= 0.98


def test_the_demo_serves_the_board_and_the_api_until_interrupted(tmp_path):
    """`make demo`: the board's and the API's URLs printed, both answer, the summary follows,
    and SIGTERM (as Ctrl-C) ends it cleanly, the board with it."""
    demo = start_podslo(
        "demo",
        "--speed",
        "120",
        "--port",
        str(free_port()),
        "--board-port",
        str(free_port()),
        env={"PODSLO_DSN": f"chdb://{tmp_path}/db"},
        cwd=tmp_path,
    )
    said = lambda: Path(demo.log_path).read_text()  # noqa: E731
    try:
        board = wait_for("the board's URL", lambda: re.search(r"board: (http://\S+)", said()), 120, demo).group(1)
        api = re.search(r"API: +(http://\S+/api/v1)", said()).group(1)
        assert "Streamlit" in httpx.get(board).text
        assert len(httpx.get(f"{api}/slos").json()) >= 6
        wait_for("the summary", lambda: "why the platform failed pods" in said(), 120, demo)
        wait_for("how it recovered", lambda: "serving until Ctrl-C" in said(), 180, demo)
        story = said().split("alerts of the run:")[1]
        fired, resolved = re.search(
            r"page ErrorBudgetBurn pod-delivery: fired at minute (\d+), resolved at minute (\d+)", story
        ).groups()
        assert 5 < int(fired) <= 15 and 20 < int(resolved) <= 75  # it paged in the incident, resolved after it
        assert "ticket" not in story and "now: Healthy" in story  # healthy before and after: no ticket
        assert stop_process(demo, signal.SIGTERM) == 0
    finally:
        if demo.poll() is None:
            kill_tree(demo)
    assert "Traceback" not in said()
    wait_for("the board gone with the demo", lambda: not _answers(board), 30)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True


def test_sigterm_to_the_board_leaves_no_streamlit_behind(tmp_path):
    port = free_port()
    board = start_podslo("board", "--api", "http://127.0.0.1:9", "--port", str(port), env={}, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        wait_for("the board up", lambda: _answers(url), 120, board)
        stop_process(board, signal.SIGTERM)
    finally:
        if board.poll() is None:
            kill_tree(board)
    wait_for("the board gone", lambda: not _answers(url), 30)


def test_ingest_benchmark_stores_every_event(tmp_path):
    """`podslo bench ingest` (figures are for a person; here only that it measures the real path)."""
    done = run_podslo("bench", "ingest", "--events", "3000", "--rounds", "2", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    figures = json.loads(done.stdout)
    assert figures["events"] == figures["stored_rows"] == 3000  # the second round into a fresh store
    assert figures["bytes_per_event"] > 3000  # served as an apiserver serves pods, managedFields and all
    assert 0 < figures["cpu_s"] <= figures["process_cpu_s"] and figures["events_per_s"] > 0
    assert len(figures["rounds_events_per_s"]) == 2 and figures["events_per_s"] in figures["rounds_events_per_s"]


def test_alerts_lists_firing_first(store, rules, cluster):
    from click.testing import CliRunner

    from analyzer.alerting.conditions import SLO_ALERT, Condition
    from analyzer.alerting.state import advance
    from app.cli import main

    now = 1_772_409_600_000

    def burning(slo: str, severity: str) -> Condition:
        return Condition(SLO_ALERT, slo, cluster, severity, 20.0, {"summary": f"{slo} burns", "description": ""})

    advance(store, rules, cluster, now, [burning("pod-deletion", "ticket")])
    advance(store, rules, cluster, now + 60_000, [burning("pod-deletion", "ticket"), burning("pod-delivery", "page")])
    advance(store, rules, cluster, now + 20 * 60_000, [burning("pod-delivery", "page")])  # the ticket resolves
    runner = CliRunner()
    got = runner.invoke(main, ["alerts", "--dsn", store.dsn, "--cluster", cluster, "--format", "json"])
    assert got.exit_code == 0, got.output
    rows = [json.loads(line) for line in got.output.splitlines()]
    assert [(a["slo"], a["status"]) for a in rows] == [("pod-delivery", "firing"), ("pod-deletion", "resolved")]
    table = runner.invoke(main, ["alerts", "--dsn", store.dsn, "--cluster", cluster, "--state", "firing"]).output
    assert "pod-delivery burns" in table and "pod-deletion" not in table
