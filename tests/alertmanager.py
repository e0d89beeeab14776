"""Debian's real Alertmanager for the tests: started on loopback with a webhook receiver of its
own, read with amtool."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import httpx

from podslo.webserver import free_port
from tests.conftest import wait_for

CONFIG = """global: {{resolve_timeout: 1m}}
route: {{receiver: hook, group_by: [alertname, slo, cluster], group_wait: 1s, group_interval: 2s, repeat_interval: 1h}}
receivers:
- name: hook
  webhook_configs: [{{url: "http://127.0.0.1:{hook}/am", send_resolved: true}}]
"""


class Notifications:
    """Alertmanager's own webhook receiver: every notification it sends, in order."""

    def __init__(self):
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def about(self, **labels) -> list[tuple[str, str]]:
        """(notification status, alert status) of each alert notified with these labels."""
        return [
            (body["status"], alert["status"])
            for body in self.bodies
            for alert in body["alerts"]
            if all(alert["labels"].get(k) == v for k, v in labels.items())
        ]

    def close(self) -> None:
        self.server.shutdown()


class Alertmanager:
    """A prometheus-alertmanager process; `restart()` keeps its port and data directory."""

    def __init__(self, workdir: Path):
        self.notifications = Notifications()
        self.port, self.dir = free_port(), workdir
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "am.yml").write_text(CONFIG.format(hook=self.notifications.port))
        self.process = None
        self.start()

    def start(self) -> None:
        log = open(self.dir / "alertmanager.log", "ab")
        self.process = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={self.dir / 'am.yml'}",
                f"--storage.path={self.dir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for("Alertmanager ready", lambda: httpx.get(f"{self.url}/-/ready", timeout=5).status_code == 200, 60)

    def restart(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.start()

    def amtool(self, *args: str) -> str:
        done = subprocess.run(
            ["amtool", f"--alertmanager.url={self.url}", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def active(self, **labels) -> list[dict]:
        """`amtool alert query` (active alerts only, as amtool shows by default) with these labels."""
        matchers = [f"{k}={v}" for k, v in labels.items()]
        return json.loads(self.amtool("alert", "query", "-o", "json", *matchers) or "[]")

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.notifications.close()
