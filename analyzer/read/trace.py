"""`podslo trace POD`: one pod's story, from its raw rows and its verdict."""

from __future__ import annotations

from analyzer.read.verdicts import pod as pod_verdict
from podslo.formats import duration
from podslo.store import Store
from podslo.timeutil import iso

_SNAPSHOTS = """
SELECT DISTINCT toUnixTimestamp64Milli(seen_at) AS t, resource_version, event_type, phase, node, ready,
       toUnixTimestamp64Milli(deletion_at) AS deletion,
       arrayConcat(
         arrayMap(c -> concat(c.type, '=', c.status, if(c.reason = '', '', concat(' ', c.reason))), conditions),
         arrayMap(k -> concat(k.state, ' ', k.name, if(k.reason = '', '', concat(' ', k.reason)),
                              if(k.exit_code IS NULL, '', concat(' exit ', toString(k.exit_code)))),
                  arrayFilter(k -> k.last = 0, containers)),
         if(status_reason = '', [], [concat('status ', status_reason)]),
         arrayMap(s -> concat(s.1, ' ', s.2), signals)) AS sig
FROM raw_pods WHERE cluster = {cluster:String} AND uid = {uid:String}
ORDER BY rv, t
"""
_EVENTS = """
SELECT toUnixTimestamp64Milli(min(first_at)) AS t, toUnixTimestamp64Milli(max(last_at)) AS last,
       max(count) AS count, type, reason, message, source_component
FROM raw_events WHERE cluster = {cluster:String} AND object_uid = {uid:String}
GROUP BY uid, type, reason, message, source_component
ORDER BY t
"""


_LOGS = """
SELECT toUnixTimestamp64Milli(at) AS t, component, severity, node, message FROM raw_logs
WHERE cluster = {cluster:String} AND (pod_uid = {uid:String}
      OR (pod_uid = '' AND pod_namespace = {namespace:String} AND pod_name = {name:String}))
ORDER BY at LIMIT 1000
"""


def build_trace(store: Store, ref: str, cluster: str | None = None, rules=None) -> dict:
    """One pod's verdict and timeline; with `rules`, its reasons in plain language."""
    verdict = pod_verdict(store, ref, cluster)
    params = {"cluster": verdict["cluster"], "uid": verdict["uid"]}
    timeline = []
    previous = None
    for s in store.dicts(_SNAPSHOTS, **params):
        state = (s["phase"], s["node"], s["ready"], s["deletion"], tuple(s["sig"]), s["event_type"])
        if state == previous:
            continue
        previous = state
        text = f"{s['event_type'].lower()} phase={s['phase'] or '-'} node={s['node'] or '-'} ready={s['ready'] or '-'}"
        if s["deletion"]:
            text += f" deletionTimestamp={iso(s['deletion'])}"
        if s["sig"]:
            text += " [" + "; ".join(s["sig"]) + "]"
        timeline.append({"at": iso(s["t"]), "what": "status", "text": text})
    for e in store.dicts(_EVENTS, **params):
        repeat = f" (x{e['count']} until {iso(e['last'])})" if e["count"] > 1 else ""
        timeline.append(
            {
                "at": iso(e["t"]),
                "what": "event",
                "text": f"{e['type']} {e['reason']} from {e['source_component'] or '?'}: {e['message']}{repeat}",
            }
        )
    for line in store.dicts(_LOGS, **params, namespace=verdict["namespace"], name=verdict["name"]):
        timeline.append(
            {
                "at": iso(line["t"]),
                "what": "log",
                "text": f"{line['component']}@{line['node'] or '?'} {line['severity']}: {line['message']}",
            }
        )
    timeline.sort(key=lambda item: item["at"] or "")
    explained = {}
    if rules is not None:
        explained = {
            "explanation": rules.explain(verdict["reason"]),
            "deletion_explanation": rules.explain(
                (verdict.get("deletion") or {}).get("stuck") and verdict["deletion"]["reason"]
            ),
        }
    return {"verdict": verdict, "timeline": timeline, **explained}


def render_trace(trace: dict) -> str:
    v = trace["verdict"]
    lines = [
        f"pod {v['namespace']}/{v['name']} uid={v['uid']} cluster={v['cluster']}",
        f"  kind={v['kind']} created={v['created_at']} deadline={v['deadline_s']:g}s node={v['node'] or '-'}",
        f"  outcome={v['outcome']} attribution={v['attribution'] or '-'} reason={v['reason'] or '-'}"
        f" delivery={duration(v['delivery_s'], digits=3)}",
        f"  decided by rule {v['rule']}: {v['evidence']}" if v["rule"] else "  no rule needed",
        "  phases: " + "  ".join(f"{k[:-2]}={duration(x, digits=3)}" for k, x in v["phases"].items()),
    ]
    lines += _explained(trace.get("explanation"))
    if "deletion" in v:
        d = v["deletion"]
        lines.append(
            f"  deletion: requested={d['requested_at']} gone={d['gone_at'] or '-'} stuck={d['stuck']}"
            + (f" reason={d['reason']}: {d['evidence']}" if d["stuck"] else "")
        )
        lines += _explained(trace.get("deletion_explanation"))
    lines.append("timeline:")
    lines += [f"  {item['at']}  {item['what']:<6} {item['text']}" for item in trace["timeline"]]
    return "\n".join(lines)


def _explained(text: dict | None) -> list[str]:
    if not text:
        return []
    whose = "the workload's owner" if text["move"] == "user" else "the platform team"
    return [f"  what it means: {text['means']}", f"  whose move: {whose}; first check: {text['check']}"]
