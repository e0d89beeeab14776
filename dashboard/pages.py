"""The board's pages: each reads the API and shows one question's answer."""

from __future__ import annotations

import re
import string
from urllib.parse import quote

import pandas as pd
import streamlit as st

import charts
from dashboard.client import Api, epoch
from podslo.formats import duration, kubelet_check, pct
from podslo.timeutil import iso

RANGES = {"last hour": 3600, "last 6 hours": 6 * 3600, "last day": 86400, "last week": 7 * 86400}
POINTS = 60  # a chart's steps over the chosen range
HEALTH_COLORS = {"Healthy": "green", "Warning": "orange", "Fatal": "red", "Unknown": "gray"}


# -- formatting ---------------------------------------------------------------------------
def when(iso_text: str | None) -> str:
    """An API time for a person: to the minute, in UTC."""
    return "-" if not iso_text else iso_text[:16].replace("T", " ") + " UTC"


def when_s(seconds: int | None) -> str:
    """Unix seconds for a person, as `when`."""
    return when(iso(None if seconds is None else seconds * 1000))


def covers(slo: dict) -> str:
    """` (data: 13.0 min of it)` while the data does not cover the SLO's window."""
    return "" if slo["data_s"] is None else f" (data: {duration(slo['data_s'])} of it)"


def natural_key(text: str) -> tuple:
    """`node-10` after `node-2`: digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


_ESCAPES = str.maketrans({c: "\\" + c for c in string.punctuation} | {"\n": " ", "\r": " "})


# Where GFM starts a literal autolink (a transform on the parsed text, so escapes do not stop
# it): an invisible zero-width space after it leaves no link to make.
_AUTOLINK = re.compile(r"(://|www\.|@)", re.IGNORECASE)


def plain(text: object) -> str:
    """Text from a cluster (or anyone) for a Markdown element, shown as the characters it is:
    every ASCII punctuation character escaped, so no link, image, emphasis, HTML, KaTeX or
    Streamlit directive can come out of it (CommonMark lets any of them be escaped), and URLs
    broken with a zero-width space so none is made a link."""
    return _AUTOLINK.sub("\\1\u200b", str(text)).translate(_ESCAPES)


class Markdown(str):
    """Markdown the board made itself (a link to a trace page): a table cell left as it is."""


def pod_link(pod: dict) -> Markdown:
    """A markdown link to the pod's trace page (every pod name on the board is one)."""
    target = f"trace?cluster={quote(pod['cluster'])}&uid={quote(pod['uid'])}"
    return Markdown(f"[{plain(pod['namespace'] + '/' + pod['name'])}]({target})")


