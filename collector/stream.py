"""Read contract 1's input stream: JSON values (one per line, or pretty-printed and
concatenated) or multi-document YAML, one value at a time, in constant memory.

Yields `Value(line, data, observed_ms)` for each parsed value and `Bad(line, error)`
for each malformed one; a bad value never takes a good neighbour with it.
A pretty-printed value is recognised by its opening brace in column 0 and its closing
brace in column 0 (what `kubectl ... -o json` and `json.dumps(indent=...)` print).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Iterator

import orjson
import yaml

from podslo.timeutil import parse_ms

try:  # libyaml when present: ~10x faster
    _YamlLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader

MAX_VALUE_BYTES = 64 * 1024 * 1024  # one value larger than this is malformed, not memory


@dataclass(slots=True)
class Value:
    line: int
    data: object
    observed_ms: int | None = None  # when the watcher received it, if the stream says


@dataclass(slots=True)
class Bad:
    line: int
    error: str


def read_values(stream: IO[bytes]) -> Iterator[Value | Bad]:
    """Sniff the format from the first non-blank byte and read accordingly."""
    first = _peek_first(stream)
    if first in (b"{", b"["):
        yield from _read_json(stream)
    elif first:
        yield from _read_yaml(stream)


def _peek_first(stream) -> bytes:
    head = stream.peek(4096) if hasattr(stream, "peek") else b""
    for byte in head.lstrip()[:1] or [None]:
        return bytes([byte]) if byte is not None else b""
    return b""


def _read_json(stream: IO[bytes]) -> Iterator[Value | Bad]:
    pending: list[bytes] = []
    pending_size = 0
    start = 0
    for number, raw in enumerate(stream, 1):
        opens_value = raw[:1] in (b"{", b"[")
        if pending and opens_value:  # a new value begins before the last one closed
            yield from _finish(pending, start)
            pending, pending_size = [], 0
        if not pending:
            if not raw.strip():
                continue
            if opens_value and raw.rstrip()[-1:] in (b"}", b"]"):
                try:
                    yield _value(number, orjson.loads(raw))
                    continue
                except orjson.JSONDecodeError:
                    pass  # maybe several values on one line, or a multi-line value
                several = _splits(raw, number)
                if several is not None:
                    yield from several
                    continue
            if not opens_value:
                yield Bad(number, f"line {number}: expected a JSON value starting with '{{', got {_show(raw)}")
                continue
            start = number
        pending.append(raw)
        pending_size += len(raw)
        if pending_size > MAX_VALUE_BYTES:
            yield Bad(start, f"line {start}: value larger than {MAX_VALUE_BYTES} bytes, skipped")
            pending, pending_size = [], 0
        elif raw[:1] in (b"}", b"]"):  # closing brace in column 0 ends a pretty value
            yield from _finish(pending, start)
            pending, pending_size = [], 0
    if pending:
        yield from _finish(pending, start, at_end=True)


def _finish(lines: list[bytes], start: int, at_end: bool = False) -> Iterator[Value | Bad]:
    blob = b"".join(lines)
    try:
        yield _value(start, orjson.loads(blob))
    except orjson.JSONDecodeError as exc:
        what = "truncated JSON value" if at_end else "malformed JSON value"
        yield Bad(start, f"line {start}: {what}: {_describe(exc, start, blob)}")


def _splits(raw: bytes, number: int) -> list[Value] | None:
    """Several JSON values on one line (`{..}{..}`), or None if that is not it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder, pos, out = json.JSONDecoder(), 0, []
    try:
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos == len(text):
                break
            data, pos = decoder.raw_decode(text, pos)
            out.append(_value(number, data))
    except json.JSONDecodeError:
        return None
    return out if len(out) > 1 else None


def _value(line: int, data) -> Value:
    """Strip our optional receive-time field (`"time"` beside `type`/`object`)."""
    observed = None
    if isinstance(data, dict) and "object" in data and isinstance(data.get("time"), str):
        try:
            observed = parse_ms(data["time"])
        except ValueError:
            observed = None
    return Value(line, data, observed)


def _describe(exc: orjson.JSONDecodeError, start: int, blob: bytes) -> str:
    line = start + blob.count(b"\n", 0, max(exc.pos, 0))
    return f"{exc.msg} (at line {line})"


def _show(raw: bytes, limit: int = 40) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _read_yaml(stream: IO[bytes]) -> Iterator[Value | Bad]:
    """Multi-document YAML; a `# {"time": ...}` comment before a document gives its
    receive time (the format of shared/fixtures/kind-rollout)."""
    doc: list[bytes] = []
    start, observed, size = 1, None, 0
    for number, raw in enumerate(stream, 1):
        if raw.rstrip() == b"---" or raw.startswith(b"--- "):
            if doc:
                yield from _yaml_doc(doc, start, observed)
            doc, start, observed, size = [], number + 1, None, 0
            continue
        if not doc and raw.startswith(b"# {"):
            observed = _comment_time(raw)
            start = number + 1
            continue
        if not doc and not raw.strip():
            start = number + 1
            continue
        doc.append(raw)
        size += len(raw)
        if size > MAX_VALUE_BYTES:
            yield Bad(start, f"line {start}: YAML document larger than {MAX_VALUE_BYTES} bytes, skipped")
            doc, size = [], 0
    if doc:
        yield from _yaml_doc(doc, start, observed)


def _yaml_doc(lines: list[bytes], start: int, observed: int | None) -> Iterator[Value | Bad]:
    try:
        data = yaml.load(b"".join(lines), Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = start + mark.line if mark is not None else start
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        yield Bad(start, f"line {start}: malformed YAML document: {problem} (at line {where})")
        return
    except UnicodeDecodeError as exc:
        yield Bad(start, f"line {start}: YAML document is not valid UTF-8: {exc.reason}")
        return
    if data is not None:
        yield Value(start, data, observed)


def _comment_time(raw: bytes) -> int | None:
    try:
        meta = orjson.loads(raw[1:])
        return parse_ms(meta["time"]) if isinstance(meta, dict) and isinstance(meta.get("time"), str) else None
    except (orjson.JSONDecodeError, ValueError, KeyError):
        return None
