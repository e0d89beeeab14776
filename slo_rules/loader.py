"""Load, validate and compile rule files.

A bad file fails here, at load, naming the file, the line and the field, never later
in a query. The result is a `Rules` object whose patterns are compiled once.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from podslo.errors import RuleError

DEFAULT_FILE = Path(__file__).with_name("default.yaml")
Source = Literal["event", "waiting", "terminated", "status", "condition", "derived", "log"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _regex(value: str | None) -> str | None:
    """A regular expression that compiles, or ValueError naming it."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value


class MatcherSpec(_Strict):
    source: Source | list[Source]
    reason: str | None = None
    message: str | None = None
    fits_node: bool | None = None

    @field_validator("reason", "message")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return _regex(value)


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


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m|h|d|w)$")
_DURATION_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SLIS = ("delivery", "deletion", "startup", "startup_stateful", "upgrade", "node_time", "probe")
LATENCY_SLIS = ("startup", "startup_stateful")
# Upper bounds (seconds) of the startup-latency buckets kept per minute; a latency SLO's
# threshold is one of them.
STARTUP_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, float("inf"))
Severity = Literal["page", "ticket"]


def duration_s(text: str | float) -> float:
    """`5m`, `1h`, `28d`, `2w` (or a number of seconds) -> seconds; ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h, 28d")
    return float(match.group(1)) * _DURATION_S[match.group(2)]


class Duration(str):
    """A duration as written (`5m`); `.s` is its seconds."""

    @property
    def s(self) -> float:
        return duration_s(str(self))

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        from pydantic_core import core_schema

        def check(value):
            if duration_s(value) <= 0:
                raise ValueError(f"{value!r}: a duration must be positive")
            return cls(value)

        return core_schema.no_info_plain_validator_function(
            check, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


class WindowPair(_Strict):
    """Alert when both windows burn the error budget faster than `factor` times the pace
    that would spend it exactly over the SLO window."""

    severity: Severity
    long: Duration
    short: Duration
    factor: float = Field(gt=0)

    @model_validator(mode="after")
    def _short_within_long(self) -> WindowPair:
        if self.short.s >= self.long.s:
            raise ValueError(f"short window {self.short} must be shorter than long window {self.long}")
        return self


SRE_WORKBOOK_WINDOWS = [
    WindowPair(severity="page", long="1h", short="5m", factor=14.4),
    WindowPair(severity="page", long="6h", short="30m", factor=6),
    WindowPair(severity="ticket", long="1d", short="2h", factor=3),
    WindowPair(severity="ticket", long="3d", short="6h", factor=1),
]


class AlertingSpec(_Strict):
    windows: list[WindowPair] = Field(default_factory=lambda: list(SRE_WORKBOOK_WINDOWS), min_length=1)
    min_events: int = Field(20, ge=0)  # a long window with fewer events does not alert
    keep_firing_for: Duration = Duration("10m")  # clear this long before resolving
    resolve_below: float = Field(0.9, gt=0, le=1)  # a firing alert's burn must fall under factor x this to clear
    repeat_every: Duration = Duration("4h")  # notify again while firing
    # the `severity` label's value per severity, for routing trees that say critical/warning
    severity_labels: dict[Severity, str] = {}


class SelectorSpec(_Strict):
    namespaces: list[str] = []  # globs; none: every namespace
    labels: dict[str, str] = {}  # pod labels that must all match (a per-tenant SLO)


class SloSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    sli: Literal[SLIS]
    objective: float = Field(gt=0, lt=1)
    window: Duration = Duration("28d")
    description: str = ""
    threshold_s: float | None = None  # latency SLIs: what counts as good
    # events: good events / events. good_minutes (latency SLIs): good minutes / minutes with
    # events, a minute good when the `percentile` of the last 5 minutes' events is at or under
    # threshold_s (SIG-Scalability's "p99 over the last 5 minutes <= 5 s", as a share of minutes)
    form: Literal["events", "good_minutes"] = "events"
    percentile: float = Field(0.99, gt=0, lt=1)
    selector: SelectorSpec = SelectorSpec()
    alerting: AlertingSpec | None = None  # None: the file's alerting

    @model_validator(mode="after")
    def _threshold(self) -> SloSpec:
        if (self.sli in LATENCY_SLIS) != (self.threshold_s is not None):
            raise ValueError("threshold_s is given for the startup SLIs, and only for them")
        if self.form == "good_minutes" and self.threshold_s is None:
            raise ValueError("the good_minutes form is for the startup SLIs (it needs threshold_s)")
        if self.threshold_s is not None and self.threshold_s not in STARTUP_BUCKETS:
            raise ValueError(f"threshold_s must be one of {list(STARTUP_BUCKETS[:-1])}")
        if (self.selector.namespaces or self.selector.labels) and self.sli in ("node_time", "probe"):
            raise ValueError(f"the {self.sli} SLI has no pods or namespaces to select: it cannot honour a selector")
        return self


class FleetSpec(_Strict):
    """Fleet context: a failure whose message reads the same whether the user or the platform is
    at fault is the platform's (`platform`) when pods of at least `min_namespaces` namespaces
    show it within `window` of each other, and the user's (`user`) when it stays in fewer."""

    name: str
    message: str
    user: str
    platform: str
    window: Duration = Duration("10m")
    min_namespaces: int = Field(3, ge=2)

    @field_validator("message")
    @classmethod
    def _compiles(cls, value: str) -> str:
        return _regex(value)


