"""Fleet context: the rule file's `fleet:` rules decide whose fault a failure is when its
message reads the same either way (a registry host that does not resolve, "cannot allocate all
claims", a ConfigMap "not found" that exists). The same failure (the text the rule's pattern
matched: the same host, the same ConfigMap name) in pods of many unrelated namespaces within a
few minutes is the platform's; in one workload's, the user's."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from analyzer.lifecycle.facts import Signal
from analyzer.lifecycle.pods import Decision
from podslo.store import Store
from slo_rules import Rule, Rules
from slo_rules.loader import FleetRule

MINUTE_MS = 60_000
_SEEN = """
SELECT regexpExtract(message, {pattern:String}, 0) AS failure, toUnixTimestamp(toStartOfMinute(last_at)) * 1000,
       groupUniqArray(object_namespace)
FROM raw_events
WHERE cluster = {cluster:String} AND object_kind = 'Pod' AND match(message, {pattern:String})
GROUP BY 1, 2"""


@dataclass
class FleetIndex:
    """Per fleet rule and failure (the matched text), the namespaces whose pods' Events showed
    it, by minute."""

    rules: Rules
    seen: dict[tuple[str, str], dict[int, set[str]]] = field(default_factory=dict)

    def namespaces(self, fleet: FleetRule, failure: str, at: int) -> set[str]:
        """The namespaces that showed this failure within the rule's window of `at`."""
        window = int(fleet.spec.window.s * 1000)
        out: set[str] = set()
        for minute, names in self.seen.get((fleet.spec.name, failure), {}).items():
            if at - window - MINUTE_MS < minute <= at + window:
                out |= names
        return out

    def judge(self, found: Decision | None, namespace: str) -> Decision | None:
        """The decision with the owner the fleet context gives it, and evidence saying why."""
        if found is None or found.rule is None or found.signal is None:
            return found
        for fleet in self.rules.fleet:
            spec = fleet.spec
            matched = fleet.message.search(found.signal.message)
            if found.rule.code not in (spec.user, spec.platform) or matched is None:
                continue
            seen = self.namespaces(fleet, matched.group(0), found.signal.at) | {namespace}
            widespread = len(seen) >= spec.min_namespaces
            code = spec.platform if widespread else spec.user
            listed = ", ".join(sorted(seen)[:5]) + (" ..." if len(seen) > 5 else "")
            why = (
                f"fleet {spec.name}: the same failure in {len(seen)} namespaces within {spec.window} ({listed}): "
                f"{'the platform' if widespread else 'only here: the user'}'s. "
            )
            rule = Rule(f"fleet:{spec.name}", code, self.rules.attribution(code), False, found.rule.matcher)
            signal = found.signal
            return Decision(rule, Signal(signal.source, signal.reason, why + signal.message, signal.at))
        return found


def load_fleet(store: Store, cluster: str, rules: Rules) -> FleetIndex:
    index = FleetIndex(rules)
    for fleet in rules.fleet:
        for failure, minute, names in store.rows(_SEEN, cluster=cluster, pattern=fleet.spec.message):
            index.seen.setdefault((fleet.spec.name, failure), defaultdict(set))[int(minute)].update(names)
    return index
