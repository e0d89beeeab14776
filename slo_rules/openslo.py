"""The rule file's SLOs as OpenSLO v1 documents (https://github.com/OpenSLO/OpenSLO), and
OpenSLO SLO documents read back as the rule file's SLOs.

Export: per SLO an SLI (a ratio of the Prometheus counters on /metrics, so another tool can
evaluate it), the SLO (referring to its SLI and alert policies by name), and an AlertPolicy
per burn-rate window pair; an AlertNotificationTarget per receiver and Alertmanager. v1's
burnrate condition has one lookback window and no zero `alertAfter`: each condition states
the long window and says in its description that podslo also needs the short one, and fires
at the first evaluation both hold.

Import: an SLO document in the rule file's `slos:` becomes an SLO of podslo's SLIs; which
SLI, the startup threshold and the pod selector are the `podslo.io/*` annotations the export
writes (the SLI may instead be the `podslo-sli` label)."""

from __future__ import annotations

import json
import re

import yaml

from slo_rules.loader import Rules, SloSpec, duration_s
from slo_rules.prometheus import events

API_VERSION = "openslo/v1"
SLI_ANNOTATION = "podslo.io/sli"
THRESHOLD_ANNOTATION = "podslo.io/threshold-s"
SELECTOR_ANNOTATION = "podslo.io/selector"
SLI_LABEL = "podslo-sli"
SERVICE = "kubernetes-pod-delivery"
_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def shorthand(seconds: float) -> str:
    """A duration in v1's shorthand (a whole number of minutes, hours or days, as SLO windows are said)."""
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{max(1, round(seconds / 60))}m"


def _name(text: str) -> str:
    """An OpenSLO name (lowercase letters, digits, '-' and '.')."""
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.") or "x"


def _metric(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _targets(rules: Rules) -> list[dict]:
    spec = rules.spec
    targets = [(f"receiver-{r.name}", f"webhook {r.url}", f"podslo webhook receiver {r.name}") for r in spec.receivers]
    targets += [
        (f"alertmanager-{i + 1}", f"alertmanager {a.url}", "Alertmanager") for i, a in enumerate(spec.alertmanagers)
    ]
    if not targets:
        targets = [("podslo-serve", "podslo serve", "the receivers podslo serve is given (--webhook, --alertmanager)")]
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "AlertNotificationTarget",
            "metadata": {"name": _name(name)},
            "spec": {"target": target, "description": description},
        }
        for name, target, description in targets
    ]


def _annotations(slo: SloSpec) -> dict[str, str]:
    out = {SLI_ANNOTATION: slo.sli}
    if slo.threshold_s is not None:
        out[THRESHOLD_ANNOTATION] = f"{slo.threshold_s:g}"
    if slo.selector.namespaces or slo.selector.labels:
        out[SELECTOR_ANNOTATION] = json.dumps(slo.selector.model_dump(), sort_keys=True)
    return out


def _budgeting(slo: SloSpec) -> dict:
    """Occurrences (good events / events), or for the good-minutes form Timeslices: a minute
    is good when the 5 minutes ending with it keep `percentile` of their events good."""
    objective = {"displayName": slo.name, "target": slo.objective}
    if slo.form == "good_minutes":
        objective.update(timeSliceTarget=slo.percentile, timeSliceWindow="5m")
        return {"budgetingMethod": "Timeslices", "objectives": [objective]}
    return {"budgetingMethod": "Occurrences", "objectives": [objective]}


