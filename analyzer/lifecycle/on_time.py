"""Pods delivered on time, decided in ClickHouse: INSERT ... SELECT, no row leaves the store.

Most pods of a healthy fleet are delivered within their deadline, and their verdict needs no
rule: outcome success, phase durations, startup latency, a deletion that went in time. Those
pods are decided here, in one statement per slice, from the same facts `facts.load_pods`
reads (analysis_facts); every other pod (late, failed, pending, stuck, changed in place, or anything this SQL
does not read exactly as the Python does) is left to `verdicts.decide`. Each expression below
mirrors a line of pods.py / verdicts.py: `test_on_time.py` checks that both paths write the
same rows, column for column, on the simulated streams and the golden cases.
"""

from __future__ import annotations

from analyzer.lifecycle.durations import NUMBER, PULLED, UNITS
from analyzer.lifecycle.facts import COMBINED, EVENTS_OF_PODS, POD_FIELDS, Slice
from analyzer.lifecycle.pods import JOB_OWNERS, WATCH_LAG_MAX_MS
from podslo.schema import POD_VERDICTS
from podslo.store import Store
from slo_rules import Rules

# The slice's pods' facts as facts.kept_facts keeps them, the fields read below, each as p_<name>
# (a bare column name as an alias would shadow the column in the expressions over it).
_UNREAD = {"phase", "cpu_m", "memory_b", "has_prestop", "last_grace_s", "finalizers", "claims", "stopped"}
_FACTS = f"""
SELECT {", ".join(f"{name} AS p_{name}" for name in (*POD_FIELDS, "image_sets") if name not in _UNREAD)}
FROM analysis_facts WHERE cluster = {{cluster:String}} AND version = {{version:UInt64}} AND /*slice*/"""

# durations.py's patterns (RE2 reads them as Python does): the Pulled message, a Go duration's part
_PULLED = PULLED.pattern
_PART = f"(?:{NUMBER})(?:{UNITS})"
_SECONDS = """arraySum(arrayMap(part -> toFloat64(regexpExtract(part, '^([0-9.]*)', 1)) * multiIf(
    endsWith(part, 'ns'), 1e-9, endsWith(part, 'us') OR endsWith(part, 'µs') OR endsWith(part, 'μs'), 1e-6,
    endsWith(part, 'ms'), 1e-3, endsWith(part, 's'), 1.0, endsWith(part, 'm'), 60.0, 3600.0), parts))"""
# per Pulled event: its seconds (NULL: not a duration the kubelet prints, as pulled_seconds)
_PULL_SECONDS = f"""if(empty(extractGroups(text, {{pulled:String}}) AS groups), NULL,
   if(notEmpty(extractAll(if(groups[3] != '', groups[3], groups[2]) AS duration, {{part:String}}) AS parts)
      AND arrayStringConcat(parts) = duration, {_SECONDS}, NULL))"""
# What _complete and phases read of the Events: the first of each reason, ...
_EVENT_TIMES = f"""
SELECT object_uid AS e_uid,
       minIfOrNull(toUnixTimestamp64Milli(first_at), reason = 'Scheduled') AS e_scheduled,
       minIfOrNull(toUnixTimestamp64Milli(first_at), reason = 'Started') AS e_started,
       minIfOrNull(toUnixTimestamp64Milli(first_at), reason IN ('Pulling', 'Pulled')) AS e_pulls,
       minIfOrNull(toUnixTimestamp64Milli(first_at), reason = 'Pulling') AS e_pulling,
       minIfOrNull(toUnixTimestamp64Milli(first_at), reason = 'Pulled') AS e_pulled,
       countIf(reason = 'Pulled') AS e_pulled_events
FROM raw_events PREWHERE {EVENTS_OF_PODS} GROUP BY object_uid"""
# ... and image_pull_seconds: the Pulled Events folded as EVENT_SQL folds them, their durations
_PULLS = f"""
SELECT object_uid AS d_uid, arraySort(groupArrayIf((first, seconds), seconds IS NOT NULL)) AS e_durations,
       max(position(text, 'already present') > 0) AS e_present
FROM (
  SELECT object_uid, text, first, {_PULL_SECONDS} AS seconds FROM (
    SELECT object_uid,
           if(startsWith(message, {{combined:String}}), substring(message, length({{combined:String}}) + 1), message) AS text,
           toUnixTimestamp64Milli(min(first_at)) AS first
    FROM raw_events PREWHERE {EVENTS_OF_PODS} AND reason = 'Pulled'
    GROUP BY object_uid, uid, message, type, source_component))
GROUP BY object_uid"""


