"""The statements that lay the declared tables (podslo.schema) out on a store: one ClickHouse
(embedded or a server), or a ClickHouse cluster named by the DSN (`?cluster=NAME`).

- Raw tables are partitioned by month of insert time, and every table whose rows age has a TTL
  from the retention (rule file `retention:`); only whole parts are dropped.
- On a cluster every statement is ON CLUSTER. The large tables (raw, verdict, SLI minutes,
  roll-ups, an analysis round's pods) are `<name>_local` Replicated*MergeTree tables (the same
  dedup keys) with a Distributed table `<name>` in front, sharded by the Kubernetes cluster, so one cluster's analysis stays on one
  shard. The small state tables (watermarks, alerts, outboxes, checkpoints, migrations) are one
  replicated shard: every node holds a replica.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from podslo.schema import RAW_TABLES, TABLES, Table

# Retention classes and their default days: raw objects and events are what verdicts are
# rebuilt from (two weeks covers the node window and a rule change re-decided over a week);
# log lines are the bulkiest and least read; verdicts (and their roll-ups) feed traces and reports a quarter back;
# SLI minutes hold every SLO window and the API's longest series (400 days); outboxes only
# matter until delivered.
RETENTION_DAYS = {
    "raw_objects": 14,
    "events": 14,
    "log_lines": 7,
    "verdicts": 90,
    "sli_minutes": 400,
    "outboxes": 14,
}
# table -> (retention class, the time its rows age by): the wall clock's (insert or analysis
# time), never the cluster's, so a replay of old input or a simulated clock is not dropped at once
WRITTEN = "intDiv(version, 1000)"  # a derived row's version is the wall time it was written (ms)
AGING = {
    "raw_pods": ("raw_objects", "inserted_at"),
    "raw_nodes": ("raw_objects", "inserted_at"),
    "raw_audit": ("raw_objects", "inserted_at"),
    "quarantine": ("raw_objects", "inserted_at"),
    "raw_events": ("events", "inserted_at"),
    "raw_logs": ("log_lines", "inserted_at"),
    "probe_results": ("verdicts", "inserted_at"),
    "pod_verdicts": ("verdicts", "analyzed_at"),
    "node_verdicts": ("verdicts", WRITTEN),
    "sli_minutes": ("sli_minutes", WRITTEN),
    "node_minutes": ("sli_minutes", WRITTEN),
    "delivery_latency": ("verdicts", WRITTEN),
    "workload_minutes": ("verdicts", WRITTEN),
    "workload_hours": ("verdicts", WRITTEN),
    "workload_days": ("verdicts", WRITTEN),
    "webhook_outbox": ("outboxes", "created_at"),
    "analysis_uids": ("outboxes", WRITTEN),  # read within its round; kept a while to look into
    "analysis_facts": ("outboxes", WRITTEN),  # on a cluster (deleted after its slice elsewhere)
}  # report_outbox (a row a week, dated by the schedule's clock, which may be a simulated one) is kept
PARTITIONED = {*RAW_TABLES, "raw_logs", "quarantine"}  # by month of insert time
SHARDED = {
    *RAW_TABLES,
    "raw_logs",
    "quarantine",
    "probe_results",
    "pod_verdicts",
    "node_verdicts",
    "sli_minutes",
    "node_minutes",
    "delivery_latency",
    "workload_minutes",
    "workload_hours",
    "workload_days",
    "analysis_uids",
    "analysis_facts",
}
SHARD_KEY = "cityHash64(cluster)"  # one Kubernetes cluster's rows on one shard
MIGRATIONS_TABLE = Table(
    "schema_migrations",
    "version UInt32\nname String\napplied_at DateTime64(3, 'UTC') DEFAULT now64(3)",
    order_by="version",
    engine="MergeTree",
)


@dataclass(frozen=True)
class Layout:
    """How a store lays its tables out: its database, the ClickHouse cluster (None: one
    server or the embedded engine) and the retention days per class."""

    database: str
    cluster: str | None = None
    retention: dict[str, int] = field(default_factory=lambda: dict(RETENTION_DAYS))

    def on(self) -> str:
        return f" ON CLUSTER {_ident(self.cluster)}" if self.cluster else ""

    def name(self, table: str) -> str:
        return f"{_ident(self.database)}.{_ident(table)}"


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "\\`") + "`"


def in_memory(layout: Layout, table: Table) -> bool:
    """A scratch table (ENGINE = Memory) on one ClickHouse; on a cluster, where a read may go to
    another replica than the write, it is a replicated MergeTree like the rest."""
    return table.engine == "Memory" and not layout.cluster


def ttl(layout: Layout, table: Table) -> str | None:
    """The table's TTL clause body (None: its rows do not age)."""
    if table.name not in AGING or in_memory(layout, table):
        return None
    kind, column = AGING[table.name]
    return f"toDateTime({column}) + toIntervalDay({int(layout.retention[kind])})"  # as ClickHouse writes it back