def documents(rules: Rules) -> list[dict]:
    targets = _targets(rules)
    resolved = any(r.send_resolved for r in rules.spec.receivers) or not rules.spec.receivers
    docs = list(targets)
    for slo in rules.spec.slos:
        alerting = rules.alerting(slo)
        policies = []
        for pair in alerting.windows:
            name = _name(f"{slo.name}-{pair.severity}-{pair.long}-{pair.short}")
            policies.append(name)
            docs.append(
                {
                    "apiVersion": API_VERSION,
                    "kind": "AlertPolicy",
                    "metadata": {"name": name},
                    "spec": {
                        "description": (
                            f"podslo fires {pair.severity} when the burn rate over {pair.long} and over {pair.short} "
                            f"both exceed {pair.factor:g}x, on at least {alerting.min_events} events, at the first "
                            "evaluation both hold (v1's burnrate condition has one window: it states the long one)"
                        ),
                        "alertWhenNoData": False,
                        "alertWhenResolved": resolved,
                        "alertWhenBreaching": True,
                        "conditions": [
                            {
                                "kind": "AlertCondition",
                                "metadata": {"name": _name(f"burn-{pair.long}-{pair.short}")},
                                "spec": {
                                    "description": f"also the short window: burn over {pair.short} above "
                                    f"{pair.factor:g}x",
                                    "severity": pair.severity,
                                    "condition": {
                                        "kind": "burnrate",
                                        "op": "gt",
                                        "threshold": pair.factor,
                                        "lookbackWindow": shorthand(pair.long.s),
                                        "alertAfter": "1m",  # v1's shortest: podslo evaluates every round
                                    },
                                },
                            }
                        ],
                        "notificationTargets": [{"targetRef": t["metadata"]["name"]} for t in targets],
                    },
                }
            )
        docs.append(
            {
                "apiVersion": API_VERSION,
                "kind": "SLI",
                "metadata": {"name": f"{slo.name}-sli", "displayName": f"{slo.sli} SLI of {slo.name}"},
                "spec": {
                    "description": f"Events counted by podslo serve ({events(slo)} on /metrics).",
                    "ratioMetric": {
                        "counter": True,
                        "good": _metric(events(slo, "good")),
                        "total": _metric(events(slo)),
                    },
                },
            }
        )
        docs.append(
            {
                "apiVersion": API_VERSION,
                "kind": "SLO",
                "metadata": {
                    "name": slo.name,
                    "displayName": slo.name,
                    "labels": {SLI_LABEL: slo.sli},
                    "annotations": _annotations(slo),
                },
                "spec": {
                    "description": slo.description[:1050],
                    "service": SERVICE,
                    "indicatorRef": f"{slo.name}-sli",
                    "timeWindow": [{"duration": shorthand(slo.window.s), "isRolling": True}],
                    **_budgeting(slo),
                    "alertPolicies": [{"alertPolicyRef": p} for p in policies],
                },
            }
        )
    return docs


def export_openslo(rules: Rules) -> str:
    return yaml.safe_dump_all(documents(rules), sort_keys=False, width=200)


def is_openslo(item: object) -> bool:
    return isinstance(item, dict) and str(item.get("apiVersion", "")).startswith("openslo/")


def slo_from_openslo(doc: dict) -> dict:
    """An OpenSLO v1 SLO document as the rule file's SLO (a dict for SloSpec); ValueError
    naming what is missing or cannot be honoured."""
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "SLO":
        raise ValueError(f"only {API_VERSION} SLO documents can stand in slos:, not {doc.get('kind')!r}")
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    sli = annotations.get(SLI_ANNOTATION) or labels.get(SLI_LABEL)
    if isinstance(sli, list):
        sli = sli[0] if len(sli) == 1 else None
    if not sli:
        raise ValueError(
            f"OpenSLO SLO {meta.get('name')!r}: say which podslo SLI it counts "
            f"(annotation {SLI_ANNOTATION} or label {SLI_LABEL})"
        )
    method = spec.get("budgetingMethod", "Occurrences")
    if method not in ("Occurrences", "Timeslices"):
        raise ValueError(f"OpenSLO SLO: budgetingMethod {method!r} is neither Occurrences nor Timeslices")
    objectives = spec.get("objectives") or []
    if len(objectives) != 1 or "target" not in objectives[0]:
        raise ValueError("OpenSLO SLO: exactly one objective with a target")
    timeslices = {}
    if method == "Timeslices":  # podslo's good-minutes form: 5-minute slices judged every minute
        if str(objectives[0].get("timeSliceWindow", "5m")) != "5m":
            raise ValueError("OpenSLO SLO: podslo's time slices are 5 minutes (timeSliceWindow: 5m)")
        timeslices = {"form": "good_minutes", "percentile": objectives[0].get("timeSliceTarget", 0.99)}
    out = {
        "name": meta.get("name"),
        "sli": sli,
        "objective": objectives[0]["target"],
        "description": spec.get("description", ""),
        **timeslices,
    }
    windows = spec.get("timeWindow") or []
    if windows:
        if not windows[0].get("isRolling", False):
            raise ValueError("OpenSLO SLO: podslo keeps rolling windows; a calendar window cannot be honoured")
        out["window"] = windows[0]["duration"]
        duration_s(out["window"])  # the shorthand's M, Q and Y are refused here
    if THRESHOLD_ANNOTATION in annotations:
        out["threshold_s"] = float(annotations[THRESHOLD_ANNOTATION])
    if SELECTOR_ANNOTATION in annotations:
        try:
            out["selector"] = json.loads(annotations[SELECTOR_ANNOTATION])
        except ValueError as exc:
            raise ValueError(f"OpenSLO SLO: annotation {SELECTOR_ANNOTATION} is not JSON: {exc}") from None
    return out
