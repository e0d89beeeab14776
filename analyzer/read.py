"""Verdicts as contract 2 shapes them, for the CLI and the API alike."""

from __future__ import annotations

from podslo.errors import NotFound
from podslo.store import Store
from podslo.timeutil import iso

PHASES = ("scheduling_s", "sandbox_s", "image_pull_s", "container_start_s", "readiness_s")
_POD_SQL = """
SELECT cluster, namespace, name, uid, kind, toUnixTimestamp64Milli(created_at) AS created, deadline_s,
       outcome, attribution, reason, evidence, rule, node, delivery_s, /*phases*/,
       toUnixTimestamp64Milli(deletion_requested_at) AS del_req, toUnixTimestamp64Milli(deletion_gone_at) AS del_gone,
       deletion_stuck, deletion_reason, deletion_evidence
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '') /*extra*/
ORDER BY cluster, created_at, namespace, name
""".replace("/*phases*/", ", ".join(PHASES))
_NODE_SQL = """
SELECT cluster, name, availability, downtime_s, faulty, reasons, needs_manual_repair, evidence,
       toUnixTimestamp64Milli(window_start) AS ws, toUnixTimestamp64Milli(window_end) AS we
FROM node_verdicts FINAL
WHERE cluster = {cluster:String} OR {cluster:String} = ''
ORDER BY cluster, name
"""


def pods(store: Store, cluster: str | None = None, outcome: str | None = None) -> list[dict]:
    extra = "AND outcome = {outcome:String}" if outcome else ""
    rows = store.dicts(_POD_SQL.replace("/*extra*/", extra), cluster=cluster or "", outcome=outcome or "")
    return [_pod(r) for r in rows]


def pod(store: Store, ref: str, cluster: str | None = None) -> dict:
    """One verdict by uid, `name`, or `namespace/name` (the newest pod of that name)."""
    namespace, _, name = ref.rpartition("/")
    extra = "AND (uid = {ref:String} OR (name = {name:String} AND (namespace = {ns:String} OR {ns:String} = '')))"
    rows = store.dicts(_POD_SQL.replace("/*extra*/", extra), cluster=cluster or "", ref=ref, name=name, ns=namespace)
    if not rows:
        raise NotFound(f"no pod {ref!r}" + (f" in cluster {cluster!r}" if cluster else "") + " (did you run `podslo analyze`?)")
    return _pod(rows[-1])


def _pod(r: dict) -> dict:
    out = {
        "cluster": r["cluster"], "namespace": r["namespace"], "name": r["name"], "uid": r["uid"], "kind": r["kind"],
        "created_at": iso(r["created"]), "deadline_s": r["deadline_s"], "outcome": r["outcome"],
        "attribution": r["attribution"], "reason": r["reason"], "evidence": r["evidence"] or None,
        "rule": r["rule"] or None, "node": r["node"] or None, "delivery_s": r["delivery_s"],
        "phases": {p: r[p] for p in PHASES},
    }
    if r["del_req"] is not None or r["deletion_stuck"] is not None:
        out["deletion"] = {"requested_at": iso(r["del_req"]), "gone_at": iso(r["del_gone"]),
                           "stuck": bool(r["deletion_stuck"]), "reason": r["deletion_reason"],
                           "evidence": r["deletion_evidence"] or None}
    return out


def nodes(store: Store, cluster: str | None = None) -> list[dict]:
    return [{
        "cluster": r["cluster"], "name": r["name"], "availability": r["availability"],
        "downtime_s": r["downtime_s"], "faulty": bool(r["faulty"]), "reasons": list(r["reasons"]),
        "needs_manual_repair": bool(r["needs_manual_repair"]), "evidence": r["evidence"] or None,
        "window": {"start": iso(r["ws"]), "end": iso(r["we"])},
    } for r in store.dicts(_NODE_SQL, cluster=cluster or "")]