def markdown_table(rows: list[dict]) -> str:
    """A small table as markdown, so its links are links and its text is in the page; every
    cell but the board's own links is plain text."""
    if not rows:
        return ""
    head = list(rows[0])
    cell = lambda v: "-" if v is None else v if isinstance(v, Markdown) else plain(v)
    lines = ["| " + " | ".join(map(plain, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(r[k]) for k in head) + " |" for r in rows]
    return "\n".join(lines)


# -- shared context -----------------------------------------------------------------------
class Context:
    """What every page needs: the API, the chosen cluster, the cluster's 'now' and the range."""

    def __init__(self, api: Api, clusters: list[dict], cluster: str | None, range_s: int):
        self.api, self.clusters, self.cluster, self.range_s = api, clusters, cluster, range_s
        nows = [epoch(c["last_data_at"]) for c in clusters if cluster in (None, c["name"]) and c["last_data_at"]]
        self.now = max(nows, default=0) + 1
        self.since = self.now - range_s
        self.step = max(60, range_s // POINTS // 60 * 60)

    def names(self) -> list[str]:
        return [self.cluster] if self.cluster else [c["name"] for c in self.clusters]

    def series(self, slo: str, cluster: str, since: int | None = None, step: int | None = None) -> list[dict]:
        """A chart's points: whole steps only, ending before the newest minute (still settling:
        a pod's failure is decided at its deadline, its success when it happens)."""
        step = step or self.step
        first, last = self.chart_points(since, step)
        return self.api.get(f"/slos/{quote(slo)}/series", cluster=cluster, to=last, **{"from": first}, step=step)

    def chart_points(self, since: int | None = None, step: int | None = None) -> tuple[int, int]:
        """A chart's first and last point: whole steps back from the last settled minute. A
        point stands for the step before it, so the chart covers [first - step, last)."""
        step = step or self.step
        settled = (self.now - 60) // 60 * 60
        return settled - ((settled - (since or self.since)) // step) * step, settled


def empty(why: str) -> None:
    st.info(why, icon=":material/info:")


# -- pages --------------------------------------------------------------------------------
SEVERITY_ORDER = {"page": 0, "ticket": 1}


def overview(ctx: Context) -> None:
    """Four answers first: is the platform healthy, what is failing and since when, whose
    fault, what to do first; then each SLO."""
    st.title("Overview")
    slos = ctx.api.get("/slos", cluster=ctx.cluster)
    firing = sorted(
        ctx.api.get("/alerts", cluster=ctx.cluster, state="firing"),
        key=lambda a: (SEVERITY_ORDER.get(a["severity"], 2), a["starts_at"]),
    )
    for cluster in ctx.names():
        row = next(c for c in ctx.clusters if c["name"] == cluster)
        st.subheader(f"{plain(cluster)}: :{HEALTH_COLORS[row['health']]}[{row['health']}]")
        st.caption(
            f"newest data {when(row['last_data_at'])} · {row['pods_seen']:,} pods seen · "
            f"{sum(a['cluster'] == cluster for a in firing)} alert(s) firing"
        )
    _what_is_failing(firing)
    d = ctx.api.get("/delivery", cluster=ctx.cluster, since=ctx.since, until=ctx.now)
    _whose_fault(ctx, d)
    _what_to_do_first(d["platform_reasons"])
    st.subheader("SLOs")
    for cluster in ctx.names():
        mine = [s for s in slos if s["cluster"] == cluster]
        if not mine:
            empty("No SLO has data for this cluster yet: verdicts appear a few seconds after the first pods.")
        for start in range(0, len(mine), 3):
            for column, slo in zip(st.columns(3), mine[start : start + 3]):
                _slo_tile(column, slo, ctx.series(slo["slo"], cluster))
    st.subheader("Delivery success rate, the week")
    for cluster in ctx.names():
        points = ctx.series("pod-delivery", cluster, since=ctx.now - 7 * 86400, step=3600)
        objective = next((s["objective"] for s in slos if s["slo"] == "pod-delivery" and s["cluster"] == cluster), None)
        if objective is None or not any(p["step_counted"] for p in points):
            empty(f"{plain(cluster)}: no pod's delivery was decided this week.")
            continue
        st.altair_chart(
            charts.sli_over_time(points, objective).properties(title=f"{cluster}, hourly"), use_container_width=True
        )


def _what_is_failing(firing: list[dict]) -> None:
    """The firing alerts, pages first, each with since when and its description."""
    st.subheader("What is failing, since when")
    if not firing:
        empty("Nothing: no alert is firing (every SLO burns its budget slower than its alert thresholds).")
        return
    for a in firing:
        color = "red" if a["severity"] == "page" else "orange"
        st.container(border=True).markdown(
            f":{color}-background[**{plain(a['severity'])}**] since {when(a['starts_at'])}: "
            f"{plain(a['annotations'].get('summary', ''))}  \n" + plain(a["annotations"].get("description", ""))
        )


def _whose_fault(ctx: Context, d: dict) -> None:
    st.subheader(f"Whose fault ({_range_name(ctx)})")
    cols = st.columns(3)
    cols[0].metric("pods the platform failed", f"{d['failed_system']:,}")
    cols[1].metric("pods their users' own faults failed", f"{d['failed_user']:,}")
    cols[2].metric("delivery success rate", pct(d["success_rate"]), help="delivered / (all due - failed by users)")


def _what_to_do_first(reasons: list[dict]) -> None:
    st.subheader("What to do first")
    if not reasons:
        empty("The platform failed no pod in this range: nothing to fix on the platform's side.")
        return
    st.markdown(
        markdown_table(
            [
                {
                    "reason": r["reason"],
                    "pods": r["pods"],
                    "from": when_s(r["first"]),
                    "to": when_s(r["last"]),
                    "what it means": r["means"] or "-",
                    "first check": r["check"] or "-",
                }
                for r in reasons
            ]
        )
    )


def _slo_tile(column, slo: dict, points: list[dict]) -> None:
    """Objective, current SLI, budget left and burn; its trend over the range as a sparkline."""
    trend = [round(100 * p["step_sli"], 2) for p in points if p["step_sli"] is not None]
    with column.container(border=True):
        st.metric(
            plain(f"{slo['slo']} · {slo['cluster']}"),
            pct(slo["current"]),
            delta="no events counted yet"
            if slo["budget_left"] is None
            else f"{100 * slo['budget_left']:.1f} % budget left",
            delta_arrow="off",
            chart_data=trend or None,
            chart_type="area",
        )
        firing = [sev for sev, state in slo["alerts"].items() if state == "firing"]
        burn_1h = slo["burn"].get("1h")
        partial_1h = slo["covered_by_window"].get("1h", 1.0) < 1 and slo["data_s"] is not None
        st.caption(
            f"objective {pct(slo['objective'])} over {slo['window']}{covers(slo)} · burn 1h {burn(burn_1h)}"
            + (f" (over {duration(slo['data_s'])})" if partial_1h else "")
            + " · "
            + (f"**{', '.join(firing)} firing**" if firing else "no alert")
            + f" · [details](slo?slo={quote(slo['slo'])}&cluster={quote(slo['cluster'])})"
        )


def _alert_table(alerts: list[dict], why_empty: str) -> None:
    if not alerts:
        empty(why_empty)
        return
    st.markdown(
        markdown_table(
            [
                {
                    "cluster": a["cluster"],
                    "severity": a["severity"],
                    "SLO": a["slo"],
                    "state": a["status"],
                    "since": when(a["starts_at"]),
                    "until": when(a["ends_at"]),
                    "summary": a["annotations"].get("summary", ""),
                }
                for a in alerts
            ]
        )
    )


def slo(ctx: Context) -> None:
    """One SLO, as Pyrra and Grafana SLO users expect: its budget burning down over its window,
    each alert window pair with its burn and state, the events behind the figures, and the
    reasons that spent the budget."""
    st.title("SLO")
    statuses = ctx.api.get("/slos", cluster=ctx.cluster)
    if not statuses:
        empty("No SLO has data yet.")
        return
    params = st.query_params
    names = list(dict.fromkeys(s["slo"] for s in statuses))
    clusters = list(dict.fromkeys(s["cluster"] for s in statuses))
    left, right = st.columns(2)
    name = left.selectbox("SLO", names, index=names.index(params["slo"]) if params.get("slo") in names else 0)
    wanted = params.get("cluster")
    cluster = right.selectbox("cluster", clusters, index=clusters.index(wanted) if wanted in clusters else 0)
    d = ctx.api.get(f"/slos/{quote(name)}", cluster=cluster)
    st.caption(plain(d["description"] or d["sli"]) + (f" · selector {plain(d['selector'])}" if _selects(d) else ""))
    cols = st.columns(4)
    cols[0].metric("objective", pct(d["objective"]), help=f"over a rolling {d['window']}")
    cols[1].metric(f"SLI over {d['window']}", pct(d["current"]))
    cols[2].metric("error budget left", "no data" if d["budget_left"] is None else pct(d["budget_left"]))
    cols[3].metric("health", d["health"])
    st.markdown(plain(_events_said(d)))
    # over the SLO's window, or the part of it the data covers
    span = int(d["window_s"]) if d["data_s"] is None else max(int(d["data_s"]) + 60, 600)
    points = ctx.series(name, cluster, since=ctx.now - span, step=max(60, span // 120 // 60 * 60))
    st.subheader(f"Error budget over the last {d['window']}" + covers(d))
    st.altair_chart(charts.budget_burn_down(points), use_container_width=True)
    st.subheader("Alert windows")
    st.markdown(
        markdown_table(
            [
                {
                    "severity": p["severity"],
                    "windows": f"{p['long']} & {p['short']}",
                    "alerts above": f"{p['factor']:g}x",
                    "burn, long window": burn(p["burn_long"]),
                    "burn, short window": burn(p["burn_short"]),
                    "events, long window": f"{p['events_long']:,.0f}",
                    "state": p["state"],
                }
                for p in d["pairs"]
            ]
        )
    )
    st.caption(f"a pair alerts when both its windows burn above its factor, on at least {d['min_events']} events")
    st.subheader("What spent the budget")
    if d["reasons"]:
        st.markdown(
            markdown_table(
                [
                    {
                        "reason": r["reason"],
                        "bad events": r["events"],
                        "what it means": r["means"] or "-",
                        "first check": r["check"] or "-",
                        "example": r["example"],
                    }
                    for r in d["reasons"]
                ]
            )
        )
    else:
        empty(f"Nothing spent this SLO's budget over the last {d['window']}.")


def _selects(d: dict) -> bool:
    return bool(d["selector"]["namespaces"] or d["selector"]["labels"])


def _events_said(d: dict) -> str:
    """The figures in plain words: what was counted, what the objective allows, what is left."""
    if not d["total"]:
        return f"Nothing counted for this SLO over the last {d['window']} yet: no budget figure."
    bad = d["total"] - d["good"]
    covers = "" if d["data_s"] is None else f" (the data covers {duration(d['data_s'])} of it)"
    allowed = d["budget_left_events"] + bad
    return (
        f"Over the last {d['window']}{covers}: {d['total']:,.0f} events counted, {d['good']:,.0f} good, {bad:,.0f} bad. "
        f"The objective allows {allowed:,.1f} bad events over the whole window; "
        f"{max(allowed - bad, 0):,.1f} are left ({pct(d['budget_left'])} of the budget)."
    )


def delivery(ctx: Context) -> None:
    st.title("Delivery")
    st.caption(f"pods whose delivery was decided in the {_range_name(ctx)} up to the newest data")
    d = ctx.api.get("/delivery", cluster=ctx.cluster, since=ctx.since, until=ctx.now)
    if d["pods"] == 0:
        empty("No pod's delivery was decided in this range: choose a longer range, or wait for pods.")
        return
    cols = st.columns(5)
    cols[0].metric("success rate", pct(d["success_rate"]), help="delivered / (all due - failed by users)")
    cols[1].metric("pods decided", f"{d['pods']:,}")
    cols[2].metric("delivered", f"{d['delivered']:,}")
    cols[3].metric("failed by the platform", f"{d['failed_system']:,}")
    cols[4].metric("failed by users", f"{d['failed_user']:,}")
    lat = st.columns(3)
    for column, q in zip(lat, ("p50", "p90", "p99")):
        column.metric(f"delivery time {q}", duration(d["latency"][f"{q}_s"]))
    for cluster in ctx.names():
        points = ctx.series("pod-delivery", cluster)
        objective = next(
            (s.get("objective") for s in ctx.api.get("/slos", cluster=cluster) if s["slo"] == "pod-delivery"), 0.99
        )
        st.altair_chart(
            charts.sli_over_time(points, objective).properties(
                title=f"{cluster}: success rate per {ctx.step // 60} min against the objective"
            ),
            use_container_width=True,
        )
    reasons = ctx.api.get("/reasons", cluster=ctx.cluster, since=ctx.since, until=ctx.now, step=ctx.step)
    st.subheader("Why pods were not delivered")
    if reasons:
        st.altair_chart(charts.reasons_stacked(reasons, ctx.step), use_container_width=True)
    else:
        empty("Every pod decided in this range was delivered.")
    st.subheader("Where the time went (delivered pods)")
    st.altair_chart(charts.phase_bars(d["phases"]), use_container_width=True)
    _startup_latency(ctx)
    _hurt_most(ctx, d)


def _startup_latency(ctx: Context) -> None:
    """SIG-Scalability's pod startup latency per cluster-day, with clusterloader2's phases."""
    st.subheader("Pod startup latency (SIG-Scalability: stateless pods, pulls and init left out)")
    rows = [
        {
            "cluster": day["cluster"],
            "day": day["day"],
            "pods": day["pods"],
            **{
                f"{name.replace('_', ' ')} p50 / p99": f"{duration(q['p50_s'])} / {duration(q['p99_s'])}"
                for name, q in day["phases"].items()
            },
            "stateful pods": day["stateful"]["pods"],
            "stateful p99": duration(day["stateful"]["p99_s"]),
        }
        for cluster in ctx.names()
        for day in ctx.api.get("/startup-latency", cluster=cluster, days=7)
    ]
    if rows:
        st.markdown(markdown_table(rows))  # wraps its headers: a grid cut its last columns at 1440 px
    else:
        empty("No stateless pod started in the last 7 days.")


def _hurt_most(ctx: Context, d: dict) -> None:
    # one under the other: side by side, a reason code's column ran past the page's edge at 1440 px
    st.subheader("Namespaces the platform failed most")
    if d["namespaces"]:
        st.markdown(
            markdown_table(
                [
                    {
                        "namespace": n["namespace"],
                        "cluster": n["cluster"],
                        "failed by the platform": n["failed_system"],
                        "pods": n["pods"],
                        "top reason": n["top_reason"],
                    }
                    for n in d["namespaces"]
                ]
            )
        )
    else:
        empty("The platform failed no pod in this range.")
    st.subheader("Workloads the platform failed most")
    found = ctx.api.get("/workloads", cluster=ctx.cluster, limit=10, since=ctx.since, until=ctx.now)
    worst = [w for w in found if w["failed_system"]]
    if worst:
        st.markdown(
            markdown_table(
                [
                    {
                        "workload": f"{w['kind']}/{w['name']}",
                        "namespace": w["namespace"],
                        "failed by the platform": w["failed_system"],
                        "success rate": pct(w["success_rate"]),
                        "top reason": w["top_reason"],
                    }
                    for w in worst
                ]
            )
        )
    else:
        empty("The platform failed no workload's pods.")
    st.subheader("Recent pods the platform failed")
    pods = ctx.api.get("/pods", cluster=ctx.cluster, attribution="system", since=ctx.since, limit=5000)["items"]
    if pods:
        st.markdown(
            markdown_table(
                [
                    {
                        "pod": pod_link(p),
                        "outcome": p["outcome"],
                        "reason": p["reason"],
                        "node": p["node"],
                        "created": when(p["created_at"]),
                    }
                    for p in pods[-30:][::-1]
                ]
            )
        )
    else:
        empty("The platform failed no pod created in this range.")


def trace(ctx: Context) -> None:
    st.title("Pod trace")
    params = st.query_params
    ref = st.text_input("pod: name, namespace/name or uid", value=params.get("uid", ""), key="trace_ref")
    if not ref:
        empty("Enter a pod, or follow a pod's link anywhere on the board.")
        return
    found = ctx.api.get(f"/pods/{quote(ref, safe='')}/trace", cluster=params.get("cluster") or ctx.cluster)
    v = found["verdict"]
    st.subheader(plain(f"{v['namespace']}/{v['name']}"))
    st.caption(
        plain(
            f"cluster {v['cluster']} · uid {v['uid']} · {v['kind']} · created {when(v['created_at'])} · "
            f"node {v['node'] or '-'} · deadline {duration(v['deadline_s'])}"
        )
    )
    cols = st.columns([1, 1.6, 2.2, 1])  # a reason code is long: its tile is wider
    cols[0].metric("outcome", v["outcome"])
    cols[1].metric("whose fault", {"user": "the workload's", "system": "the platform's"}.get(v["attribution"], "-"))
    cols[2].metric("reason", v["reason"] or "-")
    cols[3].metric("delivery time", duration(v["delivery_s"]))
    if v["rule"]:
        st.markdown(f"Decided by rule {plain(v['rule'])}: {plain(v['evidence'])}")
    _explain(found.get("explanation"))
    gantt = charts.phase_gantt(v)
    if gantt is not None:
        st.altair_chart(gantt.properties(title="phases"), use_container_width=True)
    stuck = charts.stuck_phase(v)
    if stuck:
        phase, start, end = stuck
        st.caption(
            f"failed in {phase.replace('_', ' ')}: from {duration(start)} after its creation until its "
            f"deadline at {duration(end)} ({duration(end - start)}), in red above"
        )
    if v.get("deletion"):
        d = v["deletion"]
        gone = when(d["gone_at"]) if d["gone_at"] else "not yet"
        st.markdown(
            f"**Deletion**: asked {when(d['requested_at'])}, gone {gone}"
            + (f", **stuck**: {plain(d['reason'])} ({plain(d['evidence'])})" if d["stuck"] else "")
        )
        _explain(found.get("deletion_explanation"))
    st.subheader("Timeline")
    st.markdown(
        markdown_table(
            [
                {"at (UTC)": (item["at"] or "-")[11:23], "what": item["what"], "text": item["text"]}
                for item in found["timeline"]
            ]
        )
        or "Nothing was recorded for this pod."
    )


def _explain(text: dict | None) -> None:
    if text:
        whose = "the workload's owner" if text["move"] == "user" else "the platform team"
        st.warning(
            f"**What it means:** {plain(text['means'])}  \n**Whose move:** {whose}  \n"
            f"**First check:** {plain(text['check'])}"
        )


def workloads(ctx: Context) -> None:
    st.title("Workloads")
    namespace = st.text_input("namespace (empty: all)", key="workloads_ns") or None
    rows = ctx.api.get(
        "/workloads", cluster=ctx.cluster, namespace=namespace, limit=500, since=ctx.since, until=ctx.now
    )
    if not rows:
        empty("No pod in this selection belongs to a workload (Deployment, StatefulSet, Job, DaemonSet).")
        return
    st.metric("workloads with pods the platform failed", sum(1 for w in rows if w["failed_system"]))
    frame = pd.DataFrame(rows)
    frame["success_rate"] = frame["success_rate"] * 100
    labels = {
        "cluster": "cluster",
        "namespace": "namespace",
        "kind": "kind",
        "name": "workload",
        "pods": "pods",
        "success": "delivered",
        "failed_system": "failed by the platform",
        "failed_user": "failed by users",
        "pending": "pending",
        "success_rate": "success rate (%)",
        "delivery_p50_s": "delivery p50 (s)",
        "delivery_p99_s": "delivery p99 (s)",
        "top_reason": "top platform reason",
        "stuck_deletions": "stuck deletions",
    }
    st.dataframe(
        frame[list(labels)].rename(columns=labels),
        hide_index=True,
        use_container_width=True,
        column_config={"success rate (%)": st.column_config.NumberColumn(format="%.2f")},
    )
    st.caption(
        f"pods created in the {_range_name(ctx)}; worst first: the most pods failed by the platform, "
        "then the lowest success rate"
    )


def _titled_rows(ctx: Context, title: str, path: str, why_empty: str) -> list[dict]:
    """A page's title and its rows from the API; an empty list says why it is empty."""
    st.title(title)
    rows = ctx.api.get(path, cluster=ctx.cluster)
    if not rows:
        empty(why_empty)
    return rows


def nodes(ctx: Context) -> None:
    """Nodes over the chart's span: the table's down time is the chart's bad time, by node."""
    st.title("Nodes")
    first, last = ctx.chart_points()
    since = first - ctx.step
    rows = ctx.api.get("/nodes", cluster=ctx.cluster, since=since, until=last)
    if not rows:
        empty("No node verdicts yet: they appear after the first analysis round with node data.")
        return
    down = [n for n in rows if n["downtime_s"] > 0]
    faulty = [n for n in rows if n["faulty"]]
    repair = [n for n in rows if n["needs_manual_repair"]]
    cols = st.columns(4)
    cols[0].metric("nodes", len(rows))
    cols[1].metric("could not take pods", len(down), help=f"at some time from {when_s(since)} to {when_s(last)}")
    cols[2].metric("faulty now", len(faulty))
    cols[3].metric("need manual repair", len(repair))
    for cluster in ctx.names():
        points = ctx.series("node-availability", cluster)
        if any(p["step_counted"] for p in points):
            st.altair_chart(
                charts.ratio_over_time(points, "faulty-node ratio").properties(
                    title=f"{cluster}: share of node time a node could not take pods, per {ctx.step // 60} min"
                ),
                use_container_width=True,
            )
    _node_repair_list(repair)
    st.subheader(f"All nodes from {when_s(since)} to {when_s(last)}: faulty and least available first")
    st.caption(
        "Time it could not take pods and availability are over the chart's span, the same minutes the "
        "chart counts; faulty and manual repair are as of the last analysis."
    )
    frame = pd.DataFrame(rows)
    frame["order"] = frame["name"].map(natural_key)  # node-2 before node-10
    frame = frame.sort_values(["faulty", "availability", "order"], ascending=[False, True, True])
    frame["availability"] = frame["availability"] * 100
    frame["downtime_s"] = frame["downtime_s"].map(duration)
    frame["reasons"] = frame["reasons"].map(", ".join)
    frame["kubelet_startup"] = frame["kubelet_startup"].map(lambda check: kubelet_check(check, missing=""))
    labels = {
        "cluster": "cluster",
        "name": "node",
        "availability": "availability (%)",
        "downtime_s": "time it could not take pods",
        "faulty": "faulty now",
        "needs_manual_repair": "needs manual repair",
        "reasons": "why",
        "kubelet_startup": "kubelet startup check",
    }
    if not frame["kubelet_startup"].any():
        del labels["kubelet_startup"]  # no kubelet logs collected: an empty column only narrows the others
    st.dataframe(
        frame[list(labels)].rename(columns=labels),
        hide_index=True,
        use_container_width=True,
        column_config={
            "availability (%)": st.column_config.NumberColumn(format="%.3f"),
            "why": st.column_config.TextColumn(width="large"),
        },
    )


def _node_repair_list(repair: list[dict]) -> None:
    st.subheader("Manual-repair list")
    if not repair:
        empty("No node needs hands: every faulty node came back by itself.")
        return
    st.markdown(
        markdown_table(
            [
                {
                    "node": n["name"],
                    "cluster": n["cluster"],
                    "why": ", ".join(n["reasons"]),
                    "evidence": n["evidence"],
                }
                for n in repair
            ]
        )
    )


def terminating(ctx: Context) -> None:
    rows = _titled_rows(
        ctx,
        "Terminating",
        "/terminating",
        "No pod is left Terminating: every deletion finished within its grace period and slack.",
    )
    if not rows:
        return
    st.metric("leftover Terminating pods", sum(r["pods"] for r in rows))
    st.altair_chart(charts.count_bars(rows, "reason", "pods", "pods stuck Terminating"), use_container_width=True)
    st.markdown(
        markdown_table(
            [
                {
                    "reason": r["reason"],
                    "cluster": r["cluster"],
                    "pods": r["pods"],
                    "oldest": duration(r["oldest_s"]),
                    "median age": duration(r["median_s"]),
                    "example": r["example"],
                }
                for r in rows
            ]
        )
    )
    st.subheader("The stuck pods")
    stuck = [
        p
        for p in ctx.api.get("/pods", cluster=ctx.cluster, stuck="true", limit=5000)["items"]
        if not p["deletion"]["gone_at"]
    ]
    st.markdown(
        markdown_table(
            [
                {
                    "pod": pod_link(p),
                    "reason": p["deletion"]["reason"],
                    "deletion asked": when(p["deletion"]["requested_at"]),
                    "node": p["node"],
                }
                for p in stuck[:100]
            ]
        )
    )


def alerts(ctx: Context) -> None:
    st.title("Alerts")
    firing = ctx.api.get("/alerts", cluster=ctx.cluster, state="firing")
    past = ctx.api.get("/alerts", cluster=ctx.cluster, state="resolved", limit=200)
    cols = st.columns(2)
    cols[0].metric("firing", len(firing))
    cols[1].metric("resolved", len(past))
    st.subheader("Firing")
    _alert_table(firing, "No alert is firing.")
    st.subheader("Resolved")
    _alert_table(past, "No alert has fired and resolved yet.")


def _range_name(ctx: Context) -> str:
    return next(name for name, seconds in RANGES.items() if seconds == ctx.range_s)
