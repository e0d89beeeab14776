"""Write the golden cases: one folder per story, `input.jsonl` (contract 1, as kubectl
--watch --output-watch-events -o json would print it, one value per line),
`kubelet-NODE.log` where a story's kubelet logs something (klog lines, as `podslo
collect-logs` reads them) and `expected.json` (the verdict the story declares, never the
analyzer's output).

    python -m tests.golden.generate          # rewrite the files
    python -m tests.golden.generate --check  # exit 1 if a file differs from its story
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from podslo.timeutil import iso
from simulator.stories import DEFAULT_HORIZON_S, HORIZON_S, STORIES, Scene

HERE = Path(__file__).parent
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=timezone.utc)
# Node verdicts some stories must also produce.
NODE_TRUTH = {
    "node_not_ready": {"node-2": {"faulty": True, "needs_manual_repair": True, "reasons": ["NodeUnreachable"]},
                       "node-1": {"faulty": False, "needs_manual_repair": False, "reasons": []}},
    "stuck_node_lost": {"node-2": {"faulty": True, "needs_manual_repair": True, "reasons": ["NodeUnreachable"]}},
}


def render(name: str) -> tuple[str, dict, dict[str, str]]:
    scene = Scene(T0)
    pod_name = name.replace("_", "-") + "-7d9f8c6b5-x2kq9"
    pod, truth = STORIES[name](scene, pod_name, T0)
    scene.heartbeat(T0 + timedelta(seconds=HORIZON_S.get(name, DEFAULT_HORIZON_S)))
    lines = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in scene.rec.stream())
    expected = {"pod": pod.name, "outcome": truth.outcome, "attribution": truth.attribution, "reason": truth.reason}
    if truth.stuck or truth.gone_s is not None:
        expected["deletion"] = {"stuck": bool(truth.stuck), "reason": truth.stuck}
        if truth.gone_s is not None:
            expected["deletion"]["gone_at"] = iso(int(pod.at(truth.gone_s).timestamp()) * 1000)  # whole seconds, as the cluster says
    logs = {f"kubelet-{node}.log": "".join(lines) for node, lines in scene.logs.items()}
    return lines, {"pods": [expected], "nodes": NODE_TRUTH.get(name, {})}, logs


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in STORIES:
        lines, expected, logs = render(name)
        folder = HERE / name
        files = {folder / "input.jsonl": lines, folder / "expected.json": json.dumps(expected, indent=2) + "\n"}
        files.update({folder / log: text for log, text in logs.items()})
        for path, text in files.items():
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                folder.mkdir(exist_ok=True)
                path.write_text(text)
    if stale:
        print("golden files differ from their stories:\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