def _from_openslo(item: object) -> object:
    """An OpenSLO v1 SLO document in `slos:` is read as one of the rule file's SLOs."""
    from slo_rules.openslo import is_openslo, slo_from_openslo

    return slo_from_openslo(item) if is_openslo(item) else item


class MassDeletionSpec(_Strict):
    """Page when pod deletions in a namespace within `window` reach `max_count`, or in a
    namespace or the whole cluster `max_share` of its pods (with at least `min_pods` of them)."""

    window: Duration = Duration("5m")
    max_count: int = Field(200, ge=1)
    max_share: float = Field(0.5, gt=0, le=1)
    min_pods: int = Field(50, ge=1)
    severity: Severity = "page"


class DataMissingSpec(_Strict):
    """Alert when a cluster collected live has not been heard for `after` (wall time): its
    health reads Unknown until data flows again, and the alert resolves then."""

    after: Duration = Duration("5m")
    severity: Severity = "page"


class Explanation(_Strict):
    """A reason in plain language: what it means, whose move it is, the first thing to check."""

    means: str
    move: Literal["user", "platform"]
    check: str


class ReceiverSpec(_Strict):
    name: str
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = None  # environment variable holding the signing secret
    severities: list[Severity] = ["page", "ticket"]
    send_resolved: bool = True


class BasicAuthSpec(_Strict):
    username: str
    password_env: str  # environment variable holding the password


class AlertmanagerSpec(_Strict):
    """An Alertmanager podslo pushes its alerts to (POST /api/v2/alerts), as Prometheus does."""

    url: str = Field(pattern=r"^https?://")
    bearer_token_env: str | None = None  # environment variable holding the token
    basic_auth: BasicAuthSpec | None = None
    timeout: Duration = Duration("10s")
    resend_every: Duration = Duration("1m")  # firing alerts are sent again this often

    @model_validator(mode="after")
    def _one_auth(self) -> AlertmanagerSpec:
        if self.bearer_token_env and self.basic_auth:
            raise ValueError("give bearer_token_env or basic_auth, not both")
        return self


class RetentionSpec(_Strict):
    """How long rows are kept (by the wall clock: insert or analysis time); whole parts past it
    are dropped. README (Storage) says why these defaults."""

    raw_objects: Duration = Duration("14d")
    events: Duration = Duration("14d")
    log_lines: Duration = Duration("7d")
    verdicts: Duration = Duration("90d")
    sli_minutes: Duration = Duration("400d")
    outboxes: Duration = Duration("14d")

    def days(self) -> dict[str, int]:
        return {kind: max(1, round(getattr(self, kind).s / 86400)) for kind in type(self).model_fields}


