"""SLIs over time: events per cluster, SLI, namespace and minute in `sli_minutes`, so any
window is a sum (DESIGN.md's SLI table says what each one counts).

A pod counts in the minute its verdict was decided (delivered; its deadline passed; its
deletion was asked before the deadline), a deletion in the minute it was gone or became
stuck, an in-place upgrade in the minute the pod was Ready again or its deadline passed. When a verdict is decided again, every minute it counted in, before and after, is
rebuilt whole from the verdicts, so a changed verdict moves its count and nothing drifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from analyzer.lifecycle.facts import BAD_STATUS, NodeFacts, Slice
from analyzer.lifecycle.nodes import CONDITION_CODES
from podslo.schema import NODE_MINUTES, SLI_MINUTES
from podslo.store import Store
from slo_rules.loader import STARTUP_BUCKETS, SloSpec

COUNTED = ("success", "failed", "timeout")
MINUTE_S = 60
POD_SLIS = ("delivery", "deletion", "startup", "startup_stateful", "upgrade")
NODE_REBUILD_S = 2 * 3600  # node conditions change near now: an incremental pass rebuilds this much
PROBE_REBUILD_S = 3600  # a probe is written when it ends, within its timeout
NODE_HISTORY_S = 90 * 86400  # a full rebuild goes this far back at most


def delivery_success_rate(verdicts: list[dict]) -> tuple[int, int]:
    """(delivered, due): delivered on time / (all due - pods failed by the user).

    Pending and cancelled pods are not due; user-attributed failures are left out.
    """
    due = [v for v in verdicts if v["outcome"] in COUNTED and v["attribution"] != "user"]
    return sum(v["outcome"] == "success" for v in due), len(due)


@dataclass(frozen=True)
class Scope:
    """Which pods a set of SLI rows counts: '' all of them, or an SLO's label selector."""

    name: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def where(self) -> str:
        return " AND ".join([f"labels[{_quote(k)}] = {_quote(v)}" for k, v in self.labels] or ["1"])


def scopes(rules) -> list[Scope]:
    """Everything, and each pod SLO that selects pods by label."""
    return [Scope()] + [
        Scope(slo.name, tuple(sorted(slo.selector.labels.items())))
        for slo in rules.spec.slos
        if slo.selector.labels and slo.sli in POD_SLIS
    ]


def slo_scope(slo: SloSpec) -> str:
    """The `scope` of an SLO's SLI rows: its own name when it selects pods by label."""
    return slo.name if slo.selector.labels and slo.sli != "node_time" else ""


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_MINUTE = "toStartOfMinute(assumeNotNull({column}))"
_POD_PARTS = """
SELECT cluster, 'delivery' AS sli, {scope} AS scope, namespace, %(decided)s AS minute,
       multiIf(outcome = 'success', 'good', outcome = 'cancelled' OR attribution = 'user', 'excluded', 'bad') AS result,
       ifNull(attribution, '') AS attribution, ifNull(reason, '') AS reason, 0. AS le, 1. AS events
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND decided_at IS NOT NULL AND outcome != 'pending' AND {labels} AND /*minutes*/
UNION ALL
SELECT cluster, 'deletion', {scope}, namespace, %(gone)s AS minute, if(deletion_stuck = 1, 'bad', 'good'),
       if(deletion_stuck = 1, 'system', ''), ifNull(deletion_reason, ''), 0., 1.
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND deletion_decided_at IS NOT NULL AND {labels} AND /*minutes*/
UNION ALL
SELECT cluster, 'startup', {scope}, namespace, %(decided)s AS minute, 'observed', '', '',
       arrayFirst(b -> b >= assumeNotNull(startup_s), {buckets}), 1.
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND startup_s IS NOT NULL AND decided_at IS NOT NULL AND {labels} AND /*minutes*/
UNION ALL
SELECT cluster, 'startup', {scope}, namespace, %(decided)s AS minute, 'sum_ms', '', '', 0.,
       round(assumeNotNull(startup_s) * 1000)
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND startup_s IS NOT NULL AND decided_at IS NOT NULL AND {labels} AND /*minutes*/
UNION ALL
SELECT cluster, 'startup_stateful', {scope}, namespace, %(decided)s AS minute, 'observed', '', '',
       arrayFirst(b -> b >= assumeNotNull(startup_stateful_s), {buckets}), 1.
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND startup_stateful_s IS NOT NULL AND decided_at IS NOT NULL AND {labels}
  AND /*minutes*/
UNION ALL
SELECT cluster, 'upgrade', {scope}, namespace, %(upgraded)s AS minute,
       multiIf(upgrade_outcome = 'success', 'good', upgrade_attribution = 'user', 'excluded', 'bad'),
       ifNull(upgrade_attribution, ''), ifNull(upgrade_reason, ''), 0., 1.
FROM pod_verdicts FINAL
WHERE cluster = {{cluster:String}} AND upgrade_decided_at IS NOT NULL AND {labels} AND /*minutes*/
""" % {
    "decided": _MINUTE.format(column="decided_at"),
    "gone": _MINUTE.format(column="deletion_decided_at"),
    "upgraded": _MINUTE.format(column="upgrade_decided_at"),
}

