"""Kubernetes timestamps <-> integer epoch milliseconds (the hot-path time type)."""

import time
from datetime import UTC, datetime
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=65536)
def parse_ms(value: str) -> int:
    """RFC 3339 (`2021-05-19T09:42:58Z`, fractions up to nanoseconds, offsets) -> ms.

    Cached: second-precision timestamps repeat across the many snapshots of a pod.
    Raises ValueError on anything else.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dot = text.find(".")
    if dot != -1:  # Python takes at most 6 fractional digits
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: min(end, dot + 7)] + text[end:]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int((parsed - _EPOCH).total_seconds() * 1000)


def opt_ms(value) -> int | None:
    """parse_ms for optional fields: None/empty -> None."""
    if not value:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp string, got {type(value).__name__}")
    return parse_ms(value)


def iso(ms: int | float | None) -> str | None:
    """ms -> `2021-05-19T09:42:58.123Z` (None stays None)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ms_of(value) -> int | None:
    """A time the store returned (datetime), or ms already, -> ms (None stays None)."""
    if value is None or isinstance(value, int):
        return value
    return int(value.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
