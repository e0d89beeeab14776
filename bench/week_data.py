"""A week of a large fleet for the read-side benchmarks (`podslo bench api`, the report):
verdict rows made in ClickHouse itself (INSERT ... SELECT from numbers()), with the mix of
outcomes, reasons, namespaces, workloads and nodes of a busy cluster, then their SLI minutes
and roll-ups."""

from __future__ import annotations

import time

from analyzer.lifecycle import sli_minutes, verdict_rollups
from podslo.store import Store
from slo_rules import Rules

WEEK_S = 7 * 86400
SYSTEM_REASONS = [
    "SandboxCreateFailed",
    "ImagePullSlow",
    "KubeletNoProgress",
    "SchedulingDelay",
    "Evicted",
    "NodeNotReady",
    "Unschedulable",
]
USER_REASONS = ["ImagePullError", "AppCrash", "ContainerConfigError", "InvalidImage", "ImageNotFound"]
STUCK_REASONS = ["Finalizer", "VolumeDetach", "KubeletNotConfirming", "PreStopHang"]
NAMESPACES = ["shop", "search", "payments", "ml", "batch", "web", "data", "infra"]

_FILL = """
INSERT INTO pod_verdicts (cluster, uid, namespace, name, kind, created_at, deadline_s, outcome, attribution, reason,
    evidence, rule, node, delivery_s, scheduling_s, sandbox_s, image_pull_s, container_start_s, readiness_s,
    deletion_requested_at, deletion_gone_at, deletion_stuck, deletion_reason, deletion_evidence, analyzed_at, version,
    decided_at, deletion_decided_at, startup_s, labels, upgrade_outcome, workload_kind, workload)
SELECT cluster, uid, namespace, concat(workload, '-', lower(hex(number))) AS name,
       if(h % 10 = 0, 'job', 'service') AS kind, created, 60 AS deadline_s, outcome,
       if(outcome IN ('failed', 'timeout'), if(h % 5 < 2, 'user', 'system'), NULL) AS attribution,
       if(outcome IN ('failed', 'timeout'),
          if(h % 5 < 2, {user:Array(String)}[h % length({user:Array(String)}) + 1],
                        {system:Array(String)}[h % length({system:Array(String)}) + 1]), NULL) AS reason,
       if(reason IS NULL, '', concat('event ', assumeNotNull(reason), ' on ', node)) AS evidence,
       if(reason IS NULL, '', concat(assumeNotNull(reason), '[0]')) AS rule, node,
       if(outcome = 'success', delivery, NULL) AS delivery_s,
       if(outcome = 'success', delivery * 0.05, NULL), if(outcome = 'success', delivery * 0.1, NULL),
       if(outcome = 'success', delivery * 0.45, NULL), if(outcome = 'success', delivery * 0.1, NULL),
       if(outcome = 'success', delivery * 0.3, NULL),
       if(deleted, created + toIntervalSecond(600 + h % 3000), NULL) AS del_at,
       if(deleted AND NOT stuck, del_at + toIntervalSecond(h % 40), NULL),
       if(deleted, toUInt8(stuck), NULL), if(stuck, {stuck:Array(String)}[h % length({stuck:Array(String)}) + 1], NULL),
       '', now64(3), 1,
       created + toIntervalMillisecond(toUInt64(if(outcome = 'success', delivery, 60) * 1000)) AS decided,
       if(deleted, del_at + toIntervalSecond(60), NULL),
       if(outcome = 'success', delivery * 0.55, NULL), map('app', workload), '',
       if(kind = 'job', 'Job', 'Deployment'), workload
FROM (
    SELECT number, {cluster:String} AS cluster,
           concat({cluster:String}, '-', toString({seed:UInt64}), '-', toString(number)) AS uid,
           cityHash64(number, {seed:UInt64}) AS h,
           {namespaces:Array(String)}[h % length({namespaces:Array(String)}) + 1] AS namespace,
           concat('app-', toString(intDiv(h, 7) % 400)) AS workload,
           concat('node-', toString(intDiv(h, 13) % {nodes:UInt32})) AS node,
           toDateTime64({end:Int64} - {week:Int64} + number * {week:Int64} / {pods:UInt64}, 3) AS created,
           multiIf(intDiv(h, 17) % 1000 < 955, 'success', intDiv(h, 17) % 1000 < 978, 'failed',
                   intDiv(h, 17) % 1000 < 990, 'timeout', 'cancelled') AS outcome,
           round(1 + 25 * pow(intDiv(h, 19) % 1000 / 1000, 3), 3) AS delivery,
           intDiv(h, 23) % 10 < 3 AS deleted, deleted AND intDiv(h, 29) % 1000 < 3 AS stuck
    FROM numbers({pods:UInt64})
)"""


def fill_week(
    store: Store, rules: Rules, cluster: str, pods: int, end_s: int, nodes: int = 5000, seed: int = 1
) -> dict:
    """`pods` verdicts created evenly over the week before `end_s`, and their SLI minutes."""
    started = time.perf_counter()
    store.command(
        _FILL,
        cluster=cluster,
        pods=pods,
        end=end_s,
        week=WEEK_S,
        nodes=nodes,
        seed=seed,
        namespaces=NAMESPACES,
        system=SYSTEM_REASONS,
        user=USER_REASONS,
        stuck=STUCK_REASONS,
    )
    fill_s = time.perf_counter() - started
    started = time.perf_counter()
    version = time.time_ns() // 1_000_000
    sli_minutes.rebuild_pod_minutes(store, cluster, sli_minutes.scopes(rules), version, None)
    sli_rebuild_s = time.perf_counter() - started
    started = time.perf_counter()
    verdict_rollups.rebuild(store, cluster, version, None)
    return {
        "fill_s": round(fill_s, 2),
        "sli_rebuild_s": round(sli_rebuild_s, 2),
        "rollup_rebuild_s": round(time.perf_counter() - started, 2),
    }