def _rounded(x: str, digits: int = 3) -> str:
    return f"round({x}, {digits})"


def _span(later: str, earlier: str) -> str:
    return f"if({later} IS NULL OR {earlier} IS NULL, NULL, {_rounded(f'greatest({later} - {earlier}, 0) / 1000')})"


# Each a column of the step below it: the facts as _complete leaves them, then pods.py's values.
_COMPLETED = f"""
    p_scheduled_or_event AS scheduled,
    if(p_init_started IS NULL, coalesce(p_started, e_started), p_started) AS started,
    if(ifNull(e_pulled_events, 0) = 0, NULL,
       if(notEmpty(e_durations), arraySum(arrayMap(d -> assumeNotNull(d.2), e_durations)),
          if(e_pulling IS NOT NULL AND e_pulled IS NOT NULL AND NOT e_present,
             greatest(e_pulled - e_pulling, 0) / 1000, 0.0))) AS pull_s,
    if(p_ungated IS NOT NULL, greatest(p_created, p_ungated), p_created) AS due,
    if(p_owner_kind IN {tuple(sorted(JOB_OWNERS))} OR p_restart_policy != 'Always', 'job', 'service') AS kind,
    /*deadline*/ AS deadline_s,
    if(kind = 'service', p_ready, started) AS delivered,
    coalesce(p_sandbox_ready, e_pulls) AS sandbox,
    if(p_deletion_deadline IS NULL, NULL, p_deletion_deadline + toInt64({{slack_s:Float64}} * 1000)) AS deletion_limit,
    if(p_gone, greatest(p_gone_at, ifNull(p_deletion_requested, 0)), NULL) AS gone_at,
    if(p_watch IS NOT NULL AND p_run IS NOT NULL AND p_watch - p_run BETWEEN 0 AND {WATCH_LAG_MAX_MS},
       p_watch, p_run) AS watch,
    if(p_init_started IS NOT NULL AND p_initialized IS NOT NULL, (p_initialized - p_init_started) / 1000, 0.0)
      AS init_s,
    ifNull(pull_s, 0.0) + greatest(init_s, 0.0) AS excluded,
    {_span("started", "coalesce(sandbox, scheduled)")} AS container_start_raw"""
# pods.workload: a ReplicaSet's Deployment is its name without the pod template hash
_WORKLOAD = "'^(.+)-[a-z0-9]{5,10}$'"
# the pods decided here (delivered by the deadline, nothing decide/deletion/upgrade would look at)
_ON_TIME = """delivered IS NOT NULL AND delivered <= due + toInt64(deadline_s * 1000)
    AND (deletion_limit IS NULL OR ifNull(gone_at, {now:Int64}) <= deletion_limit)
    AND p_image_sets <= 1 AND position(p_owner_name, '\\n') = 0"""


def _values() -> dict[str, str]:
    """pod_verdicts column -> its value for a pod delivered on time (pod_verdict_row's)."""

    def excluded(span: str) -> str:
        return f"if({span} IS NULL, NULL, {_rounded(f'greatest({span} - excluded, 0.0)')})"

    ms = "fromUnixTimestamp64Milli"
    return {
        "cluster": "{cluster:String}",
        "uid": "p_uid",
        "namespace": "p_namespace",
        "name": "p_name",
        "kind": "kind",
        "created_at": f"{ms}(p_created)",
        "deadline_s": "deadline_s",
        "outcome": "'success'",
        "attribution": "NULL",
        "reason": "NULL",
        "evidence": "''",
        "rule": "''",
        "node": "p_node",
        "delivery_s": _rounded("greatest(delivered - due, 0) / 1000"),
        "scheduling_s": _span("scheduled", "due"),
        "sandbox_s": _span("sandbox", "scheduled"),
        "image_pull_s": f"if(pull_s IS NULL, NULL, {_rounded('pull_s', 9)})",
        "container_start_s": "if(container_start_raw IS NOT NULL AND ifNull(pull_s, 0) != 0, "
        f"{_rounded('greatest(container_start_raw - pull_s, 0.0)')}, container_start_raw)",
        "readiness_s": f"if(kind = 'service', {_span('p_ready', 'started')}, NULL)",
        "deletion_requested_at": f"if(deletion_limit IS NULL, NULL, {ms}(p_deletion_requested))",
        "deletion_gone_at": f"if(deletion_limit IS NULL, NULL, {ms}(gone_at))",
        "deletion_stuck": "if(deletion_limit IS NULL, NULL, toUInt8(0))",
        "deletion_reason": "NULL",
        "deletion_evidence": "''",
        "analyzed_at": f"{ms}({{version:Int64}})",
        "version": "{version:UInt64}",
        "decided_at": f"{ms}(delivered)",
        "deletion_decided_at": f"if(deletion_limit IS NULL, NULL, {ms}(gone_at))",
        "startup_s": f"if(NOT p_preempting AND p_stateless, {excluded(_span('watch', 'due'))}, NULL)",
        "labels": "p_labels",
        "upgrade_at": "NULL",
        "upgrade_outcome": "''",
        "upgrade_ready_s": "NULL",
        "upgrade_decided_at": "NULL",
        "upgrade_reason": "NULL",
        "upgrade_attribution": "NULL",
        "workload_kind": f"multiIf(p_owner_kind = 'ReplicaSet', if(match(p_owner_name, {_WORKLOAD}), 'Deployment', "
        "'ReplicaSet'), p_owner_kind != '', p_owner_kind, 'Pod')",
        "workload": f"multiIf(p_owner_kind = 'ReplicaSet', if(match(p_owner_name, {_WORKLOAD}), "
        f"regexpExtract(p_owner_name, {_WORKLOAD}, 1), p_owner_name), p_owner_kind != '', p_owner_name, p_name)",
        "startup_stateful_s": f"if(NOT p_preempting AND NOT p_stateless, {excluded(_span('watch', 'scheduled'))}, NULL)",
        "create_to_schedule_s": _span("scheduled", "due"),
        "schedule_to_run_s": _span("p_run", "scheduled"),
        "run_to_watch_s": _span("watch", "p_run"),
    }


