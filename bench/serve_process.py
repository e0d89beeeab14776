"""A `podslo serve --simulate` in its own process, for benchmarks that load or watch it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import ROOT
from podslo.webserver import free_port, wait_http


class ServeProcess:
    """`podslo serve --simulate ...` on a free port of loopback, with a fresh store in `workdir`."""

    def __init__(self, workdir: str, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(workdir) / "serve.log", "ab")
        command = ["serve", "--simulate", "--listen", f"127.0.0.1:{self.port}", *args]
        env = {**os.environ, "PODSLO_DSN": f"chdb://{workdir}/db"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *command], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout_s: float = 300) -> None:
        if not wait_http(f"{self.url}/healthz", lambda: self.process.poll() is None, timeout_s):
            raise RuntimeError(f"serve did not come up (see {self.log.name})")
        deadline = time.monotonic() + timeout_s
        while not httpx.get(f"{self.url}/api/v1/pods", params={"limit": 1}, timeout=30).json()["items"]:
            if time.monotonic() > deadline:
                raise RuntimeError("serve judged no pod in time")
            time.sleep(1)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    def stop(self) -> float:
        """SIGTERM; returns the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        return time.monotonic() - started