_KEYS = "cluster, sli, scope, namespace, minute, result, attribution, reason, le"
_REBUILD = f"""
INSERT INTO sli_minutes ({", ".join(SLI_MINUTES.columns)})
SELECT {_KEYS}, sum(events), {{{{version:UInt64}}}}
FROM (
    /*parts*/
    UNION ALL
    SELECT {_KEYS}, 0. FROM sli_minutes FINAL
    WHERE cluster = {{{{cluster:String}}}} AND sli IN {{{{slis:Array(String)}}}} AND /*minutes*/
)
GROUP BY {_KEYS}"""

_OLD_MINUTES = """
SELECT DISTINCT toUnixTimestamp(toStartOfMinute(assumeNotNull(t))) FROM pod_verdicts FINAL
ARRAY JOIN [decided_at, deletion_decided_at, upgrade_decided_at] AS t
WHERE cluster = {cluster:String} AND t IS NOT NULL AND /*slice*/"""


def counted_minutes(store: Store, part: Slice) -> set[int]:
    """The minutes (epoch seconds) the stored verdicts of a slice's pods count in."""
    sql = _OLD_MINUTES.replace("/*slice*/", part.where())
    return {int(r[0]) for r in store.rows(sql, **part.params())}


_NEW_MINUTES = """
SELECT DISTINCT toUnixTimestamp(toStartOfMinute(arrayJoin([decided_at, deletion_decided_at, upgrade_decided_at]) AS at))
FROM pod_verdicts WHERE cluster = {cluster:String} AND version = {version:UInt64} AND at IS NOT NULL"""


def minutes_decided(store: Store, cluster: str, version: int) -> set[int]:
    """The minutes (epoch seconds) the verdicts written at `version` count in."""
    return {int(r[0]) for r in store.rows(_NEW_MINUTES, cluster=cluster, version=version)}


def rebuild_pod_minutes(
    store: Store, cluster: str, scopes: list[Scope], version: int, minutes: set[int] | None
) -> None:
    """Rewrite the pod SLIs' minutes (all of them when `minutes` is None) from the verdicts."""
    if minutes is not None and not minutes:
        return
    buckets = "[" + ", ".join("toFloat64('inf')" if b == float("inf") else repr(b) for b in STARTUP_BUCKETS) + "]"
    parts = "\nUNION ALL\n".join(
        _POD_PARTS.format(scope=_quote(s.name), labels=s.where(), buckets=buckets) for s in scopes
    )
    sql = _REBUILD.format().replace("/*parts*/", parts)
    where = "1" if minutes is None else "toUnixTimestamp(minute) IN {minutes:Array(UInt32)}"
    store.command(
        sql.replace("/*minutes*/", where),
        cluster=cluster,
        version=version,
        slis=list(POD_SLIS),
        **({} if minutes is None else {"minutes": sorted(minutes)}),
    )


# A failed probe's reason: its error's first words, else its outcome (timeout, ...).
PROBE_REASON = "if(error = '', outcome, substring(error, 1, 80))"
_PROBE_PART = """
SELECT cluster, 'probe' AS sli, '' AS scope, '' AS namespace, toStartOfMinute(started_at) AS minute,
       if(outcome = 'ok', 'good', 'bad') AS result, if(outcome = 'ok', '', 'system') AS attribution,
       if(outcome = 'ok', '', /*reason*/) AS reason, 0. AS le, 1. AS events
FROM probe_results WHERE cluster = {cluster:String} AND /*minutes*/""".replace("/*reason*/", PROBE_REASON)