class ReportSpec(_Strict):
    """When `serve` mails the weekly report: after each ISO week, on `weekday` at `hour` in
    `timezone`, once per week (remembered in the store across restarts)."""

    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    hour: int = Field(8, ge=0, le=23)
    timezone: str = "UTC"
    recipients: list[str] = Field(min_length=1)
    smtp: str = Field(pattern=r"^[^:\s]+:\d+$")  # HOST:PORT
    security: Literal["none", "starttls", "ssl"] = "starttls"
    user: str | None = None
    password_env: str = "PODSLO_SMTP_PASSWORD"
    sender: str = "podslo@localhost"
    clusters: list[str] = []  # empty: every cluster the store holds

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value


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
    alerting: AlertingSpec = AlertingSpec()
    slos: list[Annotated[SloSpec, BeforeValidator(_from_openslo)]] = []  # or OpenSLO v1 SLO documents
    mass_deletion: MassDeletionSpec | None = MassDeletionSpec()
    data_missing: DataMissingSpec | None = DataMissingSpec()
    fleet: list[FleetSpec] = []
    retention: RetentionSpec = RetentionSpec()
    receivers: list[ReceiverSpec] = []
    alertmanagers: list[AlertmanagerSpec] = []
    board_url: str | None = None
    report: ReportSpec | None = None
    explanations: dict[str, Explanation] = {}

    @model_validator(mode="after")
    def _explained_codes_exist(self) -> RuleFile:
        unknown = sorted(set(self.explanations) - set(self.codes) - set(self.stuck_codes))
        if unknown:
            raise ValueError(f"explanations: {unknown[0]!r} is not a declared code")
        return self

    @model_validator(mode="after")
    def _names_unique(self) -> RuleFile:
        for what, names in (("slos", [s.name for s in self.slos]), ("receivers", [r.name for r in self.receivers])):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"{what}: names must be unique, {repeated[0]!r} repeats")
        return self

    @model_validator(mode="after")
    def _codes_declared(self) -> RuleFile:
        for i, rule in enumerate(self.reasons):
            if rule.code not in self.codes:
                raise ValueError(f"reasons[{i}].code {rule.code!r} is not declared under codes")
        for i, rule in enumerate(self.stuck):
            if rule.code not in self.stuck_codes:
                raise ValueError(f"stuck[{i}].code {rule.code!r} is not declared under stuck_codes")
        if "Unknown" not in self.codes or "Unknown" not in self.stuck_codes:
            raise ValueError("codes and stuck_codes must both declare Unknown (the fallback)")
        for i, fleet in enumerate(self.fleet):
            for side, owner in (("user", "user"), ("platform", "system")):
                code = getattr(fleet, side)
                if code not in self.codes or self.codes[code].attribution != owner:
                    raise ValueError(f"fleet[{i}].{side} {code!r} must be a declared code of attribution {owner}")
        return self


# -- compiled form ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Matcher:
    sources: frozenset[str]
    reason: re.Pattern | None
    message: re.Pattern | None
    fits_node: bool | None

    def takes(self, source: str, reason: str, fits_node: bool) -> bool:
        """Whether a signal of this source and reason may match (its message aside)."""
        return (
            source in self.sources
            and (self.reason is None or self.reason.fullmatch(reason) is not None)
            and (self.fits_node is None or self.fits_node == fits_node)
        )

    def says(self, message: str) -> bool:
        """Whether a signal's message matches (once `takes` has said it may)."""
        return self.message is None or self.message.search(message) is not None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # "code[i]": which rule and which of its matchers decided
    code: str
    attribution: str | None
    slow: bool
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class FleetRule:
    spec: FleetSpec
    message: re.Pattern


@dataclass(frozen=True)
class Rules:
    spec: RuleFile
    reasons: tuple[Rule, ...]  # flattened, in priority order
    stuck: tuple[Rule, ...]
    source: str
    fleet: tuple[FleetRule, ...] = ()

    @functools.cached_property
    def slow_reasons(self) -> tuple[Rule, ...]:
        """The rules whose code means 'too slow' rather than 'failed' (one tuple: matching
        caches per rule list)."""
        return tuple(r for r in self.reasons if r.slow)

    def explain(self, code: str | None) -> dict | None:
        """The plain-language text of a reason code (None when the rule file has none)."""
        found = self.spec.explanations.get(code or "")
        return None if found is None else found.model_dump()

    def alerting(self, slo: SloSpec) -> AlertingSpec:
        return slo.alerting or self.spec.alerting

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
                out.append(
                    Rule(
                        f"{rule.code}[{i}]",
                        rule.code,
                        code.attribution if code else None,
                        bool(code and code.slow),
                        Matcher(
                            sources,
                            re.compile(m.reason) if m.reason else None,
                            re.compile(m.message) if m.message else None,
                            m.fits_node,
                        ),
                    )
                )
        return tuple(out)

    fleet = tuple(FleetRule(f, re.compile(f.message)) for f in spec.fleet)
    return Rules(spec, flatten(spec.reasons, True), flatten(spec.stuck, False), source, fleet)


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
