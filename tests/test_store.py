"""The schema follows its declarations, idempotently; the raw tables dedup re-inserts."""

from __future__ import annotations

import uuid

import pytest

from podslo.schema import MIGRATIONS, TABLES, Table
from slo_rules import DEFAULT_FILE as DEFAULT_RULES


def test_migrations_recorded_once(store):
    assert store.migrations() == [(v, name) for v, name, _ in MIGRATIONS]
    assert store.migrate() == []  # nothing left to apply
    assert store.scalar("SELECT count() FROM schema_migrations") == len(MIGRATIONS)


def test_tables_are_their_declarations(store):
    for table in TABLES.values():
        stored = store.rows(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "ORDER BY position",
            t=table.name,
        )
        assert [r[0] for r in stored] == [name for name, _ in table.lines], table.name


def test_a_declared_column_is_added_to_an_existing_table(store, monkeypatch):
    """A table made by an older declaration gains the columns declared since, in their place, keeping its rows."""
    body = "cluster String\n probe String\n outcome String\n error String\n version UInt64"
    name = f"declared_{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(TABLES, name, Table(name, body.replace(" error String\n", ""), order_by="probe"))
    assert store.migrate() == [f"created table {name}"]
    store.insert(name, [["c", "p", "ok", 1]])
    monkeypatch.setitem(TABLES, name, Table(name, body, order_by="probe"))
    assert store.migrate() == [f"added column {name}.error"]
    assert store.rows(f"SELECT probe, error, outcome FROM {name}") == [("p", "", "ok")]
    assert TABLES[name].columns == ("cluster", "probe", "outcome", "error", "version")
    columns = store.rows(
        "SELECT name FROM system.columns WHERE table = {t:String} AND database = currentDatabase() ORDER BY position",
        t=name,
    )
    assert [c[0] for c in columns] == list(TABLES[name].columns)
    store.command(f"DROP TABLE {name}")


def test_parameters_are_server_side(store, cluster):
    """A hostile cluster name is data, not SQL."""
    hostile = cluster + "' OR 1=1 --"
    assert store.row_counts(hostile) == {"raw_pods": 0, "raw_events": 0, "raw_nodes": 0, "raw_audit": 0}


def test_threads_sharing_the_server_client_never_lock_a_session(tmp_path):
    """Every thread of serve (analysis, delivery, report, the API) shares the server client, and
    ClickHouse refuses a query on a session already running one (SESSION_IS_LOCKED). No
    ClickHouse server can be installed here: tests/fake_clickhouse.py is a loopback endpoint
    whose queries chDB answers and which locks sessions as the server does."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import clickhouse_connect
    import httpx
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from podslo.config import parse_dsn
    from podslo.store import _connect
    from podslo.webserver import free_port
    from tests.conftest import ROOT, wait_for

    port = free_port()
    endpoint = subprocess.Popen([sys.executable, "-m", "tests.fake_clickhouse", str(port), "0.3"], cwd=ROOT)
    dsn = f"http://default:@127.0.0.1:{port}/podslo"

    def eight_at_once(client) -> list[str]:
        def one(_):
            try:
                return str(client.query("SELECT 1").result_rows[0][0])
            except ClickHouseError as exc:  # the server's SESSION_IS_LOCKED, or the driver's own refusal
                locked = "SESSION_IS_LOCKED" in str(exc) or "concurrent queries within the same session" in str(exc)
                return "locked" if locked else str(exc)

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(8)))

    try:
        wait_for("the endpoint", lambda: httpx.post(f"http://127.0.0.1:{port}/", content=b"SELECT 1").is_success, 30)
        assert eight_at_once(_connect(parse_dsn(dsn))) == ["1"] * 8
        contrast = eight_at_once(clickhouse_connect.get_client(dsn=dsn))  # the driver's default: one session
        assert "locked" in contrast, "a shared session must be refused, or this proves nothing"
    finally:
        endpoint.kill()


_PARSE = """
import sys, chdb
statements = [s for s in sys.stdin.read().split(";\\n") if s.strip()]
for s in statements:
    q = s.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'")
    chdb.query(f"SELECT formatQuery('{q}')", "CSV")
