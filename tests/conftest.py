"""Shared fixtures. chDB opens one data directory per process, so in-process tests
share one fresh store per session (per pytest-xdist worker) and keep apart by cluster name."""

from __future__ import annotations

import io
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer import read
from analyzer.lifecycle.verdicts import analyze
from collector.replay import replay
from podslo.store import Store
from simulator.engine import Engine
from simulator.run import recording
from slo_rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("PODSLO_ARTIFACTS", ROOT / "test-artifacts"))  # screenshots, rendered mail
FIXTURES = ROOT / "tests" / "fixtures"  # the real recordings, with their licences (a copy of ../shared/fixtures)
_names = itertools.count()


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Store:
    return Store(f"chdb://{tmp_path_factory.mktemp('store')}/db")


@pytest.fixture(scope="session")
def rules():
    return load_rules()


@pytest.fixture
def cluster(request) -> str:
    """A cluster name no other test uses."""
    return f"{request.node.name[:40]}-{next(_names)}"


class Ingest:
    """Replay bytes into the session store and read back verdicts."""

    def __init__(self, store: Store, rules, cluster: str):
        self.store, self.rules, self.cluster = store, rules, cluster
        self.problems: list[tuple[int, str]] = []

    def __call__(self, data: bytes | str, analyze_after: bool = True):
        raw = data.encode() if isinstance(data, str) else data
        tally = replay(
            self.store,
            io.BufferedReader(io.BytesIO(raw)),
            self.cluster,
            lambda line, message: self.problems.append((line, message)),
        )
        if analyze_after:
            analyze(self.store, self.cluster, self.rules)
        return tally

    def pods(self) -> dict[str, dict]:
        return {p["name"]: p for p in read.pods(self.store, self.cluster)}

    def nodes(self) -> dict[str, dict]:
        return {n["name"]: n for n in read.nodes(self.store, self.cluster)}


@pytest.fixture
def ingest(store, rules, cluster) -> Ingest:
    return Ingest(store, rules, cluster)


def sli_minute(cluster: str, minute_s: int, sli: str, counts: dict, version: int | None = None) -> list:
    """SLI rows by hand: one minute of `sli`, events per (result, le), written now (a row's
    version is its write time, which retention ages it by)."""
    from podslo.schema import SLI_MINUTES
    from podslo.timeutil import now_ms

    return [
        SLI_MINUTES.Row(
            cluster=cluster,
            sli=sli,
            scope="",
            namespace="ns",
            minute=minute_s,
            result=result,
            attribution="system" if result == "bad" else "",
            reason="SandboxCreateFailed" if result == "bad" else "",
            le=le,
            events=float(events),
            version=now_ms() if version is None else version,
        )
        for (result, le), events in counts.items()
    ]


def delivery_minute(cluster: str, minute_s: int, good: float, bad: float, version: int | None = None) -> list:
    """One minute of the delivery SLI: `good` and `bad` pods."""
    return sli_minute(cluster, minute_s, "delivery", {("good", 0.0): good, ("bad", 0.0): bad}, version)


def run_podslo(
    *args: str, cwd: Path, stdin: bytes | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The real command line, in its own process (its own chDB engine)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PODSLO_DSN"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, input=stdin, capture_output=True, env=full_env, timeout=300
    )


def simulate(profile="default", seconds=1200, seed=1, nodes=12, rate=120.0) -> tuple[Engine, bytes]:
    """A simulated cluster run for `seconds`, and everything it served (as `podslo replay` reads)."""
    return recording(profile, seconds, seed, nodes, rate)


def start_podslo(*args: str, env: dict, cwd: Path) -> subprocess.Popen:
    """A long-running podslo command in its own process; what it says goes to cwd/<command>.log."""
    log = open(Path(cwd) / f"{args[0]}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: kill_tree takes what it started too
    )
    process.log_path = log.name
    log.close()
    return process


def stop_process(process: subprocess.Popen, sig=signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        return process.wait(60)
    finally:
        if process.poll() is None:
            kill_tree(process)


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process started by start_podslo and everything in its group (a demo's board):
    a test that fails leaves nothing behind."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


def wait_for(what: str, check, timeout_s: float, process: subprocess.Popen | None = None):
    """Poll `check` until it returns something true (errors of a service still starting count
    as not yet); fail with `what` at the deadline or when `process` ends."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            said = Path(process.log_path).read_text(errors="replace")[-3000:] if hasattr(process, "log_path") else ""
            raise AssertionError(f"{what}: the process ended ({process.returncode}): {said}")
        try:
            found = check()
        except (httpx.HTTPError, ValueError):
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout_s:.0f}s")


_SESSION = {}


def pytest_sessionstart(session):
    _SESSION["started"] = time.time()


def pytest_terminal_summary(terminalreporter):
    """Say where this run's screenshots are, and the figures the browser tests measured."""
    started = _SESSION.get("started", 0)
    fresh = sorted(p for p in ARTIFACTS.rglob("*") if p.is_file() and p.stat().st_mtime >= started)
    if fresh:
        terminalreporter.write_line(f"artifacts of this run ({len(fresh)} files) in {ARTIFACTS}:")
        for path in fresh:
            line = path.read_text().strip() if path.suffix == ".txt" else ""
            terminalreporter.write_line(f"  {path.relative_to(ARTIFACTS)}" + (f": {line}" if line else ""))
