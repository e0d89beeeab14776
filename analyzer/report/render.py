"""The weekly report as an e-mail: HTML with inline styles and tables (no scripts, no CSS
classes: what the common mail clients render), charts as PNG images (Altair, rendered by
vl-convert) referenced by Content-ID, and a plain-text twin."""

from __future__ import annotations

import html
import io
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import partial

import vl_convert
from PIL import Image

import charts
from analyzer import read
from analyzer.report.figures import Period
from analyzer.slo.evaluate import series
from podslo import formats
from podslo.names import printable
from podslo.store import Store
from slo_rules import Rules

CELL = "padding:4px 8px;border-bottom:1px solid #e3e3e3;text-align:left;font-size:13px"
HEAD = CELL + ";background:#f4f4f4;font-weight:600"
WHOSE = {"user": "the workload's owner", "platform": "the platform team", "system": "the platform team"}
HEALTH_COLOR = {"Healthy": "#1a7f37", "Warning": "#b35900", "Fatal": "#c62828", "Unknown": "#6e6e6e"}


pct = partial(formats.pct, missing="-")


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def slo_rows(section: dict) -> list[list[str]]:
    return [
        [
            s["slo"],
            pct(s["objective"]),
            pct(s["this"]["sli"]),
            pct(s["last"]["sli"]),
            "-" if s["budget_used"] is None else f"{s['budget_used']:.0%}",
            str(s["alerts_fired"]),
            s["health"],
        ]
        for s in section["slos"]
    ]


SLO_HEAD = ["SLO", "objective", "this week", "last week", "error budget used", "alerts fired", "health"]


def subject(report: dict) -> str:
    names = ", ".join(c["cluster"] for c in report["clusters"]) or "no cluster"
    return f"podslo weekly report {report['period']['label']}: {names}"


