"""`podslo collect-logs`: component logs (files that rotate, or stdin) into raw_logs."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from collector.klog import parse_line
from podslo.store import Store


def read_lines(paths: list[str], follow: bool = False, poll_s: float = 0.5, stop=None) -> Iterator[str]:
    """Lines of each file in turn; with `follow`, keep reading what is appended, and
    reopen a file that was rotated (new inode, or truncated)."""
    for path in paths:
        if path == "-":
            import sys

            yield from (raw.decode("utf-8", "replace") for raw in sys.stdin.buffer)
            continue
        handle, inode = _open(path)
        while True:
            line = handle.readline()
            if line:
                yield line
                continue
            if not follow or (stop is not None and stop.is_set()):
                break
            time.sleep(poll_s)
            if _rotated(path, handle, inode):
                rest = handle.read()  # what was written before the rename
                if rest:
                    yield from rest.splitlines(keepends=True)
                handle.close()
                handle, inode = _open(path)
        handle.close()


def _open(path: str) -> tuple[IO[str], int]:
    handle = open(path, encoding="utf-8", errors="replace")
    return handle, os.fstat(handle.fileno()).st_ino


def _rotated(path: str, handle: IO[str], inode: int) -> bool:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False  # renamed, the new one not there yet
    return info.st_ino != inode or info.st_size < handle.tell()


def collect_logs(
    store: Store,
    cluster: str,
    component: str,
    lines: Iterator[str],
    node: str = "",
    year: int | None = None,
    batch_rows: int = 5000,
    problem=None,
) -> Counter:
    """Store every line in a known format; count what was taken and skipped. A line whose
    time cannot be read is counted as bad and reported (`problem(line_number, message)`);
    what is held is written whatever ends the reading (end of input, an error, SIGTERM
    turned into SystemExit by the caller)."""
    year = year or datetime.now(UTC).year
    counts: Counter = Counter()
    rows: list[list] = []
    try:
        for number, line in enumerate(lines, 1):
            try:
                parsed = parse_line(line, year)
            except (ValueError, OverflowError) as exc:
                counts["bad"] += 1
                if problem:
                    problem(number, f"unreadable time: {exc}")
                continue
            if parsed is None:
                counts["skipped"] += 1
                continue
            text = line.rstrip("\n")
            digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            rows.append(
                [
                    cluster,
                    parsed.node or node,
                    component,
                    parsed.at,
                    parsed.severity,
                    parsed.namespace,
                    parsed.name,
                    parsed.uid,
                    parsed.message,
                    text[:16000],
                    digest,
                ]
            )
            counts["taken"] += 1
            counts["about a pod"] += bool(parsed.name or parsed.uid)
            if len(rows) >= batch_rows:
                store.insert("raw_logs", rows)
                rows = []
    finally:
        store.insert("raw_logs", rows)
    return counts
