"""Load, validate and compile rule files.

A bad file fails here, at load, naming the file, the line and the field, never later
in a query. The result is a `Rules` object whose patterns are compiled once.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from podslo.errors import RuleError

DEFAULT_FILE = Path(__file__).with_name("default.yaml")
Source = Literal["event", "waiting", "terminated", "status", "condition", "derived", "log"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatcherSpec(_Strict):
    source: Source | list[Source]
    reason: str | None = None
    message: str | None = None
    fits_node: bool | None = None

    @field_validator("reason", "message")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r}: {exc}") from None
        return value


class RuleSpec(_Strict):
    code: str
    when: list[MatcherSpec] = Field(min_length=1)


class CodeSpec(_Strict):
    attribution: Literal["user", "system"]
    slow: bool = False


class OverrideSpec(_Strict):
    namespace: str | None = None
    labels: dict[str, str] = {}
    kind: Literal["service", "job"] | None = None
    deadline_s: float = Field(gt=0)


class DeadlineSpec(_Strict):
    default_s: float = Field(60, gt=0)
    overrides: list[OverrideSpec] = []


class DeletionSpec(_Strict):
    slack_s: float = Field(300, ge=0)


class NodeSpec(_Strict):
    window_s: float = Field(7 * 86400, gt=0)
    manual_repair_after_s: float = Field(1800, ge=0)
    system_failures_threshold: int = Field(3, ge=1)
    critical_daemonsets: list[str] = []


class SignalSpec(_Strict):
    """Which stored pod conditions are signals (the analyzer reads them from the facts)."""
    conditions_when_false: list[str] = ["PodScheduled", "Ready", "ContainersReady"]
    conditions_always: list[str] = ["DisruptionTarget"]


class RuleFile(_Strict):
    version: Literal[1]
    signals: SignalSpec = SignalSpec()
    deadlines: DeadlineSpec = DeadlineSpec()
    deletion: DeletionSpec = DeletionSpec()
    nodes: NodeSpec = NodeSpec()
    codes: dict[str, CodeSpec]
    stuck_codes: list[str]
    reasons: list[RuleSpec]
    stuck: list[RuleSpec]

    @model_validator(mode="after")
    def _codes_declared(self) -> "RuleFile":
        for i, rule in enumerate(self.reasons):
            if rule.code not in self.codes:
                raise ValueError(f"reasons[{i}].code {rule.code!r} is not declared under codes")
        for i, rule in enumerate(self.stuck):
            if rule.code not in self.stuck_codes:
                raise ValueError(f"stuck[{i}].code {rule.code!r} is not declared under stuck_codes")
        if "Unknown" not in self.codes or "Unknown" not in self.stuck_codes:
            raise ValueError("codes and stuck_codes must both declare Unknown (the fallback)")
        return self


# -- compiled form ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Matcher:
    sources: frozenset[str]
    reason: re.Pattern | None
    message: re.Pattern | None
    fits_node: bool | None

    def matches(self, source: str, reason: str, message: str, fits_node: bool) -> bool:
        return (source in self.sources
                and (self.reason is None or self.reason.fullmatch(reason) is not None)
                and (self.message is None or self.message.search(message) is not None)
                and (self.fits_node is None or self.fits_node == fits_node))


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # "code[i]": which rule and which of its matchers decided
    code: str
    attribution: str | None
    slow: bool
    matcher: Matcher


@dataclass(frozen=True)
class Rules:
    spec: RuleFile
    reasons: tuple[Rule, ...]  # flattened, in priority order
    stuck: tuple[Rule, ...]
    source: str

    @property
    def slow_reasons(self) -> tuple[Rule, ...]:
        """The rules whose code means 'too slow' rather than 'failed'."""
        return tuple(r for r in self.reasons if r.slow)

    def attribution(self, code: str) -> str:
        return self.spec.codes[code].attribution

    def deadline_s(self, namespace: str, labels: dict, kind: str) -> float:
        for override in self.spec.deadlines.overrides:
            if override.namespace and not fnmatch.fnmatchcase(namespace, override.namespace):
                continue
            if override.kind and override.kind != kind:
                continue
            if any(labels.get(k) != v for k, v in override.labels.items()):
                continue
            return override.deadline_s
        return self.spec.deadlines.default_s


def _compile(spec: RuleFile, source: str) -> Rules:
    def flatten(rules: list[RuleSpec], with_codes: bool) -> tuple[Rule, ...]:
        out = []
        for rule in rules:
            code = spec.codes.get(rule.code) if with_codes else None
            for i, m in enumerate(rule.when):
                sources = frozenset([m.source] if isinstance(m.source, str) else m.source)
                out.append(Rule(
                    f"{rule.code}[{i}]", rule.code, code.attribution if code else None,
                    bool(code and code.slow),
                    Matcher(sources, re.compile(m.reason) if m.reason else None,
                            re.compile(m.message) if m.message else None, m.fits_node)))
        return tuple(out)
    return Rules(spec, flatten(spec.reasons, True), flatten(spec.stuck, False), source)


def load_rules(path: str | Path | None = None) -> Rules:
    """Load a rule file (default: slo_rules/default.yaml), validated and compiled."""
    file = Path(path) if path else DEFAULT_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{file}: cannot read rule file: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RuleError(f"{file}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RuleError(f"{file}: expected a mapping at the top level")
    try:
        spec = RuleFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        raise RuleError(f"{file}:{_line_of(node, loc)}: {field or 'file'}: {first['msg']}") from None
    return _compile(spec, str(file))


def _line_of(node, loc) -> int:
    """1-based line of the YAML node at `loc` (the deepest one that exists)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node, line = match, match.start_mark.line + 1
    return line
