"""The one storage client: clickhouse-connect over chDB (embedded) or a server.

Every query is parameterised server-side (`{name:Type}`); identifiers never come
from input. At open the schema is brought to what podslo.schema declares.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.binding import quote_identifier

from podslo.config import parse_dsn, resolve_dsn
from podslo.ddl import (
    MIGRATIONS_TABLE,
    RETENTION_DAYS,
    Layout,
    add_column_statements,
    retention_statements,
    table_statements,
)
from podslo.errors import StoreError
from podslo.schema import MIGRATIONS, RAW_TABLES, TABLES

log = logging.getLogger(__name__)


class Store:
    """A connected, migrated podslo database."""

    def __init__(self, dsn: str | None = None, migrate: bool = True, retention: dict[str, int] | None = None):
        self.dsn = resolve_dsn(dsn)
        target = parse_dsn(self.dsn)
        self.database = target.database
        self.layout = Layout(target.database, target.cluster, {**RETENTION_DAYS, **(retention or {})})
        self._contexts: dict[tuple, Any] = {}
        self._insert_lock = threading.Lock()
        self.changes: list[str] = []  # what the last migrate did
        if target.engine == "chdb" and target.path not in _OPENED and _held_elsewhere(target.path):
            raise StoreError(
                f"the embedded store {self.dsn} is open in another process (one process owns it): "
                "read it through that process's API (`podslo serve`), stop that process first, or use a "
                "ClickHouse server (PODSLO_DSN=http://user:pass@host:8123/db)"
            )
        try:
            self.client = _connect(target)
        except Exception as exc:  # the driver raises many kinds; the user needs one line
            raise StoreError(f"cannot open store {self.dsn}: {exc}") from exc
        if target.engine == "chdb":
            _OPENED.add(target.path)
        if migrate:
            self.migrate(retention is not None)
        else:
            self._check_schema()

    # -- schema -----------------------------------------------------------------
    def migrate(self, retention: bool = False, layout: Layout | None = None) -> list[str]:
        """Create the declared tables that are missing, add the declared columns a table
        lacks, apply the numbered migrations not yet recorded and (`retention`) the layout's
        retention where a table's TTL differs; return what was done."""
        if layout is not None:
            self.layout = layout
        layout = self.layout
        for statement in table_statements(layout, MIGRATIONS_TABLE):
            self.client.command(statement)
        present: dict[str, set[str]] = {}
        for table, column in self.client.query(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase()"
        ).result_rows:
            present.setdefault(table, set()).add(column)
        done = []
        for table in TABLES.values():
            if table.name not in present:
                for statement in table_statements(layout, table):
                    self.client.command(statement)
                done.append(f"created table {table.name}")
                continue
            for name, _ in table.lines:
                if name not in present[table.name]:
                    for statement in add_column_statements(layout, table, name):
                        self.client.command(statement)
                    done.append(f"added column {table.name}.{name}")
        recorded = {row[0] for row in self.client.query("SELECT version FROM schema_migrations").result_rows}
        for version, name, statements in MIGRATIONS:
            if version not in recorded:
                for statement in statements if not layout.cluster else ():  # a cluster is made as declared
                    self.client.command(statement)
                self.client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
                done.append(f"applied migration {version}: {name}")
        if retention:
            done += self._apply_retention(layout)
        for change in done:
            log.info("schema: %s", change)
        self.changes = done
        return done

    def _apply_retention(self, layout: Layout) -> list[str]:
        """MODIFY TTL on each aging table whose TTL is not the layout's (ClickHouse then drops
        the whole parts past it)."""
        current = dict(
            self.client.query(
                "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
            ).result_rows
        )
        done = []
        for table, wanted, statement in retention_statements(layout):
            if f"TTL {wanted}" not in (current.get(table) or ""):
                self.client.command(statement)
                done.append(f"retention of {table}: {wanted}")
        return done

    def _check_schema(self) -> None:
        """For a reader that does not migrate: the store must hold podslo's tables."""
        present = self.tables()
        if "schema_migrations" not in present:
            raise StoreError(
                f"the store {self.dsn} holds no podslo data yet: "
                "fill it with `podslo serve`, `podslo collect` or `podslo replay`"
            )
        missing = sorted(set(TABLES) - present)
        if missing:
            raise StoreError(
                f"the store {self.dsn} was made by an older podslo (no {', '.join(missing)}): "
                "`podslo migrate` (or `podslo serve`) brings it up to date"
            )

    def tables(self) -> set[str]:
        return {
            r[0]
            for r in self.client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
        }

    def migrations(self) -> list[tuple[int, str]]:
        return [
            tuple(r)
            for r in self.client.query("SELECT version, name FROM schema_migrations ORDER BY version").result_rows
        ]

    # -- data -------------------------------------------------------------------
    def insert(self, table: str, rows: Sequence[Sequence[Any]], settings: dict | None = None) -> None:
        """Rows in the order of the table's declared columns (podslo.schema).

        Through one reused insert context per table. A fresh context a
        call is a reference cycle (it holds a bound method of itself) that keeps its rows
        alive until a full garbage collection: ~1 GB held after a list of 100,000 Events."""
        if not rows:
            return
        columns = TABLES[table].columns
        key = (table, columns, tuple(sorted((settings or {}).items())))
        with self._insert_lock:
            context = self._contexts.get(key)
            if context is None:
                context = self.client.create_insert_context(table, list(columns), settings=settings)
                self._contexts[key] = context
            context.data = rows
            try:
                self.client.insert(context=context)
            finally:
                context.data = None

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        return self.client.query(sql, parameters=params).result_rows

    def dicts(self, sql: str, **params: Any) -> list[dict]:
        result = self.client.query(sql, parameters=params)
        names = result.column_names
        return [dict(zip(names, row)) for row in result.result_rows]

    def stream(self, sql: str, **params: Any) -> Iterable[tuple]:
        """Rows in blocks, for result sets too large to hold at once."""
        with self.client.query_row_block_stream(sql, parameters=params) as blocks:
            for block in blocks:
                yield from block

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None

    def command(self, sql: str, **params: Any) -> None:
        self.client.command(sql, parameters=params or None)

    def row_counts(self, cluster: str | None = None) -> dict[str, int]:
        """Deduplicated row counts of the raw tables (what a replay added)."""
        where = "WHERE cluster = {cluster:String}" if cluster else ""
        return {t: int(self.scalar(f"SELECT count() FROM {t} FINAL {where}", cluster=cluster)) for t in RAW_TABLES}

    def clusters(self) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                "SELECT DISTINCT cluster FROM (SELECT cluster FROM raw_pods UNION ALL "
                "SELECT cluster FROM raw_nodes UNION ALL SELECT cluster FROM raw_events) ORDER BY cluster"
            )
        ]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_OPENED: set[str] = set()  # chdb directories this process has open (it may open one again)


