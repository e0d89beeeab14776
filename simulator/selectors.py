"""Label and field selectors as the apiserver reads them (the subset list/watch use)."""

from __future__ import annotations

import re

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_labels(text: str) -> list[tuple[str, str, tuple]]:
    """`app=web,tier!=db,env in (a,b),!legacy,canary` -> [(key, op, values)]."""
    out = []
    for term in _split(text):
        match = _SET.match(term)
        if match:
            out.append((match.group(1), match.group(2), tuple(v.strip() for v in match.group(3).split(","))))
        elif "!=" in term:
            key, value = term.split("!=", 1)
            out.append((key.strip(), "!=", (value.strip(),)))
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            out.append((key.strip(), "=", (value.strip(),)))
        elif term.startswith("!"):
            out.append((term[1:].strip(), "!exists", ()))
        elif re.fullmatch(r"[\w./-]+", term):
            out.append((term, "exists", ()))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return out


def matches_labels(labels: dict, selector: list) -> bool:
    return all(_matches(labels, key, op, values) for key, op, values in selector)


def _matches(labels: dict, key: str, op: str, values: tuple) -> bool:
    present, value = key in labels, labels.get(key)
    if op in ("=", "in"):
        return present and value in values
    if op in ("!=", "notin"):
        return not present or value not in values
    return present if op == "exists" else not present


def parse_fields(text: str) -> list[tuple[str, str, str]]:
    """`spec.nodeName=node-1,status.phase!=Running` -> [(path, op, value)]."""
    out = []
    for term in _split(text):
        if "!=" in term:
            path, value = term.split("!=", 1)
            out.append((path.strip(), "!=", value.strip()))
        elif "=" in term:
            path, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            out.append((path.strip(), "=", value.strip()))
        else:
            raise ValueError(f"invalid field selector: {term!r}")
    return out


def field_value(obj: dict, path: str) -> str:
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def matches_fields(obj: dict, selector: list) -> bool:
    return all((field_value(obj, path) == value) == (op == "=") for path, op, value in selector)
