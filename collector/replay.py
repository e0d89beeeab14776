"""`podslo replay`: a recorded stream (contract 1) into the raw tables."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from collector.route import Router, Tally
from collector.stream import Bad, read_values
from collector.writer import BatchWriter
from podslo.store import Store

Progress = Callable[[int, int], None]  # (values read, bytes read)


def replay(
    store: Store,
    stream: IO[bytes],
    cluster: str,
    problem: Callable[[int, str], None] | None = None,
    progress: Progress | None = None,
    batch_rows: int = 20_000,
) -> Tally:
    """Ingest every good value; report each bad one through `problem(line, message)`."""
    tally = Tally()
    report = problem or (lambda line, message: print(message, file=sys.stderr))
    writer = BatchWriter(store, batch_rows)
    writer.refused = lambda table, row, error: _refused(tally, report, table, error)
    router = Router(cluster, writer.add, tally, report)
    last = time.monotonic()
    for count, item in enumerate(read_values(stream), 1):
        if isinstance(item, Bad):
            tally.malformed += 1
            report(item.line, item.error)
        else:
            router.route(item.line, item.data, item.observed_ms)
        if progress and time.monotonic() - last > 1.0:
            last = time.monotonic()
            progress(count, _position(stream))
    writer.close()
    return tally


def _refused(tally: Tally, report, table: str, error: str) -> None:
    tally.skipped["refused by the store (see the quarantine table)"] += 1
    report(0, f"the store refused a {table} row ({error}); it is kept in the quarantine table")


def _position(stream) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0
