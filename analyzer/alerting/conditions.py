"""What should be firing now: multi-window burn-rate conditions on each SLO, with the
annotations a person reads (what burns, the top reasons, the first check)."""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer import read
from analyzer.slo.budget import SloStatus
from podslo.formats import duration
from podslo.store import Store
from slo_rules import Rules
from slo_rules.loader import SloSpec

SLO_ALERT = "ErrorBudgetBurn"
GUARD_ALERT = "MassPodDeletion"
GUARD_SLO = "mass-deletion"
DATA_ALERT = "DataMissing"
DATA_SLO = "data"


@dataclass
class Condition:
    """An alert whose condition holds now."""

    alertname: str
    slo: str
    cluster: str
    severity: str
    value: float
    annotations: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)  # labels beyond the four
    severity_label: str = ""  # the severity label's value, when the rule file names it otherwise

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": self.alertname,
            "slo": self.slo,
            "cluster": self.cluster,
            "severity": self.severity_label or self.severity,
            **self.extra,
        }

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


_FNV_OFFSET, _FNV_PRIME, _SEPARATOR = 14695981039346656037, 1099511628211, 0xFF


def fingerprint(labels: dict[str, str]) -> str:
    """Prometheus's label-set fingerprint (model.LabelSet.Fingerprint), which Alertmanager
    shows: FNV-1a 64 over the sorted names and values, each followed by the byte 0xff."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), _SEPARATOR):
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# -- SLO burn ------------------------------------------------------------------------------
def burn_conditions(
    store: Store, rules: Rules, status: SloStatus, board_url: str | None, firing: set[tuple[str, str]] = frozenset()
) -> list[Condition]:
    """The SLO's alerts whose pair of windows both burn above the factor (on enough events);
    for one already `firing` ((slo, severity)), above factor x resolve_below, so a burn
    wavering on the factor does not flap. A pair counts once the data covers its short window:
    before that, its long window's burn is only a few minutes' (a new install's first minutes
    would page or ticket from a 3-day burn measured over 4 minutes)."""
    slo = next(s for s in rules.spec.slos if s.name == status.slo)
    alerting = rules.alerting(slo)
    out: dict[str, Condition] = {}
    for pair in alerting.windows:
        long, short = str(pair.long), str(pair.short)
        burn_long, burn_short = status.burn.get(long), status.burn.get(short)
        if burn_long is None or burn_short is None or status.events[long] < alerting.min_events:
            continue
        if status.data_s is not None and status.data_s < pair.short.s:
            continue
        factor = pair.factor * (alerting.resolve_below if (slo.name, pair.severity) in firing else 1)
        if burn_long > factor and burn_short > factor and pair.severity not in out:
            out[pair.severity] = Condition(
                SLO_ALERT,
                slo.name,
                status.cluster,
                pair.severity,
                round(burn_short, 3),
                _burn_annotations(store, rules, slo, status, pair, board_url),
                extra={"sli": slo.sli},
            )
    return list(out.values())


def _budget_said(status: SloStatus) -> str:
    """The budget left, and how much of its window the data covers when not all of it."""
    covers = "" if status.data_s is None else f"; the data covers {duration(status.data_s)} of it"
    return f"budget left: {status.budget_left:.0%} of {status.window}{covers}"


def _over(status: SloStatus, window: str) -> str:
    """`the last 3d`, or what of it the data covers."""
    if status.covered_by_window.get(window, 1.0) >= 1.0 or status.data_s is None:
        return f"the last {window}"
    return f"the last {window} (the data covers {duration(status.data_s)} of it)"


def settled_annotations(status: SloStatus, rules: Rules, severity: str, board_url: str | None) -> dict[str, str]:
    """What a resolved burn alert says: the figures now, not those it fired with."""
    slo = next(s for s in rules.spec.slos if s.name == status.slo)
    pair = next((p for p in rules.alerting(slo).windows if p.severity == severity), None)
    if pair is None:
        return {}
    long, short = str(pair.long), str(pair.short)
    burns = {w: status.burn.get(w) for w in (long, short)}
    said = {w: "no events" if b is None else f"{b:.1f}x" for w, b in burns.items()}
    summary = (
        f"{status.slo} in cluster {status.cluster}: resolved; the error budget now burns {said[long]} over "
        f"{_over(status, long)} and {said[short]} over the last {short}, under the alert's {pair.factor:g}x "
        f"({_budget_said(status)})."
    )
    description = (
        f"Now: {status.current or 0:.2%} good over {status.window} against {status.objective:.2%}; "
        f"{status.events.get(long, 0):.0f} counted over the last {long}."
    )
    return {"summary": summary, "description": description, "board_url": board_url or ""}


def _burn_annotations(
    store: Store, rules: Rules, slo: SloSpec, status: SloStatus, pair, board_url: str | None
) -> dict[str, str]:
    long = str(pair.long)
    burn = status.burn[long]
    summary = (
        f"{status.slo} in cluster {status.cluster}: the error budget is burning {burn:.1f}x faster than "
        f"the objective of {status.objective:.2%} allows over {_over(status, long)} "
        f"(budget left: {status.budget_left:.0%} of {status.window})."
    )
    since = status.now - int(pair.long.s * 1000)
    reasons = read.top_reasons(store, slo, status.cluster, since, status.now)
    if status.indicator == "node_time":  # bad events are node-seconds: say how long, and which nodes
        listed = "; ".join(f"{r} {duration(n)} of node time (longest: {node})" for r, n, node in reasons)
        down = read.down_nodes(store, status.cluster, since, status.now)
        culprits = ", ".join(f"{node} {duration(s)} ({', '.join(codes)})" for node, s, codes in down)
        nodes = f" Nodes that could not take pods: {culprits}." if culprits else ""
    else:
        listed = "; ".join(f"{r} x{n} (e.g. {example})" for r, n, example in reasons)
        nodes = ""
    first = rules.explain(reasons[0][0]) if reasons else None
    advice = f" {reasons[0][0]}: {first['means']} First check: {first['check']}" if first else ""
    description = (
        f"Over {_over(status, long)}: {status.events[long]:.0f} counted, burn {burn:.1f}x (factor {pair.factor:g}), "
        f"short window {pair.short} burn {status.burn[str(pair.short)]:.1f}x. "
        f"Top reasons: {listed or 'no single reason stands out'}.{nodes} "
        f"Over {status.window}: {status.current or 0:.2%} good.{advice}"
    )
    return {"summary": summary, "description": description, "board_url": board_url or ""}