# -- charts ---------------------------------------------------------------------------------
def chart_images(store: Store, rules: Rules, report: dict, period: Period) -> dict[str, bytes]:
    """name -> PNG: each cluster's delivery success over the period against its objective, its
    failures by reason, and where a delivered pod's time went."""
    step = max(60, (period.end - period.start) // 28 // 60 * 60)
    slo = next((s for s in rules.spec.slos if s.sli == "delivery" and not s.selector.labels), None)
    images = {}
    for section in report["clusters"]:
        cluster = section["cluster"]
        if slo is not None:
            points = series(store, rules, slo, cluster, period.start + step, period.end, step)
            if any(p["step_counted"] for p in points):
                images[f"{cluster}-delivery"] = _png(
                    charts.sli_over_time(points, slo.objective).properties(
                        width=560,
                        title=f"{cluster}: delivery success rate per {step // 3600 or step // 60}"
                        f"{' h' if step >= 3600 else ' min'}",
                    )
                )
        reasons = read.reason_counts(store, cluster, period.start, period.end, step)
        if reasons:
            images[f"{cluster}-reasons"] = _png(charts.reasons_stacked(reasons, step, width=440))
        if section["delivery"]["delivered"]:
            images[f"{cluster}-phases"] = _png(
                charts.phase_bars(section["delivery"]["phases"]).properties(
                    width=560, title=f"{cluster}: where a delivered pod's time went"
                )
            )
    return images


def _png(chart) -> bytes:
    """The chart as a PNG of at most 128 colours: a tenth of the full-colour size, the same to the eye."""
    full = Image.open(io.BytesIO(vl_convert.vegalite_to_png(chart.to_json(), scale=1)))
    out = io.BytesIO()
    full.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


# -- HTML -----------------------------------------------------------------------------------
def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    cells = "".join(f'<th style="{HEAD}">{html.escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in row) + "</tr>" for row in rows)
    return f'<table cellspacing="0" style="border-collapse:collapse;margin:6px 0 14px"><tr>{cells}</tr>{body}</table>'


def _esc_rows(rows: list[list[str]]) -> list[list[str]]:
    return [[html.escape(str(c)) for c in row] for row in rows]


def _h(level: int, text: str) -> str:
    size = {1: 22, 2: 18, 3: 15}[level]
    return f'<h{level} style="font-size:{size}px;margin:18px 0 6px;color:#222">{html.escape(text)}</h{level}>'


def _p(text: str, style: str = "") -> str:
    return f'<p style="font-size:13px;color:#333;margin:4px 0;{style}">{text}</p>'


def _img(src: str | None) -> str:
    return "" if src is None else f'<img src="{src}" width="560" style="display:block;margin:6px 0" alt="chart">'


def render_html(report: dict, cids: dict[str, str]) -> str:
    """`cids`: chart name -> the image's src (cid:... in a mail, a data: URL in a file)."""
    parts = [
        _h(1, f"podslo weekly report, {report['period']['label']}"),
        _p(
            f"{html.escape(report['period']['from'])} to {html.escape(report['period']['to'])}, beside "
            f"{html.escape(report['previous']['label'])}"
        ),
    ]
    if note := coverage_note(report):
        parts.append(_p(f"<strong>{html.escape(note)}</strong>"))
    parts += [_h(2, "This week's actions"), _actions_html(report["actions"], report["coverage"]["empty"])]
    if len(report["clusters"]) > 1:
        fleet = report["fleet"]
        parts += [_h(2, "Fleet"), _table(SLO_HEAD, _esc_rows(slo_rows(fleet))), _p(_delivery_line(fleet["delivery"]))]
    for section in report["clusters"]:
        parts += _cluster_html(section, cids)
    body = "".join(parts)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>podslo weekly report</title></head>'
        '<body style="margin:0;padding:16px;background:#ffffff;font-family:Arial,Helvetica,sans-serif">'
        f'<div style="max-width:720px">{body}</div></body></html>'
    )


def coverage_note(report: dict) -> str:
    """What the period's data does not cover, said before any figure ('' when it covers it)."""
    c = report["coverage"]
    if c["empty"]:
        newest = f"the newest data is from {c['newest_data']} (week {c['newest_week']}: podslo report --week {c['newest_week']})"
        return f"No data in this period: nothing below is an all-clear; {newest if c['newest_data'] else 'the store holds none'}."
    if c["partial"]:
        return f"Partial period: the data covers {c['from']} to {c['to']} of it ({c['pods']:,} pods decided)."
    return ""


def _actions_html(items: list[dict], empty: bool = False) -> str:
    if empty:
        return _p("No actions can be drawn from a period without data.")
    if not items:
        return _p("Nothing needs doing: every SLO kept its budget and no node needs hands.")
    rows = [
        [
            html.escape(a["cluster"]),
            html.escape(WHOSE.get(a["move"], a["move"])),
            html.escape(a["what"]),
            html.escape(a["check"]),
        ]
        for a in items
    ]
    return _table(["cluster", "whose move", "what", "first check"], rows)


def _delivery_line(d: dict) -> str:
    return (
        f"Delivery: {d['pods']:,} pods decided, {d['delivered']:,} delivered on time, "
        f"{d['failed_user']:,} failed by users, {d['failed_system']:,} failed by the platform; "
        f"success rate {pct(d['success_rate'])}."
    )


def _cluster_html(c: dict, cids: dict[str, str]) -> list[str]:
    name = c["cluster"]
    color = HEALTH_COLOR.get(c["health"], "#222")
    d, last = c["delivery"], c["delivery_last"]
    out = [
        _h(2, f"Cluster {name}"),
        _p(f'Health now: <b style="color:{color}">{html.escape(c["health"])}</b>'),
        _h(3, "SLOs"),
        _table(SLO_HEAD, _esc_rows(slo_rows(c))),
        _h(3, "Delivery"),
        _p(_delivery_line(d)),
        _p(
            f"Last week: {last['pods']:,} decided, {last['failed_system']:,} failed by the platform, "
            f"success rate {pct(last['success_rate'])}."
        ),
        _p(
            "Delivery time of delivered pods: p50 {p50}, p90 {p90}, p99 {p99}.".format(
                p50=formats.duration(d["latency"]["p50_s"]),
                p90=formats.duration(d["latency"]["p90_s"]),
                p99=formats.duration(d["latency"]["p99_s"]),
            )
        ),
        _img(cids.get(f"{name}-delivery")),
        _table(
            ["platform's top reasons", "pods", "last week", "change", "example"],
            [
                [
                    html.escape(r["reason"]),
                    f"{r['pods']:,}",
                    f"{r['last']:,}",
                    signed(r["change"]),
                    (
                        f'<a href="{html.escape(r["example_url"])}" style="color:#1a5fb4">{html.escape(r["example"])}</a>'
                        if r["example_url"]
                        else html.escape(r["example"] or "-")
                    ),
                ]
                for r in c["top_reasons"]
            ],
        )
        or _p("The platform failed no pod this week."),
        _img(cids.get(f"{name}-reasons")),
        _table(
            ["phase", "p50", "p90"],
            [[p["phase"], formats.duration(p["p50_s"]), formats.duration(p["p90_s"])] for p in d["phases"]],
        ),
        _img(cids.get(f"{name}-phases")),
        _h(3, "Deletion and upgrades"),
        _p(f"Deletion success {pct(_sli(c, 'deletion'))}; in-place upgrade success {pct(_sli(c, 'upgrade'))}."),
        _table(
            ["left Terminating at the week's end", "pods", "oldest"],
            [[html.escape(t["reason"]), str(t["pods"]), formats.duration(t["oldest_s"])] for t in c["terminating"]],
        )
        or _p("No pod was left Terminating at the week's end."),
        _h(3, "Nodes"),
        _p(
            f"Availability {pct(_sli(c, 'node_time'))}; faulty-node ratio "
            f"{pct(None if _sli(c, 'node_time') is None else 1 - _sli(c, 'node_time'))}."
        ),
        _table(
            ["needs manual repair", "why", "evidence"],
            _esc_rows([[n["name"], ", ".join(n["reasons"]), n["evidence"] or "-"] for n in c["repair"]]),
        )
        or _p("No node needs hands."),
        _h(3, "Service and startup"),
        _p(
            f"Service online rate (probes) {pct(_sli(c, 'probe'))}. Pod startup latency (SIG-Scalability, "
            f"{c['startup']['pods']:,} pods): p50 {formats.duration(c['startup']['p50_s'])}, p90 {formats.duration(c['startup']['p90_s'])}, "
            f"p99 {formats.duration(c['startup']['p99_s'])}. Its phases (clusterloader2, p50 / p99): "
            + "; ".join(
                f"{name.replace('_', ' ')} {formats.duration(q['p50_s'])} / {formats.duration(q['p99_s'])}"
                for name, q in c["startup"]["phases"].items()
            )
            + "."
        ),
        _h(3, "New failure patterns"),
        _table(
            ["pods", "pattern", "example"],
            _esc_rows([[str(u["count"]), u["pattern"], u["example_pod"]] for u in c["new_unknowns"]]),
        )
        or _p("No new pattern among the Unknown failures."),
    ]
    return out


def _sli(section: dict, sli: str):
    """This week's SLI of the cluster's first SLO of that kind."""
    return next((s["this"]["sli"] for s in section["slos"] if s["sli"] == sli), None)


# -- text -----------------------------------------------------------------------------------
def render_text(report: dict) -> str:
    lines = [
        f"podslo weekly report, {report['period']['label']}",
        f"{report['period']['from']} to {report['period']['to']}, beside {report['previous']['label']}",
        "",
        *([coverage_note(report), ""] if coverage_note(report) else []),
        "This week's actions:",
    ]
    if report["coverage"]["empty"]:
        lines.append("  none can be drawn from a period without data")
    else:
        lines += [
            f"  - [{a['cluster']}] {a['what']}. Whose move: {WHOSE.get(a['move'], a['move'])}. First check: {a['check']}"
            for a in report["actions"]
        ] or ["  nothing: every SLO kept its budget and no node needs hands"]
    for c in report["clusters"]:
        d = c["delivery"]
        lines += ["", f"== Cluster {c['cluster']} (health now: {c['health']}) ==", "SLOs:"]
        lines += ["  " + " | ".join(row) for row in [SLO_HEAD] + slo_rows(c)]
        lines += [
            "",
            _delivery_line(d),
            f"Delivery time: p50 {formats.duration(d['latency']['p50_s'])}, p90 {formats.duration(d['latency']['p90_s'])}, "
            f"p99 {formats.duration(d['latency']['p99_s'])}",
            "The platform's top reasons (this week / last week):",
        ]
        lines += [
            f"  {r['reason']}: {r['pods']} / {r['last']} ({signed(r['change'])}), e.g. {r['example'] or '-'}"
            for r in c["top_reasons"]
        ] or ["  none"]
        lines += [
            f"Deletion success {pct(_sli(c, 'deletion'))}; upgrades {pct(_sli(c, 'upgrade'))}; "
            f"left Terminating: " + (", ".join(f"{t['pods']} {t['reason']}" for t in c["terminating"]) or "none"),
            f"Nodes: availability {pct(_sli(c, 'node_time'))}; needing repair: "
            + (", ".join(n["name"] for n in c["repair"]) or "none"),
            f"Service online rate {pct(_sli(c, 'probe'))}; startup p50/p90/p99 {formats.duration(c['startup']['p50_s'])} / "
            f"{formats.duration(c['startup']['p90_s'])} / {formats.duration(c['startup']['p99_s'])}",
            "New failure patterns: " + ("; ".join(u["pattern"] for u in c["new_unknowns"]) or "none"),
        ]
    # cluster text is data: terminal control characters are shown as escapes, never obeyed
    return printable("\n".join(lines)) + "\n"


# -- the message ----------------------------------------------------------------------------
def message(report: dict, images: dict[str, bytes], sender: str, recipients: list[str]) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (text/html and its images)."""
    cids = {name: make_msgid(domain="podslo")[1:-1] for name in images}
    msg = EmailMessage()
    msg["Subject"] = subject(report)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(render_text(report))
    msg.add_alternative(render_html(report, {name: f"cid:{cid}" for name, cid in cids.items()}), subtype="html")
    related = msg.get_payload()[1]
    for name, png in images.items():
        related.add_related(png, "image", "png", cid=f"<{cids[name]}>", filename=f"{name}.png")
    return msg
