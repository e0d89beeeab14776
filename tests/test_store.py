"""The schema follows its declarations, idempotently; the raw tables dedup re-inserts."""

from __future__ import annotations

import uuid

from podslo.schema import MIGRATIONS, TABLES, Table


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