_VALUES = _values()
# (ANY LEFT JOIN: the Events side has one row a pod, and ANY skips looking for more.)
assert tuple(_VALUES) == POD_VERDICTS.columns, "on_time.py must give every pod_verdicts column"
_INSERT = f"""
INSERT INTO pod_verdicts ({", ".join(_VALUES)})
SELECT {", ".join(_VALUES.values())} FROM (
  SELECT *, {_COMPLETED} FROM (
    SELECT *, coalesce(p_scheduled, e_scheduled) AS p_scheduled_or_event
    FROM ({_FACTS}) AS facts
    ANY LEFT JOIN ({_EVENT_TIMES}) AS times ON facts.p_uid = times.e_uid
    ANY LEFT JOIN ({_PULLS}) AS pulls ON facts.p_uid = pulls.d_uid))
WHERE {_ON_TIME}
SETTINGS join_use_nulls = 1, insert_distributed_sync = 1, optimize_on_insert = 0"""


def deadline_sql(rules: Rules) -> str | None:
    """rules.deadline_s as an SQL expression of namespace, labels and kind (None: an override's
    namespace pattern has a [class] LIKE cannot say; the Python decides every pod then)."""
    branches = []
    for override in rules.spec.deadlines.overrides:
        if "[" in (override.namespace or ""):
            return None
        test = ["1"]
        if override.namespace:
            test.append(f"p_namespace LIKE {_quote(_like(override.namespace))}")
        if override.kind:
            test.append(f"kind = {_quote(override.kind)}")
        for key, value in override.labels.items():
            test.append(f"mapContains(p_labels, {_quote(key)}) AND p_labels[{_quote(key)}] = {_quote(value)}")
        branches.append(f"{' AND '.join(test)}, toFloat64({float(override.deadline_s)!r})")
    default = f"toFloat64({float(rules.spec.deadlines.default_s)!r})"
    return f"multiIf({', '.join(branches)}, {default})" if branches else default


def _like(glob: str) -> str:
    """An fnmatch pattern without [classes] as a LIKE pattern."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def decides_in_sql(rules: Rules) -> bool:
    """Can these rules' deadlines be said in SQL? (If not, the Python decides every pod.)"""
    return deadline_sql(rules) is not None


def decide_on_time(store: Store, part: Slice, rules: Rules, now: int, version: int) -> None:
    """Write the verdicts of the slice's pods delivered on time, at `version` (their facts kept
    under it: facts.kept_facts)."""
    deadline = deadline_sql(rules)
    if deadline is None:
        raise ValueError("these rules' deadlines cannot be said in SQL (decides_in_sql)")
    sql = (
        _INSERT.replace("/*deadline*/", deadline)
        .replace("/*slice object_uid*/", part.where("object_uid"))
        .replace("/*slice*/", part.where())
    )
    store.command(
        sql,
        **part.params(),
        now=now,
        version=version,
        slack_s=float(rules.spec.deletion.slack_s),
        combined=COMBINED,
        pulled=_PULLED,
        part=_PART,
    )
