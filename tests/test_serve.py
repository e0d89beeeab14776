"""`podslo serve` end to end, in its own processes: a CNI outage pages a real webhook receiver
(signed, Alertmanager v4) and resolves, through a receiver that is down at first and a serve
killed mid-incident; a healthy cluster pages nobody; the store is owned by one process."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from podslo.webserver import free_port
from slo_rules import load_rules
from tests.alertmanager import Alertmanager
from tests.conftest import kill_tree, run_podslo, start_podslo, stop_process, wait_for

SECRET = "test-secret"
START = datetime(2026, 3, 2, tzinfo=UTC)


class Receiver:
    """A real HTTP webhook receiver on loopback; keeps every POST."""

    def __init__(self, port: int):
        self.posts: list[tuple[str | None, str]] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                posts.append((self.headers.get("X-Podslo-Signature"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict]:
        return [a for _, body in self.posts for a in json.loads(body)["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _valid(signature: str | None, body: str) -> bool:
    parts = dict(p.split("=", 1) for p in (signature or "").split(","))
    want = hmac.new(SECRET.encode(), f"{parts.get('t')}.{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts.get("v1", ""))


def _rules_without_repeats(tmp_path: Path) -> Path:
    """The default rules, notifying again while firing only after a month (cluster time runs
    60x here: the default 4h would repeat within the test)."""
    path = tmp_path / "rules.yaml"
    path.write_text(Path(load_rules().source).read_text().replace("repeat_every: 4h", "repeat_every: 30d"))
    return path


def _alerts(api: str, **params) -> list[dict]:
    return httpx.get(f"{api}/api/v1/alerts", params=params, timeout=10).json()


def _promtool_lint(metrics: str) -> str:
    done = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def _sli_events(metrics: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("podslo_sli_events_total{")
    }


def test_an_outage_pages_once_and_resolves_once_through_a_receiver_down_and_a_restart(tmp_path):
    """Also: the same alerts in a real Alertmanager (`serve --alertmanager`), and /metrics that
    promtool passes, with SLI counters that only grow."""
    sim_port, api_port, hook_port = free_port(), free_port(), free_port()
    am = Alertmanager(tmp_path)
    sim = start_podslo(
        "simulate",
        "--profile",
        "cni-outage",
        "--speed",
        "60",
        "--port",
        str(sim_port),
        "--pods-per-minute",
        "120",
        "--start",
        "2026-03-02",
        env={},
        cwd=tmp_path,
    )
    env = {"PODSLO_DSN": f"chdb://{tmp_path}/elsewhere/store", "PODSLO_WEBHOOK_SECRET": SECRET}
    args = (
        "serve",
        "--cluster",
        "prod",
        "--server",
        f"http://127.0.0.1:{sim_port}",
        "--listen",
        f"127.0.0.1:{api_port}",
        "--webhook",
        f"http://127.0.0.1:{hook_port}/hook",
        "--alertmanager",
        am.url,
        "--analyze-every",
        "2",
        "--rules",
        str(_rules_without_repeats(tmp_path)),
    )
    api = f"http://127.0.0.1:{api_port}"
    receiver = None
    serve = start_podslo(*args, env=env, cwd=tmp_path)
    try:
        page = wait_for(
            "a page while the receiver is down",
            lambda: [a for a in _alerts(api, state="firing") if a["severity"] == "page" and a["slo"] == "pod-delivery"],
            180,
            serve,
        )[0]
        assert "SandboxCreateFailed" in page["annotations"]["description"]
        metrics = httpx.get(f"{api}/metrics", timeout=10).text
        assert 'podslo_slo_burn_rate{cluster="prod",slo="pod-delivery",window="5m"}' in metrics
        assert 'podslo_cluster_health{cluster="prod",health="Fatal"} 1.0' in metrics
        assert 'podslo_cluster_health{cluster="prod",health="Healthy"} 0.0' in metrics, "every state has its series"
        assert 'podslo_slo_alert_firing{cluster="prod",severity="page",slo="pod-upgrade"} 0.0' in metrics
        assert _promtool_lint(metrics) == "", _promtool_lint(metrics)
        assert 'podslo_pod_startup_seconds_bucket{cluster="prod",le="5"}' in metrics
        bad = 'podslo_sli_events_total{cluster="prod",result="bad",sli="delivery",slo="pod-delivery"}'
        # the counters read the SLI minutes every COUNT_EVERY_S, so they may trail the page by that much
        first = wait_for(
            "the bad delivery events counted",
            lambda: (now := _sli_events(httpx.get(f"{api}/metrics", timeout=10).text)).get(bad, 0) > 0 and now,
            60,
            serve,
        )
        wait_for(
            "the page in Alertmanager, under podslo's fingerprint",
            lambda: page["fingerprint"] in {a["fingerprint"] for a in am.active(cluster="prod", slo="pod-delivery")},
            60,
            serve,
        )
        later = wait_for(
            "the SLI counters counting on",
            lambda: (now := _sli_events(httpx.get(f"{api}/metrics", timeout=10).text)) != first and now,
            60,
            serve,
        )
        assert all(later[k] >= v for k, v in first.items()), "counters only grow"
        serve.send_signal(signal.SIGKILL)  # mid-incident, nothing flushed
        serve.wait(30)
        serve = start_podslo(*args, env=env, cwd=tmp_path)
        receiver = Receiver(hook_port)
        wait_for(
            "the page resolved, at the receiver",
            lambda: any(
                a["fingerprint"] == page["fingerprint"] and a["status"] == "resolved" for a in receiver.alerts()
            ),
            300,
            serve,
        )
        wait_for(
            "the resolved page off Alertmanager's active list",
            lambda: page["fingerprint"] not in {a["fingerprint"] for a in am.active(cluster="prod")},
            60,
            serve,
        )
        assert stop_process(serve) == 0
    finally:
        for process in (serve, sim):
            if process.poll() is None:
                kill_tree(process)
        if receiver:
            receiver.close()
        am.close()
    bodies = [json.loads(body) for _, body in receiver.posts]
    assert all(_valid(sig, body) for sig, body in receiver.posts), "every post signed"
    assert all(b["version"] == "4" and len(b["alerts"]) == 1 for b in bodies)
    states = [(a["fingerprint"], a["startsAt"], a["status"]) for a in receiver.alerts()]
    assert len(states) == len(set(states)), f"a notification arrived twice: {states}"
    mine = [a["status"] for a in receiver.alerts() if a["fingerprint"] == page["fingerprint"]]
    assert mine == ["firing", "resolved"]
    assert not (tmp_path / "data").exists(), "nothing is made in the working directory of a store elsewhere"
    assert (tmp_path / "elsewhere" / "spool" / "prod").is_dir(), "the spool waits beside the store"
    labels = receiver.alerts()[0]["labels"]
    assert set(labels) >= {"alertname", "slo", "cluster", "severity"} and labels["cluster"] == "prod"


def test_a_healthy_cluster_pages_nobody_and_one_process_owns_the_store(tmp_path):
    api_port, hook_port = free_port(), free_port()
    receiver = Receiver(hook_port)
    env = {"PODSLO_DSN": f"chdb://{tmp_path}/store", "PODSLO_WEBHOOK_SECRET": SECRET}
    serve = start_podslo(
        "serve",
        "--simulate",
        "--speed",
        "120",
        "--listen",
        f"127.0.0.1:{api_port}",
        "--webhook",
        f"http://127.0.0.1:{hook_port}/hook",
        "--analyze-every",
        "2",
        env=env,
        cwd=tmp_path,
    )
    api = f"http://127.0.0.1:{api_port}"
    try:
        later = int((START + timedelta(minutes=45)).timestamp() * 1000)
        slos = wait_for(
            "45 cluster minutes analyzed",
            lambda: [s for s in httpx.get(f"{api}/api/v1/slos", timeout=10).json() if s["now"] >= later],
            180,
            serve,
        )
        assert {s["slo"] for s in slos} >= {"pod-delivery", "pod-deletion", "pod-startup-latency", "node-availability"}
        delivery = next(s for s in slos if s["slo"] == "pod-delivery")
        assert delivery["total"] > 3000 and 0.9 < delivery["current"] < 1
        held = run_podslo("pods", cwd=tmp_path, env=env)
        assert held.returncode == 1 and b"Traceback" not in held.stderr
        assert b"open in another process" in held.stderr and len(held.stderr.strip().splitlines()) == 1
        assert stop_process(serve) == 0
    finally:
        if serve.poll() is None:
            kill_tree(serve)
        receiver.close()
    assert not [a for a in receiver.alerts() if a["labels"]["severity"] == "page"]
    shown = run_podslo("slo", "--format", "json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert {r["slo"] for r in rows} >= {"pod-delivery", "probe-online"}
    assert all(r["alerts"]["page"] == "inactive" for r in rows)
    assert {r["health"] for r in rows if r["total"]} <= {"Healthy", "Warning"}
    assert all(r["health"] == "Unknown" for r in rows if not r["total"])  # nothing counted: not healthy
