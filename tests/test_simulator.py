"""The simulated cluster: deterministic, faults at their declared rates, truth that the
analyzer reaches from a recording."""

from __future__ import annotations

import io
import math
from collections import Counter

import orjson
import pytest

from analyzer import read
from analyzer.lifecycle.verdicts import analyze
from podslo.errors import ConfigError
from simulator.accuracy import compare
from simulator.engine import Engine
from simulator.profile import PROFILE_DIR, load_profile, profile_names
from simulator.run import recorder, run_until, write_truth
from tests.conftest import simulate


def edited_default(tmp_path, name: str, **settings: tuple[str, str]) -> str:
    """The default profile with some lines replaced (old -> new), saved as `name`.yaml."""
    text = (PROFILE_DIR / "default.yaml").read_text()
    for old, new in settings.values():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def test_same_seed_same_cluster_however_the_clock_steps():
    a, rec_a = simulate(seconds=900, seed=5)
    b = Engine(load_profile("default"), seed=5, nodes=12, pods_per_minute=120.0)
    out = io.BytesIO()
    b.listeners.append(recorder(out))
    run_until(b, 900, step_s=7.3)  # other steps, same cluster
    assert out.getvalue() == rec_a
    assert a.truth() == b.truth()
    _, other = simulate(seconds=900, seed=6)
    assert other != rec_a


def test_nothing_in_the_objects_gives_the_truth_away():
    engine, recording = simulate(seconds=600)
    stories = {p["injected"] for p in engine.truth()["pods"]}
    text = recording.decode()
    leaked = [s for s in stories if s.replace("_", "-") in text or s in text]
    assert not leaked


def test_story_shares_follow_the_profile():
    engine, _ = simulate(seconds=3600, nodes=30, rate=240.0)
    profile = load_profile("default")
    pods = [p for p in engine.truth()["pods"]]
    counts = Counter(p["injected"] for p in pods)
    total_weight = sum(profile.stories.values())
    n = len(pods)
    assert n > 12000
    for story, weight in profile.stories.items():
        share = weight / total_weight
        sigma = math.sqrt(n * share * (1 - share))
        assert abs(counts[story] - n * share) <= 5 * sigma + 3, (story, counts[story], n * share)


def test_node_faults_follow_the_profile(tmp_path):
    path = edited_default(
        tmp_path,
        "flaky",
        down=("not_ready_per_node_day: 0.2", "not_ready_per_node_day: 24"),
        pressure=("pressure_per_node_day: 0.3", "pressure_per_node_day: 24"),
        daemonset=("missing_daemonset_per_node_day: 0.1", "missing_daemonset_per_node_day: 24"),
    )
    engine = Engine(load_profile(path), seed=2, nodes=40, pods_per_minute=30)
    run_until(engine, 3 * 3600)
    faults = Counter(f["kind"] for n in engine.truth()["nodes"] for f in n["faults"])
    # 72 fault events per node-day in total, a node busy while one lasts: well over a hundred each
    assert faults["NodeUnreachable"] > 20 and faults["NodeNotReady"] > 5 and faults["CriticalDaemonSetMissing"] > 30
    assert faults["NodeUnreachable"] > faults["NodeNotReady"]  # reporting_share 0.3
    assert faults["MemoryPressure"] + faults["DiskPressure"] > 60
    reasons = Counter(p["reason"] for p in engine.truth()["pods"])
    stuck = Counter(p["stuck"] for p in engine.truth()["pods"])
    assert reasons["NodeNotReady"] > 5 and stuck["NodeLost"] > 10


def test_node_verdicts_reach_the_node_truth(tmp_path, ingest, store, rules):
    """Nodes down for longer than the repair threshold, not back by themselves, need a person."""
    path = edited_default(
        tmp_path,
        "dying",
        down=("not_ready_per_node_day: 0.2", "not_ready_per_node_day: 12"),
        recover=("recover_share: 0.75", "recover_share: 0.5"),
    )
    engine = Engine(load_profile(path), seed=4, nodes=16, pods_per_minute=30)
    out = io.BytesIO()
    engine.listeners.append(recorder(out))
    run_until(engine, 4 * 3600)
    ingest(out.getvalue())
    dead = {
        n["name"]
        for n in engine.truth()["nodes"]
        if any(
            f["kind"] in ("NodeUnreachable", "NodeNotReady")
            and (f["end"] is None or f["end"] > engine.now_ms)
            and engine.now_ms - f["start"] >= rules.spec.nodes.manual_repair_after_s * 1000
            for f in n["faults"]
        )
    }
    nodes = ingest.nodes()
    assert dead, "the profile should leave some node down for good"
    assert {n for n, v in nodes.items() if v["needs_manual_repair"]} == dead
    assert all(nodes[n]["faulty"] for n in dead)


@pytest.fixture(scope="module")
def quiet_baseline() -> Engine:
    return simulate("default", seconds=1500, nodes=20)[0]


@pytest.mark.parametrize(
    "profile,reason",
    [
        ("cni-outage", "SandboxCreateFailed"),
        ("registry-slowdown", "ImagePullSlow"),
        ("capacity-crunch", "InsufficientCapacity"),
    ],
)
def test_incident_profiles(profile, reason, quiet_baseline):
    quiet = quiet_baseline
    loud, _ = simulate(profile, seconds=1500, nodes=20)
    before = Counter(p["reason"] for p in quiet.truth()["pods"])[reason]
    during = Counter(p["reason"] for p in loud.truth()["pods"])[reason]
    assert during > 4 * max(before, 5), (before, during)


def test_profiles_validate():
    assert set(profile_names()) >= {"default", "cni-outage", "registry-slowdown", "capacity-crunch"}
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        load_profile("nope")


@pytest.mark.parametrize("profile", ["default", "cni-outage", "registry-slowdown"])
def test_recording_replays_to_the_truth(profile, ingest, store, rules):
    engine, recording = simulate(profile, seconds=1800, nodes=15, rate=90.0)
    tally = ingest(recording, analyze_after=False)
    assert tally.malformed == 0
    analyze(store, ingest.cluster, rules)
    truth = io.BytesIO()
    write_truth(engine, truth)
    pods = [orjson.loads(line) for line in truth.getvalue().splitlines()]
    result = compare([p for p in pods if p["kind"] == "pod"], read.pods(store, ingest.cluster))
    assert result["missing"] == 0
    assert result["accuracy"] >= 0.995, result["confusions"][:5]
