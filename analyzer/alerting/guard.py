"""The mass-deletion guard: a namespace (or the whole cluster) losing many of its pods at
once, and who asked (from the audit log)."""

from __future__ import annotations

from analyzer.alerting.conditions import GUARD_ALERT, GUARD_SLO, Condition
from podslo.store import Store
from slo_rules import Rules

_DELETIONS = """
SELECT namespace,
       countIf(deletion_requested_at >= {since:DateTime64(3)} AND deletion_requested_at < {until:DateTime64(3)}) AS deleted,
       countIf(deletion_requested_at IS NULL OR deletion_requested_at >= {since:DateTime64(3)}) AS present
FROM pod_verdicts FINAL
WHERE cluster = {cluster:String} AND NOT startsWith(uid, 'event:') AND created_at < {until:DateTime64(3)}
GROUP BY namespace"""
_DELETERS = """
SELECT username, count() FROM raw_audit
WHERE cluster = {cluster:String} AND verb IN ('delete', 'deletecollection') AND resource = 'pods' AND subresource = ''
  AND stage = 'ResponseComplete' AND request_at >= {since:DateTime64(3)} AND request_at < {until:DateTime64(3)}
  AND ({namespace:String} = '' OR namespace = {namespace:String})
GROUP BY username ORDER BY count() DESC LIMIT 3"""


def guard_conditions(store: Store, rules: Rules, cluster: str, now: int, board_url: str | None) -> list[Condition]:
    """Namespaces (and the cluster, namespace '') where deletions within the guard's window
    reached its count, or its share of the pods there at some time in the window."""
    spec = rules.spec.mass_deletion
    if spec is None:
        return []
    since = now - int(spec.window.s * 1000)
    params = {"cluster": cluster, "since": since / 1000, "until": now / 1000}
    rows = store.rows(_DELETIONS, **params)
    rows += [("", sum(r[1] for r in rows), sum(r[2] for r in rows))]  # the whole cluster
    out = []
    for namespace, deleted, present in rows:
        share = deleted / max(present, deleted, 1)
        # a namespace by count or share; the whole cluster by share only: a busy cluster deletes
        # as many pods as it creates, so a fixed count over it would page on normal churn
        many = deleted >= spec.max_count and namespace != ""
        if many or (present >= spec.min_pods and share >= spec.max_share and deleted > 0):
            who = store.rows(_DELETERS, **params, namespace=namespace)
            asked = ", ".join(f"{user} ({n})" for user, n in who) or "not known (no audit events collected)"
            where = f"namespace {namespace}" if namespace else "the whole cluster"
            summary = (
                f"{deleted} pods deleted in {where} of cluster {cluster} within {spec.window} "
                f"({share:.0%} of the {present} there in that time)."
            )
            out.append(
                Condition(
                    GUARD_ALERT,
                    GUARD_SLO,
                    cluster,
                    spec.severity,
                    float(deleted),
                    {"summary": summary, "description": f"{summary} Who asked: {asked}.", "board_url": board_url or ""},
                    {"namespace": namespace or "*"},
                )
            )
    return out