def _held_elsewhere(path: str) -> bool:
    """Whether another process holds the embedded engine's lock on `path` (its `status` file)."""
    import fcntl

    try:
        with open(os.path.join(path, "status"), "rb") as status:
            try:
                fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(status, fcntl.LOCK_UN)
    except OSError:  # no status file: nobody has opened it
        return False
    return False


# The embedded engine's caches, bounded: the server's defaults (5 GiB each) suit a machine of
# its own, not a process that shares one; they filled as the store grew (README, Performance).
EMBEDDED_CACHES = {
    "mark_cache_size": 256 << 20,
    "primary_index_cache_size": 128 << 20,
    "index_mark_cache_size": 64 << 20,
}


# The embedded engine's allocator (jemalloc) reads JE_MALLOC_CONF once, when chDB loads (the
# first embedded store a process opens); a value the user set wins. Freed pages kept 200 ms
# are taken again by the query that freed them: given back at once, the full analysis spent
# as much CPU in the kernel as in ClickHouse (README, Performance). The collector alone gives
# them back at once (`lean_allocator`): its lists peak lower for more engine CPU.
ALLOCATOR = "dirty_decay_ms:200,muzzy_decay_ms:200"
LEAN_ALLOCATOR = "dirty_decay_ms:0,muzzy_decay_ms:0"


def lean_allocator() -> None:
    """Before a process opens its embedded store: the allocator that keeps its peak lowest."""
    os.environ.setdefault("JE_MALLOC_CONF", LEAN_ALLOCATOR)


def _connect(target):
    if target.engine == "chdb":
        os.environ.setdefault("JE_MALLOC_CONF", ALLOCATOR)
        path = target.path + "?" + "&".join(f"{k}={v}" for k, v in EMBEDDED_CACHES.items())
        boot = clickhouse_connect.get_client(interface="chdb", path=path)
        boot.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(target.database)}")
        return clickhouse_connect.get_client(interface="chdb", path=path, database=target.database)
    # No session: the analysis, delivery, report and API threads share this client, and
    # ClickHouse refuses concurrent queries on one session (SESSION_IS_LOCKED); podslo keeps
    # nothing in a session (no temporary tables, no SET), so every query stands alone.
    # On a sharded cluster a query's `IN (SELECT ...)` over Distributed tables reads the
    # subquery's local table on each shard: every table is sharded by cluster, and the analysis
    # asks about one cluster, so its shard holds the whole answer (ClickHouse refuses such a
    # subquery by default: distributed_product_mode = 'deny'). An insert through a Distributed
    # table returns once its shard holds the rows, as a round reads what it wrote (verdicts,
    # its pods) in its next statements (insert_distributed_sync; ignored off a cluster).
    settings = {"distributed_product_mode": "local", "insert_distributed_sync": 1}
    boot = clickhouse_connect.get_client(dsn=target.url, database="default", autogenerate_session_id=False)
    boot.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(target.database)}")
    return clickhouse_connect.get_client(
        dsn=target.url, database=target.database, autogenerate_session_id=False, settings=settings
    )
