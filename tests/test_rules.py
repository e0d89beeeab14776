"""Rule files are validated at load and errors name file, line and field."""

from __future__ import annotations

import re

import pytest

from podslo.errors import RuleError
from slo_rules import DEFAULT_FILE, load_rules

# Contract 3 of docs/DESIGN.md: the default vocabulary.
USER = {
    "ImagePolicyRejected",
    "InitContainerSlow",
    "InvalidImage",
    "ImageNotFound",
    "ImageAuthFailed",
    "ContainerConfigError",
    "VolumeConfigError",
    "AppCrash",
    "AppOOM",
    "ReadinessProbeFailed",
    "Unschedulable",
    "QuotaExceeded",
}
SYSTEM = {
    "KubeletNotSynced",
    "DRADriverNotRegistered",
    "DRAPrepareFailed",
    "ImagePullSlow",
    "ImagePullError",
    "InsufficientCapacity",
    "SchedulingDelay",
    "SandboxCreateFailed",
    "NetworkNotReady",
    "VolumeAttachFailed",
    "AdmissionRejected",
    "NodeNotReady",
    "Evicted",
    "Preempted",
    "RuntimeError",
    "KubeletNoProgress",
    "Unknown",
}
STUCK = {
    "Finalizer",
    "NodeLost",
    "KubeletNotConfirming",
    "VolumeDetach",
    "DRAUnprepareFailed",
    "PreStopHang",
    "Unknown",
}


def test_default_vocabulary_is_the_contract(rules):
    assert {c for c, spec in rules.spec.codes.items() if spec.attribution == "user"} == USER
    assert {c for c, spec in rules.spec.codes.items() if spec.attribution == "system"} == SYSTEM
    assert set(rules.spec.stuck_codes) == STUCK
    assert rules.spec.deadlines.default_s == 60


def test_every_code_has_a_rule_except_the_fallback(rules):
    assert {r.code for r in rules.reasons} == set(rules.spec.codes) - {"Unknown"}
    assert {r.code for r in rules.stuck} == set(rules.spec.stuck_codes) - {"Unknown"}


def write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def broken(old: str, new: str) -> str:
    text = DEFAULT_FILE.read_text()
    assert old in text
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    "old,new,field,message",
    [
        (
            "  InvalidImage: {attribution: user}",
            "  InvalidImage: {attribution: users}",
            "codes.InvalidImage.attribution",
            "user",
        ),
        ("- {source: terminated, reason: OOMKilled}", "- {source: termnated, reason: OOMKilled}", "reasons[", "source"),
        ("reason: OOMKilled}", "reason: 'OOM(Killed'}", "reasons[", "bad regular expression"),
        ("  default_s: 60", "  default_s: -5", "deadlines.default_s", "greater than 0"),
        ("  - code: AppOOM", "  - code: AppOOMish", "file", "not declared"),
    ],
)
def test_bad_rule_files_name_file_line_and_field(tmp_path, old, new, field, message):
    text = broken(old, new)
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as err:
        load_rules(path)
    shown = str(err.value)
    assert shown.startswith(f"{path}:") and field in shown and message in shown, shown
    if field != "file":
        assert int(re.match(rf"{re.escape(str(path))}:(\d+):", shown).group(1)) == line_of(text, new.strip()[:14]), (
            shown
        )


def test_unreadable_and_not_yaml(tmp_path):
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RuleError, match=r"rules.yaml:2: not valid YAML: mapping values are not allowed"):
        load_rules(write(tmp_path, "version: 1\ncodes: x: y\nreasons: []\n"))


def test_deadline_overrides(tmp_path):
    text = broken(
        "  overrides: []",
        "  overrides:\n    - {namespace: 'batch-*', kind: job, deadline_s: 300}\n"
        "    - {labels: {tier: heavy}, deadline_s: 120}",
    )
    rules = load_rules(write(tmp_path, text))
    assert rules.deadline_s("batch-etl", {}, "job") == 300
    assert rules.deadline_s("batch-etl", {}, "service") == 60
    assert rules.deadline_s("shop", {"tier": "heavy"}, "service") == 120
