"""What may come in as a name, and how text from a cluster goes out to a terminal."""

from __future__ import annotations

import re

# A cluster name becomes part of paths (the spool) and labels: a DNS-1123-label-like name
# (letters, digits, '-', '_', '.'; no path separators, no leading dot).
CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# C0 and C1 controls (but tab and newline), DEL, and the bidirectional overrides that
# reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def check_cluster_name(name: str, where: str = "cluster name") -> str:
    if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{where} {str(name)[:80]!r}: use letters, digits, '-', '_' and '.' "
            "(at most 63, starting with a letter or digit)"
        )
    return name


def printable(text: str) -> str:
    """`text` with terminal control characters shown as escapes, not obeyed."""
    return _UNPRINTABLE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )
