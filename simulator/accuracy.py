"""How often podslo's verdicts agree with what the simulator injected."""

from __future__ import annotations

from collections import Counter


def compare(truth: list[dict], verdicts: list[dict]) -> dict:
    """Match by uid; a pod agrees when outcome, attribution, reason and stuck reason all do."""
    by_uid = {v["uid"]: v for v in verdicts}
    agree, missing, confusions = 0, 0, Counter()
    for want in truth:
        got = by_uid.get(want["uid"])
        if got is None:
            missing += 1
            continue
        deletion = got.get("deletion") or {}
        got_stuck = deletion.get("reason") if deletion.get("stuck") else None
        expected = (want["outcome"], want["attribution"], want["reason"], want["stuck"])
        seen = (got["outcome"], got["attribution"], got["reason"], got_stuck)
        if expected == seen:
            agree += 1
        else:
            confusions[(expected, seen)] += 1
    judged = len(truth) - missing
    return {
        "pods": len(truth),
        "missing": missing,
        "agree": agree,
        "accuracy": round(agree / judged, 4) if judged else None,
        "confusions": [{"truth": list(k[0]), "verdict": list(k[1]), "pods": n} for k, n in confusions.most_common()],
    }
