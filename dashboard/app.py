"""The board (`podslo board`): a Streamlit app that reads podslo's API only."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from dashboard import pages
from dashboard.client import Api, ApiError

PAGES = [
    (pages.overview, "Overview", ":material/dashboard:"),
    (pages.slo, "SLO", ":material/speed:"),
    (pages.delivery, "Delivery", ":material/local_shipping:"),
    (pages.trace, "Pod trace", ":material/timeline:"),
    (pages.workloads, "Workloads", ":material/apps:"),
    (pages.nodes, "Nodes", ":material/dns:"),
    (pages.terminating, "Terminating", ":material/hourglass_bottom:"),
    (pages.alerts, "Alerts", ":material/notifications:"),
]
ALL = "all clusters"


@st.cache_resource
def api() -> Api:
    return Api()


def default_range(client: Api, cluster: str | None, now: int) -> str:
    """The shortest range that holds every pod decided in the last week: a young store's
    charts show its data, not a week of nothing."""
    week = client.get("/delivery", cluster=cluster, since=now - pages.RANGES["last week"], until=now)["pods"]
    for name, seconds in pages.RANGES.items():
        if (
            seconds == pages.RANGES["last week"]
            or client.get("/delivery", cluster=cluster, since=now - seconds, until=now)["pods"] >= week
        ):
            return name
    return "last week"


def context() -> pages.Context:
    client = api()
    clusters = client.get("/clusters")
    st.sidebar.caption(f"podslo API: {client.base}")
    if not clusters:
        st.info(
            "The store holds no cluster yet: `podslo serve` has collected nothing so far. Start it with "
            "`--simulate`, or point it at a cluster; the board fills within a minute."
        )
        st.stop()
    names = [c["name"] for c in clusters]
    wanted = st.query_params.get("cluster")
    chosen = st.sidebar.selectbox(
        "cluster", [ALL] + names, index=1 + names.index(wanted) if wanted in names else (1 if len(names) == 1 else 0)
    )
    cluster = None if chosen == ALL else chosen
    probe = pages.Context(client, clusters, cluster, pages.RANGES["last hour"])
    if "range" not in st.session_state:
        st.session_state["range"] = default_range(client, cluster, probe.now)
    range_name = st.sidebar.selectbox("range", list(pages.RANGES), key="range")
    return pages.Context(client, clusters, cluster, pages.RANGES[range_name])


def page(show, title: str, icon: str) -> st.Page:
    def run() -> None:
        try:
            show(context())
        except ApiError as exc:
            st.error(pages.plain(exc))

    run.__name__ = show.__name__
    return st.Page(run, title=title, icon=icon, url_path=show.__name__, default=show is pages.overview)


def main() -> None:
    # An icon drawn here: a named icon or emoji is fetched from Google's font CDN by the browser.
    st.set_page_config(page_title="podslo", page_icon=Image.new("RGB", (32, 32), (31, 111, 235)), layout="wide")
    st.navigation([page(*p) for p in PAGES]).run()


main()
