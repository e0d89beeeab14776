"""Golden cases: each input stream must produce the verdict its story declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.lifecycle.verdicts import analyze
from collector.logs import collect_logs
from tests.golden import generate

CASES = sorted(p for p in Path(generate.HERE).iterdir() if (p / "input.jsonl").exists())


def test_every_story_has_a_golden_case():
    assert {c.name for c in CASES} == set(generate.STORIES)


def test_golden_files_match_their_stories():
    assert generate.main(["--check"]) == 0, "run: python -m tests.golden.generate"


def test_cases_cover_the_whole_vocabulary(rules):
    """Contract 3: every reason code and stuck reason has a golden case."""
    reasons, stuck = set(), set()
    for case in CASES:
        for pod in json.loads((case / "expected.json").read_text())["pods"]:
            reasons.add(pod["reason"])
            if pod.get("deletion", {}).get("stuck"):
                stuck.add(pod["deletion"]["reason"])
    assert set(rules.spec.codes) <= reasons
    assert set(rules.spec.stuck_codes) <= stuck


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden(case, ingest):
    logs = sorted(case.glob("kubelet-*.log"))
    tally = ingest((case / "input.jsonl").read_bytes(), analyze_after=not logs)
    assert tally.malformed == 0 and not ingest.problems
    for log in logs:  # what `podslo collect-logs --component kubelet --node NODE` stores
        node = log.stem.removeprefix("kubelet-")
        counts = collect_logs(
            ingest.store, ingest.cluster, "kubelet", iter(log.read_text().splitlines(True)), node, 2026
        )
        assert counts["bad"] == 0 and counts["taken"] > 0
    if logs:
        analyze(ingest.store, ingest.cluster, ingest.rules)
    expected = json.loads((case / "expected.json").read_text())
    got = ingest.pods()
    for want in expected["pods"]:
        pod = got[want["pod"]]
        assert (pod["outcome"], pod["attribution"], pod["reason"]) == (
            want["outcome"],
            want["attribution"],
            want["reason"],
        ), pod
        if want["outcome"] not in ("success", "pending", "cancelled"):
            assert pod["evidence"] and pod["rule"], "a failure must say what decided it"
        if "deletion" in want:
            got_deletion, want_deletion = pod["deletion"], want["deletion"]
            assert (got_deletion["stuck"], got_deletion["reason"]) == (
                want_deletion["stuck"],
                want_deletion["reason"],
            ), got_deletion
            if "gone_at" in want_deletion:
                assert got_deletion["gone_at"] == want_deletion["gone_at"], got_deletion
    nodes = ingest.nodes()
    for name, want in expected["nodes"].items():
        assert {k: nodes[name][k] for k in want} == want, nodes[name]
