"""Pods delivered on time are decided in SQL (analyzer/lifecycle/on_time.py): every row it
writes must be the row the Python writes for that pod, column for column."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.lifecycle import on_time
from analyzer.lifecycle.durations import pulled_seconds
from analyzer.lifecycle.facts import Slice, cluster_now, kept_facts
from analyzer.lifecycle.on_time import deadline_sql, decide_on_time, decides_in_sql
from analyzer.lifecycle.verdicts import analyze
from podslo.schema import POD_VERDICTS
from podslo.timeutil import now_ms
from slo_rules import load_rules
from tests.conftest import simulate
from tests.test_golden import CASES

_ROWS = (
    "SELECT * EXCEPT (version, analyzed_at) FROM pod_verdicts WHERE cluster = {cluster:String} AND version = {v:UInt64}"
)


def _python_and_sql_rows(store, rules, cluster: str) -> tuple[dict, dict]:
    """Every pod decided by the Python, then the pods the SQL decides, by uid. The Python's rows
    are read before the SQL writes its own: pod_verdicts replaces a pod's row by its newer
    version when parts merge, which ClickHouse does in the background whenever it likes."""
    analyze(store, cluster, rules, full=True, on_time=False)
    python_version = store.scalar("SELECT max(version) FROM pod_verdicts WHERE cluster = {c:String}", c=cluster)
    python = {r[1]: r for r in store.rows(_ROWS, cluster=cluster, v=python_version)}
    sql_version = max(now_ms(), python_version + 1)
    with kept_facts(store, Slice(cluster, None), sql_version):
        decide_on_time(store, Slice(cluster, None), rules, cluster_now(store, cluster)[0], sql_version)
    return python, {r[1]: r for r in store.rows(_ROWS, cluster=cluster, v=sql_version)}


def _assert_same(python: dict, sql: dict, columns: list[str]) -> None:
    for uid, row in sql.items():
        want = python[uid]
        assert row == want, {c: (w, g) for c, w, g in zip(columns, want, row) if w != g}


def _columns() -> list[str]:
    return [c for c in POD_VERDICTS.columns if c not in ("version", "analyzed_at")]


@pytest.mark.parametrize("profile", ["default", "registry-slowdown", "cni-outage", "capacity-crunch"])
def test_sql_and_python_agree_on_a_simulated_cluster(ingest, store, rules, profile):
    _, served = simulate(profile, seconds=900, seed=7, nodes=12, rate=150.0)
    ingest(served, analyze_after=False)
    python, sql = _python_and_sql_rows(store, rules, ingest.cluster)
    on_time = [r for r in python.values() if r[7] == "success"]
    # it takes most of the pods delivered on time (it must not quietly take none) and nothing else
    assert len(sql) >= 0.8 * len(on_time) > 0, (len(sql), len(on_time), len(python))
    _assert_same(python, sql, _columns())


def test_sql_and_python_agree_on_the_golden_cases(ingest, store, rules):
    for case in CASES:
        ingest.cluster = f"on-time-{case.name}"
        ingest((case / "input.jsonl").read_bytes(), analyze_after=False)
        python, sql = _python_and_sql_rows(store, rules, ingest.cluster)
        assert set(sql) <= {uid for uid, r in python.items() if r[7] == "success"}, case.name
        _assert_same(python, sql, _columns())


def test_deadline_overrides_read_the_same_in_sql(store, tmp_path):
    text = (Path(__file__).parents[1] / "slo_rules" / "default.yaml").read_text()
    overrides = (
        "  overrides:\n"
        "    - {namespace: 'batch-*', kind: job, deadline_s: 300}\n"
        "    - {namespace: 'odd_ns%?', deadline_s: 45.5}\n"
        "    - {labels: {tier: heavy, empty: ''}, deadline_s: 120}\n"
    )
    (tmp_path / "rules.yaml").write_text(text.replace("  overrides: []", overrides, 1))
    rules = load_rules(tmp_path / "rules.yaml")
    expression = deadline_sql(rules)
    cases = [
        ("batch-etl", {}, "job"),
        ("batch-etl", {}, "service"),
        ("batchX", {}, "job"),
        ("odd_ns%x", {}, "service"),
        ("oddxns%x", {}, "service"),
        ("odd_ns%", {}, "service"),
        ("shop", {"tier": "heavy", "empty": ""}, "service"),
        ("shop", {"tier": "heavy"}, "service"),  # a label asked to be '' must be there
        ("shop", {}, "service"),
    ]
    for namespace, labels, kind in cases:
        got = store.scalar(
            f"SELECT {expression} FROM (SELECT {{ns:String}} AS p_namespace, "
            "mapFromArrays({keys:Array(String)}, {values:Array(String)}) AS p_labels, {kind:String} AS kind)",
            ns=namespace,
            keys=list(labels),
            values=list(labels.values()),
            kind=kind,
        )
        assert got == rules.deadline_s(namespace, labels, kind), (namespace, labels, kind)


def test_a_namespace_class_leaves_every_pod_to_the_python(tmp_path):
    text = (Path(__file__).parents[1] / "slo_rules" / "default.yaml").read_text()
    overrides = "  overrides:\n    - {namespace: 'team-[ab]', deadline_s: 30}\n"
    (tmp_path / "rules.yaml").write_text(text.replace("  overrides: []", overrides, 1))
    assert not decides_in_sql(load_rules(tmp_path / "rules.yaml"))


MESSAGES = [
    'Successfully pulled image "nginx" in 5.870196872s',
    'Successfully pulled image "nginx" in 1.315633737s (1.315641898s including waiting)',
    'Successfully pulled image "nginx" in 1m0.809s (1m0.809s including waiting). Image size: 187694648 bytes.',
    'Successfully pulled image "a/b:c" in 717ms (2h1m0.5s including waiting)',
    'Successfully pulled image "x" in 1.5µs',
    'Successfully pulled image "x" in 3us',
    'Successfully pulled image "x" in .5s',
    'Successfully pulled image "x" in 1.s',
    'Successfully pulled image "x" in 1.2.3s',  # digits and dots the pattern admits: no duration
    'Successfully pulled image "x" in 12',
    'Container image "nginx" already present on machine',
    "",
]


def test_pull_durations_read_the_same_in_sql(store):
    """The kubelet's Pulled messages, parsed by the SQL as durations.pulled_seconds parses them."""
    got = store.rows(
        f"SELECT text, {on_time._PULL_SECONDS} FROM (SELECT arrayJoin({{texts:Array(String)}}) AS text)",
        texts=MESSAGES,
        pulled=on_time._PULLED,
        part=on_time._PART,
    )
    assert dict(got) == {m: pulled_seconds(m) for m in MESSAGES}
