"""Shared fixtures. chDB opens one data directory per process, so in-process tests
share one fresh store for the session and keep apart by cluster name."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer import read
from analyzer.verdicts import analyze
from collector.replay import replay
from podslo.store import Store
from simulator.engine import Engine
from simulator.profile import load_profile
from simulator.run import recorder, run_until
from slo_rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
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
        tally = replay(self.store, io.BufferedReader(io.BytesIO(raw)), self.cluster,
                       lambda line, message: self.problems.append((line, message)))
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


def run_podslo(*args: str, cwd: Path, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command line, in its own process (its own chDB engine)."""
    full_env = {k: v for k, v in os.environ.items() if k != "PODSLO_DSN"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "podslo.cli", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=full_env, timeout=300)


def simulate(profile="default", seconds=1200, seed=1, nodes=12, rate=120.0) -> tuple[Engine, bytes]:
    """A simulated cluster run for `seconds`, and everything it served (as `podslo replay` reads)."""
    engine = Engine(load_profile(profile), seed=seed, nodes=nodes, pods_per_minute=rate)
    out = io.BytesIO()
    engine.listeners.append(recorder(out))
    run_until(engine, seconds)
    return engine, out.getvalue()