print(len(statements))
"""


@pytest.mark.parametrize(
    "dsn,cluster",
    [("chdb://./data/podslo", False), ("http://ch:8123/podslo", False), ("http://ch:8123/podslo?cluster=fleet", True)],
)
def test_migrate_print_gives_ddl_clickhouse_parses(dsn, cluster, tmp_path):
    import re
    import subprocess
    import sys

    from tests.conftest import run_podslo

    said = run_podslo("migrate", "--print", "--dsn", dsn, cwd=tmp_path)
    assert said.returncode == 0, said.stderr
    assert not (tmp_path / "data").exists(), "printing connects to nothing"
    text = said.stdout.decode()
    statements = [s for s in text.split(";\n") if s.strip()]
    parsed = subprocess.run([sys.executable, "-c", _PARSE], input=text, capture_output=True, text=True, timeout=120)
    assert parsed.returncode == 0 and int(parsed.stdout) == len(statements), parsed.stderr[-500:]
    creates = [s for s in statements if s.startswith("CREATE")]
    raw = next(s for s in creates if re.search(r"\.raw_pods(_local)? ", s) and "ENGINE = Distributed" not in s)
    assert "PARTITION BY toYYYYMM(inserted_at)" in raw and "TTL toDateTime(inserted_at) + toIntervalDay(14)" in raw
    if cluster:
        assert all(" ON CLUSTER fleet" in s for s in creates)
        for table in ("raw_pods", "raw_events", "pod_verdicts", "sli_minutes"):
            assert any(
                f".{table}_local " in s and "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/" in s
                for s in creates
            ), table
            assert any(
                f".{table} " in s and f"Distributed(fleet, podslo, {table}_local, cityHash64(cluster))" in s
                for s in creates
            ), table
        alerts = next(s for s in creates if ".alerts " in s)
        assert "ReplicatedReplacingMergeTree('/clickhouse/tables/podslo/alerts', '{replica}', version)" in alerts
    else:
        assert not any("Replicated" in s or "ON CLUSTER" in s for s in creates)


def test_migrate_applies_a_changed_retention(tmp_path):
    from tests.conftest import run_podslo

    dsn = f"chdb://{tmp_path}/store"
    assert run_podslo("migrate", "--dsn", dsn, cwd=tmp_path).returncode == 0
    rules = tmp_path / "rules.yaml"
    rules.write_text(DEFAULT_RULES.read_text() + "\nretention: {raw_objects: 30d, log_lines: 3d}\n")
    said = run_podslo("migrate", "--dsn", dsn, "--rules", str(rules), cwd=tmp_path).stdout.decode()
    assert "retention of raw_pods: toDateTime(inserted_at) + toIntervalDay(30)" in said
    assert "retention of raw_logs: toDateTime(inserted_at) + toIntervalDay(3)" in said
    assert "retention of pod_verdicts" not in said, "only what changed"
    again = run_podslo("migrate", "--dsn", dsn, "--rules", str(rules), cwd=tmp_path).stdout.decode()
    assert "retention of" not in again


# Prints JE_MALLOC_CONF as it was when chDB (and so its jemalloc) was first imported.
_ALLOCATOR_IN = """
import importlib.abc, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "chdb" and not seen:
            seen.append(os.environ.get("JE_MALLOC_CONF", "unset"))
sys.meta_path.insert(0, Watch())
from podslo import store
if sys.argv[2] == "lean":
    store.lean_allocator()
store.Store(f"chdb://{sys.argv[1]}/db").close()
print(seen[0] if seen else "chdb never imported")
"""


@pytest.mark.parametrize("role", ["lean", "default"])
def test_the_allocator_is_chosen_before_the_engine_loads(tmp_path, role):
    """`podslo collect` gives freed pages back at once (its lists' peak); every other process keeps
    them 200 ms (the analysis faulted its memory in again and again): set before chDB loads."""
    import os
    import subprocess
    import sys

    from podslo.store import ALLOCATOR, LEAN_ALLOCATOR

    env = {k: v for k, v in os.environ.items() if k != "JE_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", _ALLOCATOR_IN, str(tmp_path), role], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == (LEAN_ALLOCATOR if role == "lean" else ALLOCATOR)
