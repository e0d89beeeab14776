"""Batching writer: rows per table, flushed by size (and at close)."""

from __future__ import annotations

from collector.normalize import AUDIT_COLUMNS, EVENT_COLUMNS, NODE_COLUMNS, POD_COLUMNS
from podslo.store import Store

COLUMNS = {
    "raw_pods": POD_COLUMNS,
    "raw_events": EVENT_COLUMNS,
    "raw_nodes": NODE_COLUMNS,
    "raw_audit": AUDIT_COLUMNS,
}


class BatchWriter:
    def __init__(self, store: Store, batch_rows: int = 20_000):
        self.store = store
        self.batch_rows = batch_rows
        self.pending: dict[str, list] = {table: [] for table in COLUMNS}
        self.written: dict[str, int] = {table: 0 for table in COLUMNS}

    def add(self, table: str, row: list) -> None:
        rows = self.pending[table]
        rows.append(row)
        if len(rows) >= self.batch_rows:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.pending):
            rows = self.pending[name]
            if rows:
                self.store.insert(name, rows, COLUMNS[name])
                self.written[name] += len(rows)
                self.pending[name] = []

    def close(self) -> None:
        self.flush()
