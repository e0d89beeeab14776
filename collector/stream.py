"""Read contract 1's input stream: JSON values (one per line, or pretty-printed and
concatenated) or multi-document YAML, one value at a time, in constant memory.

Yields `Value(line, data, observed_ms)` for each parsed value and `Bad(line, error)`
for each malformed one; a bad value never takes a good neighbour with it.
A pretty-printed value is recognised by its opening brace in column 0 and its closing
brace in column 0 (what `kubectl ... -o json` and `json.dumps(indent=...)` print).

The format is decided by the first line that says which it is (a UTF-8 byte-order mark
skipped; a garbage line before it is reported, not trusted). Every value, one line or
many, is held to MAX_VALUE_BYTES; a YAML document to plain JSON-like data of at most
MAX_YAML_NODES nodes once its aliases are expanded (no "billion laughs", no cycles).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import orjson
import yaml

from podslo.timeutil import parse_ms

try:  # libyaml when present: ~10x faster
    _YamlLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader

MAX_VALUE_BYTES = 64 * 1024 * 1024  # one value larger than this is malformed, not memory
MAX_YAML_NODES = 1_000_000
BOM = b"\xef\xbb\xbf"
_SNIFF_BYTES = 1 << 16


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
    """Sniff the format and read accordingly."""
    head = stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES] if hasattr(stream, "peek") else b""
    if head.startswith(BOM):
        stream.read(len(BOM))
        head = head[len(BOM) :]
    fmt = _sniff(head)
    if fmt == "json":
        yield from _read_json(stream)
    elif fmt == "yaml":
        yield from _read_yaml(stream)


def _sniff(head: bytes) -> str | None:
    """ "json" or "yaml" by the first line that tells; None for a stream with nothing in it."""
    for line in head.splitlines():
        text = line.strip()
        if text[:1] in (b"{", b"["):
            return "json"
        if text.startswith(b"---") or (text[:1].isalpha() and b": " in text + b" " and not text.startswith(b"#")):
            return "yaml"
    return "json" if head.strip() else None


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream's lines, none longer than MAX_VALUE_BYTES + 1 bytes: the rest of a longer
    line is read and dropped a block at a time (it can never become a value)."""
    limit = MAX_VALUE_BYTES + 1
    while raw := stream.readline(limit):
        if len(raw) == limit and not raw.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
        yield raw


def _read_json(stream: IO[bytes]) -> Iterator[Value | Bad]:
    pending: list[bytes] = []
    pending_size = 0
    start = 0
    for number, raw in enumerate(_lines(stream), 1):
        if len(raw) > MAX_VALUE_BYTES:
            yield Bad(number, f"line {number}: value larger than {MAX_VALUE_BYTES} bytes, skipped")
            continue
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
    except (json.JSONDecodeError, RecursionError):  # nested too deep: orjson's message tells why
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
    line = start + blob.count(b"\n", 0, max(min(exc.pos, len(blob.rstrip())), 0))
    return f"{exc.msg} (at line {line})"


def _show(raw: bytes, limit: int = 40) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _read_yaml(stream: IO[bytes]) -> Iterator[Value | Bad]:
    """Multi-document YAML; a `# {"time": ...}` comment before a document gives its
    receive time (the format of shared/fixtures/kind-rollout)."""
    doc: list[bytes] = []
    start, observed, size = 1, None, 0
    for number, raw in enumerate(_lines(stream), 1):
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
    problem = _not_plain(data)
    if problem:
        yield Bad(start, f"line {start}: YAML document refused: {problem}")
    elif data is not None:
        yield Value(start, data, observed)


_PLAIN = (str, int, float, bool, type(None))


def _not_plain(data) -> str | None:
    """Why a loaded YAML document is not plain JSON-like data of bounded size (None: it is).
    Aliases are shared references: their expanded size is counted once per use, cycles
    are found, without expanding anything."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack = [(data, False)]
    while stack:
        node, done = stack.pop()
        if isinstance(node, _PLAIN):
            continue
        if not isinstance(node, (dict, list)):
            return f"a {type(node).__name__} value (!!{type(node).__name__}) has no JSON form"
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[key] > MAX_YAML_NODES:
                return f"more than {MAX_YAML_NODES} nodes once its aliases are expanded"
            continue
        if key in active:
            return "an alias refers to a node that contains it"
        if key in sizes:
            continue
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return None


def _comment_time(raw: bytes) -> int | None:
    try:
        meta = orjson.loads(raw[1:])
        return parse_ms(meta["time"]) if isinstance(meta, dict) and isinstance(meta.get("time"), str) else None
    except (orjson.JSONDecodeError, ValueError, KeyError):
        return None
