"""Migrations are recorded and idempotent; the raw tables dedup re-inserts."""

from __future__ import annotations

from podslo.schema import MIGRATIONS


def test_migrations_recorded_once(store):
    assert store.migrations() == [(v, name) for v, name, _ in MIGRATIONS]
    assert store.migrate() == []  # nothing left to apply
    assert store.scalar("SELECT count() FROM schema_migrations") == len(MIGRATIONS)


def test_parameters_are_server_side(store, cluster):
    """A hostile cluster name is data, not SQL."""
    hostile = cluster + "' OR 1=1 --"
    assert store.row_counts(hostile) == {"raw_pods": 0, "raw_events": 0, "raw_nodes": 0, "raw_audit": 0}
