"""What a person sees at a terminal: plain-text tables of pods, nodes, SLOs."""

from __future__ import annotations

from podslo import formats


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(headers: list[str], rows: list[list], widths: dict[int, int] | None = None) -> str:
    widths = widths or {}
    cells = [[_fmt(c) for c in row] for row in rows]
    for row in cells:
        for i, limit in widths.items():
            if len(row[i]) > limit:
                row[i] = row[i][: limit - 1] + "…"
    sizes = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(sizes[i]) for i, h in enumerate(headers))]
    lines += ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def pod_table(items: list[dict], with_cluster: bool = False) -> str:
    rows = []
    for p in items:
        deletion = p.get("deletion")
        gone = (
            "-"
            if not deletion
            else (
                f"STUCK {deletion['reason']}"
                if deletion["stuck"]
                else ("gone" if deletion["gone_at"] else "terminating")
            )
        )
        rows.append(
            ([p["cluster"]] if with_cluster else [])
            + [
                _minute(p["created_at"]),
                f"{p['namespace']}/{p['name']}",
                p["kind"],
                p["outcome"],
                p["attribution"],
                p["reason"],
                formats.duration(p["delivery_s"]),
                p["node"],
                gone,
                p["evidence"],
            ]
        )
    headers = ["CREATED (UTC)", "POD", "KIND", "OUTCOME", "FAULT", "REASON", "DELIVERY", "NODE", "DELETION", "EVIDENCE"]
    shift = 1 if with_cluster else 0
    widths = {1 + shift: 48, 7 + shift: 24, 9 + shift: 70}
    return table((["CLUSTER"] if with_cluster else []) + headers, rows, widths) + f"\n\n{_summary(items)}"


def _minute(iso_text: str | None) -> str:
    """An API time to the second, as `2026-03-02 00:05:07` (UTC)."""
    return "-" if not iso_text else iso_text[:19].replace("T", " ")


def _summary(items: list[dict]) -> str:
    counts: dict[str, int] = {}
    for p in items:
        counts[p["outcome"]] = counts.get(p["outcome"], 0) + 1
    return f"{len(items)} pods: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def node_table(items: list[dict]) -> str:
    rows = [
        [
            n["cluster"],
            f"{n['name']}",
            f"{n['availability'] * 100:.2f}%",
            formats.duration(n["downtime_s"]),
            "yes" if n["faulty"] else "no",
            "yes" if n["needs_manual_repair"] else "no",
            ",".join(n["reasons"]) or "-",
            formats.kubelet_check(n.get("kubelet_startup")),
            n["evidence"],
        ]
        for n in items
    ]
    headers = [
        "CLUSTER",
        "NODE",
        "AVAILABILITY",
        "DOWNTIME",
        "FAULTY",
        "REPAIR",
        "REASONS",
        "KUBELET STARTUP",
        "EVIDENCE",
    ]
    return table(headers, rows, {8: 80})


def reason_table(items: list[dict]) -> str:
    """Count of pods per (outcome, fault, reason), most frequent first."""
    counts: dict[tuple, int] = {}
    for p in items:
        deletion = p.get("deletion") or {}
        key = (p["outcome"], p["attribution"], p["reason"]) if p["reason"] else ("stuck", "-", deletion.get("reason"))
        counts[key] = counts.get(key, 0) + 1
    rows = [[n, *key] for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return table(["PODS", "OUTCOME", "FAULT", "REASON"], rows)


def slo_table(items: list[dict]) -> str:
    def pct(value):
        return "-" if value is None else f"{value:.2%}"

    rows = []
    for s in items:
        burns = " ".join(f"{w}:{b:.1f}x" if b is not None else f"{w}:-" for w, b in s["burn"].items())
        firing = ",".join(sev for sev, state in s["alerts"].items() if state == "firing") or "-"
        rows.append(
            [
                s["cluster"],
                s["slo"],
                pct(s["objective"]),
                pct(s["current"]),
                f"{s['total']:.0f}",
                pct(s["budget_left"]),
                "-" if not s["total"] else "all" if s["data_s"] is None else formats.duration(s["data_s"]),
                burns,
                firing,
                s["health"],
            ]
        )
    headers = ["CLUSTER", "SLO", "OBJECTIVE", "CURRENT", "COUNTED", "BUDGET_LEFT", "DATA COVERS", "BURN", "FIRING"]
    return table([*headers, "HEALTH"], rows)
