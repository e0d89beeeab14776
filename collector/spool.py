"""A bounded on-disk queue for batches the store could not take: written in order, drained
in order when the store is back, kept across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import orjson


class SpoolFull(Exception):
    pass


class Spool:
    def __init__(self, directory: str | Path, max_bytes: int = 512 * 1024 * 1024):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.bytes = sum(p.stat().st_size for p in self.files())  # kept current: `full` is on the hot path

    def files(self) -> list[Path]:
        return sorted(self.dir.glob("*.batch"))

    def size(self) -> int:
        return self.bytes

    def full(self) -> bool:
        return self.bytes >= self.max_bytes

    def put(self, batch: dict) -> Path:
        """Write one batch atomically (temp file + rename): a crash never leaves half a batch."""
        if self.full():
            raise SpoolFull(f"spool {self.dir} holds {self.size()} bytes (limit {self.max_bytes})")
        files = self.files()
        seq = int(files[-1].stem) + 1 if files else 1
        path = self.dir / f"{seq:012d}.batch"
        temp = path.with_suffix(".tmp")
        data = orjson.dumps(batch, option=orjson.OPT_NON_STR_KEYS, default=_text)
        temp.write_bytes(data)
        os.replace(temp, path)
        self.bytes += len(data)
        return path

    def drain(self, write) -> int:
        """`write(batch)` each spooled batch, oldest first, deleting each once written.
        Stops at the first failure (raised to the caller); returns how many were written."""
        done = 0
        for path in self.files():
            data = path.read_bytes()
            write(orjson.loads(data))
            path.unlink()
            self.bytes -= len(data)
            done += 1
        return done


def _text(value):
    """Objects travel as UTF-8 bytes; the spool keeps them as text (they drain as text)."""
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"cannot spool a {type(value).__name__}")