def rebuild_probe_minutes(store: Store, cluster: str, version: int, since_s: int | None) -> None:
    """Rewrite the probe SLI from `since_s` (epoch seconds; all when None)."""
    sql = _REBUILD.format().replace("/*parts*/", _PROBE_PART)
    where = "1" if since_s is None else "minute >= toDateTime({since:UInt32})"
    store.command(
        sql.replace("/*minutes*/", where),
        cluster=cluster,
        version=version,
        slis=["probe"],
        **({} if since_s is None else {"since": since_s // MINUTE_S * MINUTE_S}),
    )


@dataclass
class NodeTime:
    """Node time per minute from `start_ms` to now: every node's alive milliseconds summed, and
    each node's milliseconds during which a condition said it could not deliver pods
    (NotReady, Unknown, pressure, network), with the conditions' codes."""

    minutes: np.ndarray  # epoch seconds of each minute
    alive: np.ndarray
    down: dict[str, np.ndarray]
    codes: dict[str, dict[str, np.ndarray]]  # node -> condition code -> its milliseconds per minute

    @classmethod
    def of(cls, nodes: dict[str, NodeFacts], start_ms: int, now_ms: int) -> NodeTime:
        first = start_ms // 60_000 * 60_000
        edges = np.arange(first, now_ms + 60_000, 60_000, dtype=np.int64)
        time = cls(edges[:-1] // 1000, np.zeros(max(len(edges) - 1, 0)), {}, {})
        if len(edges) < 2:
            return time
        for node in nodes.values():
            lo = max(node.first_seen, first)
            hi = min(node.deleted_at or now_ms, now_ms)
            if hi <= lo:
                continue
            time.alive += _covered(edges, lo, hi)
            spans = [(ctype, span) for ctype in BAD_STATUS for span in node.bad_spans(ctype, lo, hi)]
            if not spans:
                continue
            time.down[node.name] = sum(_covered(edges, a, b) for a, b in _union(span[:2] for _, span in spans))
            codes = time.codes[node.name] = {}
            for ctype, (a, b, condition) in spans:
                code = CONDITION_CODES[(ctype, condition[1])]
                codes[code] = codes.get(code, 0) + _covered(edges, a, b)
        return time

    def sli_rows(self, cluster: str, version: int) -> list:
        """The node-time SLI: node-seconds 'good' while a node could deliver pods, else 'bad'."""
        down = sum(self.down.values(), np.zeros(len(self.alive)))
        rows = []
        for minute, up_ms, down_ms in zip(self.minutes, self.alive - down, down):
            for result, value in (("good", up_ms), ("bad", down_ms)):
                rows.append(
                    SLI_MINUTES.Row(
                        cluster=cluster,
                        sli="node_time",
                        scope="",
                        namespace="",
                        minute=int(minute),
                        result=result,
                        attribution="system" if result == "bad" else "",
                        reason="",
                        le=0.0,
                        events=round(float(value) / 1000, 3),
                        version=version,
                    )
                )
        return rows

    def node_rows(self, cluster: str, version: int) -> list:
        """Each node's down seconds in the minutes it had any (the SLI's bad time, by node)."""
        rows = []
        for name, down in self.down.items():
            for i in np.flatnonzero(down):
                rows.append(
                    NODE_MINUTES.Row(
                        cluster=cluster,
                        node=name,
                        minute=int(self.minutes[i]),
                        down_s=round(float(down[i]) / 1000, 3),
                        reasons=sorted(code for code, ms in self.codes[name].items() if ms[i] > 0),
                        version=version,
                    )
                )
        return rows


# A node's down time stored before this round, in minutes this round rebuilt, that this round
# did not write again (its span was re-read shorter): zero, so the newest version says so.
_STALE_NODE_MINUTES = f"""
INSERT INTO node_minutes ({", ".join(NODE_MINUTES.columns)})
SELECT cluster, node, minute, 0., [], {{version:UInt64}} FROM node_minutes FINAL
WHERE cluster = {{cluster:String}} AND minute >= toDateTime({{since:UInt32}}) AND version < {{version:UInt64}}
  AND down_s > 0"""


def rebuild_node_minutes(
    store: Store, cluster: str, nodes: dict[str, NodeFacts], start_ms: int, now_ms: int, version: int
) -> None:
    """Rewrite the node-time SLI and the per-node down time from `start_ms` to now."""
    time = NodeTime.of(nodes, start_ms, now_ms)
    store.insert("sli_minutes", time.sli_rows(cluster, version))
    store.insert("node_minutes", time.node_rows(cluster, version))
    store.command(_STALE_NODE_MINUTES, cluster=cluster, since=start_ms // 60_000 * MINUTE_S, version=version)


def _covered(edges: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Milliseconds of [lo, hi) within each interval between consecutive edges."""
    reach = np.clip(edges, lo, hi) - lo
    return np.diff(reach).astype(float)


def _union(spans) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [tuple(s) for s in out]


def namespace_match(patterns: list[str]) -> list[str]:
    """Namespace globs (`team-*`) as the anchored regular expressions ClickHouse matches with."""
    return ["^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p) + "$" for p in patterns]
