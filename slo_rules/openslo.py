"""The rule file's SLOs as OpenSLO v1 documents (https://github.com/OpenSLO/OpenSLO)."""

from __future__ import annotations

import yaml

from slo_rules.loader import Rules, SloSpec

# What each SLI counts, as OpenSLO ratio metrics over podslo's sli_minutes table.
_QUERY = "SELECT sum(events) FROM sli_minutes FINAL WHERE sli = '{sli}' AND {which}"


def _ratio(slo: SloSpec) -> dict:
    if slo.threshold_s is not None:
        good, total = f"result = 'observed' AND le <= {slo.threshold_s:g}", "result = 'observed'"
    else:
        good, total = "result = 'good'", "result IN ('good', 'bad')"

    def metric(which: str) -> dict:
        return {"metricSource": {"type": "ClickHouse", "spec": {"query": _QUERY.format(sli=slo.sli, which=which)}}}

    return {"good": metric(good), "total": metric(total)}


def documents(rules: Rules) -> list[dict]:
    docs = []
    for slo in rules.spec.slos:
        labels = {"podslo.io/sli": [slo.sli]}
        for key, value in slo.selector.labels.items():
            labels[f"selector/{key}"] = [value]
        if slo.selector.namespaces:
            labels["selector/namespaces"] = list(slo.selector.namespaces)
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLI",
                "metadata": {"name": f"{slo.name}-sli", "displayName": f"{slo.sli} SLI of {slo.name}"},
                "spec": {"description": slo.description, "ratioMetric": {"counter": True, **_ratio(slo)}},
            }
        )
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": slo.name, "displayName": slo.name, "labels": labels},
                "spec": {
                    "description": slo.description,
                    "service": "kubernetes-pod-delivery",
                    "indicatorRef": f"{slo.name}-sli",
                    "budgetingMethod": "Occurrences",
                    "timeWindow": [{"duration": str(slo.window), "isRolling": True}],
                    "objectives": [{"displayName": slo.name, "target": slo.objective}],
                    "alertPolicies": [
                        f"{slo.name}-{pair.severity}-{pair.long}-{pair.short}" for pair in rules.alerting(slo).windows
                    ],
                },
            }
        )
        for pair in rules.alerting(slo).windows:
            docs.append(
                {
                    "apiVersion": "openslo/v1",
                    "kind": "AlertPolicy",
                    "metadata": {"name": f"{slo.name}-{pair.severity}-{pair.long}-{pair.short}"},
                    "spec": {
                        "description": f"both {pair.long} and {pair.short} burn over {pair.factor:g}x",
                        "alertWhenBreaching": True,
                        "conditions": [
                            {
                                "kind": "AlertCondition",
                                "metadata": {"name": f"burn-{pair.long}-{pair.short}"},
                                "spec": {
                                    "severity": pair.severity,
                                    "condition": {
                                        "kind": "burnrate",
                                        "op": "gte",
                                        "threshold": pair.factor,
                                        "lookbackWindow": str(pair.long),
                                        "alertAfter": str(pair.short),
                                    },
                                },
                            }
                        ],
                        "notificationTargets": [],
                    },
                }
            )
    return docs


def export_openslo(rules: Rules) -> str:
    return yaml.safe_dump_all(documents(rules), sort_keys=False)
