"""The rule file's SLOs for Prometheus-based tools, over the SLI event counters `podslo serve`
exposes on /metrics: Prometheus recording and alerting rules (the same multi-window,
multi-burn-rate alerts podslo evaluates itself), a Sloth `prometheus/v1` spec and Pyrra
`ServiceLevelObjective` objects."""

from __future__ import annotations

import yaml

from slo_rules.loader import Rules, SloSpec, duration_s

SLI_EVENTS = "podslo_sli_events_total"  # {cluster, slo, sli, result="good"|"bad"}
SLO_ALERT = "ErrorBudgetBurn"  # podslo's own alert name for a burning SLO
ERROR_RATIO = "podslo:sli_error_ratio:rate{window}"
EVENTS = "podslo:sli_events:increase{window}"


def events(slo: SloSpec, result: str | None = None) -> str:
    """The selector of an SLO's event counters (all results, or one)."""
    which = f',result="{result}"' if result else ""
    return f'{SLI_EVENTS}{{slo="{slo.name}"{which}}}'


def _windows(rules: Rules, slo: SloSpec) -> list[str]:
    pairs = rules.alerting(slo).windows
    return sorted({str(w) for p in pairs for w in (p.long, p.short)}, key=duration_s)


def _budget(slo: SloSpec) -> str:
    return repr(round(1 - slo.objective, 12))


def prometheus_rules(rules: Rules) -> dict:
    """A Prometheus rule file: per SLO, the error ratio and event count over every alert window
    (recording rules), and one alert per severity that fires when both windows of any of its
    pairs burn above the factor on at least `min_events` events, as podslo's own alerts do."""
    labels = rules.spec.alerting.severity_labels
    groups = []
    for slo in rules.spec.slos:
        alerting = rules.alerting(slo)
        records = []
        for window in _windows(rules, slo):
            records.append(
                {
                    "record": ERROR_RATIO.format(window=window),
                    "expr": f"sum by (cluster, slo, sli) (rate({events(slo, 'bad')}[{window}]))\n"
                    f"/\nsum by (cluster, slo, sli) (rate({events(slo)}[{window}]))",
                    "labels": {"slo": slo.name},
                }
            )
            records.append(
                {
                    "record": EVENTS.format(window=window),
                    "expr": f"sum by (cluster, slo, sli) (increase({events(slo)}[{window}]))",
                    "labels": {"slo": slo.name},
                }
            )
        alerts = []
        for severity in ("page", "ticket"):
            pairs = [p for p in alerting.windows if p.severity == severity]
            if not pairs:
                continue
            terms = [
                f'(\n  {ERROR_RATIO.format(window=p.long)}{{slo="{slo.name}"}} > ({p.factor!r} * {_budget(slo)})\n'
                f'  and {ERROR_RATIO.format(window=p.short)}{{slo="{slo.name}"}} > ({p.factor!r} * {_budget(slo)})\n'
                f'  and {EVENTS.format(window=p.long)}{{slo="{slo.name}"}} >= {alerting.min_events}\n)'
                for p in pairs
            ]
            alerts.append(
                {
                    "alert": SLO_ALERT,
                    "expr": "\nor\n".join(terms),
                    "keep_firing_for": str(alerting.keep_firing_for),
                    "labels": {"slo": slo.name, "severity": labels.get(severity, severity)},
                    "annotations": {
                        "summary": f"{slo.name} in cluster {{{{ $labels.cluster }}}}: the error budget is burning "
                        f"too fast (objective {slo.objective:.2%} over {slo.window})",
                        "description": slo.description
                        or f"{slo.sli} SLI: both windows of a pair burn above its factor.",
                    },
                }
            )
        groups.append({"name": f"podslo-slo-{slo.name}", "rules": records + alerts})
    return {"groups": groups}


def sloth_spec(rules: Rules) -> dict:
    """A Sloth `prometheus/v1` spec: one SLO per podslo SLO, events SLIs over the counters."""
    labels = rules.spec.alerting.severity_labels
    return {
        "version": "prometheus/v1",
        "service": "podslo",
        "labels": {"owner": "podslo"},
        "slos": [
            {
                "name": slo.name,
                "objective": round(slo.objective * 100, 10),
                "description": slo.description,
                "labels": {"sli": slo.sli},
                "sli": {
                    "events": {
                        "error_query": f"sum by (cluster) (rate({events(slo, 'bad')}[{{{{.window}}}}]))",
                        "total_query": f"sum by (cluster) (rate({events(slo)}[{{{{.window}}}}]))",
                    }
                },
                "alerting": {
                    "name": SLO_ALERT,
                    "labels": {"slo": slo.name},
                    "annotations": {"summary": f"{slo.name}: the error budget is burning too fast"},
                    "page_alert": {"labels": {"severity": labels.get("page", "page")}},
                    "ticket_alert": {"labels": {"severity": labels.get("ticket", "ticket")}},
                },
            }
            for slo in rules.spec.slos
        ],
    }


def pyrra_objects(rules: Rules, namespace: str = "monitoring") -> list[dict]:
    """Pyrra `ServiceLevelObjective` objects (pyrra.dev/v1alpha1), ratio indicators over the
    counters, grouped by cluster."""
    return [
        {
            "apiVersion": "pyrra.dev/v1alpha1",
            "kind": "ServiceLevelObjective",
            "metadata": {"name": slo.name, "namespace": namespace, "labels": {"podslo.io/sli": slo.sli}},
            "spec": {
                "target": f"{slo.objective * 100:g}",
                "window": str(slo.window),
                "description": slo.description,
                "indicator": {
                    "ratio": {
                        "errors": {"metric": events(slo, "bad")},
                        "total": {"metric": events(slo)},
                        "grouping": ["cluster"],
                    }
                },
                "alerting": {"name": SLO_ALERT},
            },
        }
        for slo in rules.spec.slos
    ]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as people write rule files."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def dump(documents: dict | list[dict]) -> str:
    """YAML: one document, or a multi-document stream for a list."""
    many = documents if isinstance(documents, list) else [documents]
    return yaml.dump_all(many, Dumper=_Dumper, sort_keys=False, width=200)
