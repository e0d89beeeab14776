"""Batching writer: rows per table, flushed by size (and at close).

A batch the store refuses for its content (not for being away) is split in halves until
the rows it refuses are found: those go to the quarantine table, the rest is written.
"""

from __future__ import annotations

import json
import logging
import struct

from clickhouse_connect.driver.exceptions import DataError

from podslo.schema import RAW_TABLES
from podslo.store import Store

log = logging.getLogger(__name__)
# What a row's values raise when they do not fit their columns; anything else means the
# store is away (or busy), and the batch waits whole.
CONTENT_ERRORS = (DataError, ValueError, TypeError, AttributeError, OverflowError, struct.error)

# Raw tables deduplicate at merge and in FINAL reads; deduplicating each inserted block
# as well cost the embedded engine ~2/3 of its insert CPU (measured, `podslo bench ingest`).
RAW_INSERT = {"optimize_on_insert": 0}


class BatchWriter:
    """Rows held per table until a batch is due; `add` writes when `batch_rows` are held.

    The collector takes batches itself (`take`, `write`, `put_back`) so a batch and its
    checkpoints can go to the store or the spool together.
    """

    def __init__(self, store: Store, batch_rows: int = 20_000):
        self.store = store
        self.batch_rows = batch_rows
        self.pending: dict[str, list] = {table: [] for table in RAW_TABLES}
        self.held = 0  # rows pending over all tables
        self.written: dict[str, int] = {table: 0 for table in RAW_TABLES}
        self.quarantined: dict[str, int] = {table: 0 for table in RAW_TABLES}
        self.refused = None  # called with (table, row, error) for each quarantined row

    def hold(self, table: str, row: list) -> None:
        self.pending[table].append(row)
        self.held += 1

    def add(self, table: str, row: list) -> None:
        self.hold(table, row)
        if self.full():
            self.flush()

    def full(self) -> bool:
        return self.held >= self.batch_rows

    def take(self) -> dict[str, list]:
        """The held rows by table (only tables that have some); nothing is held after."""
        batch = {table: rows for table, rows in self.pending.items() if rows}
        self.pending = {table: [] for table in RAW_TABLES}
        self.held = 0
        return batch

    def put_back(self, batch: dict[str, list]) -> None:
        """Rows a failed write took, back in front of what came since."""
        for table, rows in batch.items():
            self.pending[table] = rows + self.pending[table]
            self.held += len(rows)

    def write(self, batch: dict[str, list]) -> None:
        for table, rows in batch.items():
            self._insert(table, rows)

    def _insert(self, table: str, rows: list) -> None:
        try:
            self.store.insert(table, rows, RAW_INSERT)
        except CONTENT_ERRORS as exc:
            if len(rows) == 1:
                self._quarantine(table, rows[0], exc)
                return
            half = len(rows) // 2
            self._insert(table, rows[:half])
            self._insert(table, rows[half:])
            return
        self.written[table] += len(rows)

    def _quarantine(self, table: str, row: list, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        text = json.dumps(row, default=repr, ensure_ascii=True)  # bytes, lone surrogates: all storable
        self.store.insert("quarantine", [[str(row[0]) if row else "", table, error, text]])
        self.quarantined[table] += 1
        log.warning("the store refused a %s row (%s); kept in the quarantine table", table, error)
        if self.refused:
            self.refused(table, row, error)

    def flush(self) -> None:
        batch = self.take()
        try:
            self.write(batch)
        except Exception:
            self.put_back(batch)  # nothing dropped: a caller may try again
            raise

    def close(self) -> None:
        self.flush()