def _replicated(engine: str, path: str) -> str:
    """ReplacingMergeTree(version) -> ReplicatedReplacingMergeTree('<path>', '{replica}', version)."""
    match = re.fullmatch(r"(\w*MergeTree)(?:\((.*)\))?", engine)
    base, args = match.group(1), match.group(2)
    return f"Replicated{base}('{path}', '{{replica}}'{', ' + args if args else ''})"


def create_table(layout: Layout, table: Table, name: str | None = None, engine: str | None = None) -> str:
    body = ",\n    ".join([f"{column} {kind}" for column, kind in table.lines] + list(table.indexes))
    target = layout.name(name or table.name)
    if in_memory(layout, table):
        return f"CREATE TABLE IF NOT EXISTS {target} (\n    {body}\n) ENGINE = Memory"
    clauses = [f"ENGINE = {engine or table.engine}"]
    if table.name in PARTITIONED:
        clauses.append("PARTITION BY toYYYYMM(inserted_at)")
    clauses.append(f"ORDER BY {table.order_by}")
    aging = ttl(layout, table)
    settings = [table.settings] if table.settings else []
    if aging:
        clauses.append(f"TTL {aging}")
        settings.append("ttl_only_drop_parts = 1")
    if settings:
        clauses.append("SETTINGS " + ", ".join(settings))
    return f"CREATE TABLE IF NOT EXISTS {target}{layout.on()} (\n    {body}\n) " + "\n".join(clauses)


def table_statements(layout: Layout, table: Table) -> list[str]:
    """What creates one declared table on this layout."""
    if not layout.cluster:
        return [create_table(layout, table)]
    if table.name not in SHARDED:  # one shard, a replica on every node
        path = f"/clickhouse/tables/{layout.database}/{table.name}"
        return [create_table(layout, table, engine=_replicated(table.engine, path))]
    local = f"{table.name}_local"
    path = "/clickhouse/tables/{shard}/" + f"{layout.database}/{local}"
    distributed = (
        f"CREATE TABLE IF NOT EXISTS {layout.name(table.name)}{layout.on()} AS {layout.name(local)}\n"
        f"ENGINE = Distributed({_ident(layout.cluster)}, {_ident(layout.database)}, {_ident(local)}, {SHARD_KEY})"
    )
    engine = _replicated("MergeTree" if table.engine == "Memory" else table.engine, path)
    return [create_table(layout, table, name=local, engine=engine), distributed]


def create_statements(layout: Layout) -> list[str]:
    """Every statement that creates the store from nothing, in order."""
    out = [f"CREATE DATABASE IF NOT EXISTS {_ident(layout.database)}{layout.on()}"]
    out += table_statements(layout, MIGRATIONS_TABLE)
    for table in TABLES.values():
        out += table_statements(layout, table)
    return out


def retention_statements(layout: Layout) -> list[tuple[str, str, str]]:
    """(stored table, its TTL, ALTER ... MODIFY TTL) for every aging table: a changed retention
    applied to existing tables."""
    out = []
    for table in TABLES.values():
        aging = ttl(layout, table)
        if aging:
            stored = f"{table.name}_local" if layout.cluster and table.name in SHARDED else table.name
            out.append((stored, aging, f"ALTER TABLE {layout.name(stored)}{layout.on()} MODIFY TTL {aging}"))
    return out


def add_column_statements(layout: Layout, table: Table, column: str) -> list[str]:
    """Add a declared column to an existing table (and to its Distributed front on a cluster)."""
    at = [n for n, _ in table.lines].index(column)
    after = f" AFTER {table.lines[at - 1][0]}" if at else " FIRST"
    kind = dict(table.lines)[column]
    names = [table.name]
    if layout.cluster and table.name in SHARDED:
        names = [f"{table.name}_local", table.name]
    return [
        f"ALTER TABLE {layout.name(name)}{layout.on()} ADD COLUMN IF NOT EXISTS {column} {kind}{after}"
        for name in names
    ]
