"""Unknown failures mined into message templates (Drain, via drain3), so a new failure
mode shows up by name and by count instead of hiding in one 'Unknown' bucket."""

from __future__ import annotations

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from podslo.store import Store

_UNKNOWN_SQL = """
SELECT cluster, namespace, name, if(reason = 'Unknown', evidence, deletion_evidence) AS text,
       if(reason = 'Unknown', 'delivery', 'deletion') AS what
FROM pod_verdicts FINAL
WHERE (cluster = {cluster:String} OR {cluster:String} = '')
  AND (reason = 'Unknown' OR deletion_reason = 'Unknown')
  AND ifNull(decided_at, created_at) >= toDateTime64({since:Int64}, 3)
  AND ifNull(decided_at, created_at) < toDateTime64({until:Int64}, 3)
"""
_MASKS = [  # order matters: the most specific shapes first
    (r'"[^"]*"', "QUOTED"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "UID"),
    (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b", "TIME"),
    (r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b", "IP"),
    (r"\b[0-9a-f]{12,64}\b", "HEX"),
    (r"\b\d+(\.\d+)?(ns|us|µs|ms|s|m|h|Ki|Mi|Gi)?\b", "NUM"),
]


def _miner() -> TemplateMiner:
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in _MASKS]
    return TemplateMiner(config=config)


def unknown_patterns(
    store: Store, cluster: str | None = None, since: int | None = None, until: int | None = None
) -> list[dict]:
    """Templates of the evidence behind Unknown verdicts (decided in [since, until), unix
    seconds, when given), most frequent first."""
    miner = _miner()
    examples: dict[int, dict] = {}
    seen_in: dict[int, set[str]] = {}  # pattern -> the clusters it was seen in
    rows = store.rows(_UNKNOWN_SQL, cluster=cluster or "", since=since or 0, until=until or 2**32)
    for where, namespace, name, text, what in rows:
        result = miner.add_log_message(text or "(no evidence)")
        examples.setdefault(result["cluster_id"], {"what": what, "example_pod": f"{namespace}/{name}", "example": text})
        seen_in.setdefault(result["cluster_id"], set()).add(where)
    found = [
        {
            "pattern": c.get_template(),
            "count": c.size,
            "clusters": sorted(seen_in[c.cluster_id]),
            **examples[c.cluster_id],
        }
        for c in miner.drain.clusters
    ]
    return sorted(found, key=lambda item: (-item["count"], item["pattern"]))
