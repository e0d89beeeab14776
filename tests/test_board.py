"""The board in a real browser: Debian's headless Chromium, driven by Playwright (pointed at the
system browser: nothing downloads one), opens every page against a live `podslo serve
--simulate`, checks each page's key numbers against the API, finds no Streamlit exception,
and saves a screenshot per page under test-artifacts/board/."""

from __future__ import annotations

import shutil
import time
from urllib.parse import urljoin

import httpx
import pytest
from playwright.sync_api import sync_playwright

from dashboard.client import epoch
from dashboard.pages import RANGES, pct
from podslo.webserver import free_port
from tests.conftest import ARTIFACTS, start_podslo, stop_process, wait_for

SHOTS = ARTIFACTS / "board"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]  # the machine has no internet
SIMULATED_MINUTES = 20
# The CNI outage (profiles/cni-outage.yaml), and nodes going NotReady often enough that some
# do in 20 minutes (with seed 1: node-4 from minute 7, node-14 at 18:56).
PROFILE = """
version: 1
description: the CNI outage, and nodes that go NotReady now and then
base: default
incidents:
  - {story: sandbox_create_failed, start_s: 300, duration_s: 900, node_share: 0.5, replace_share: 1.0}
nodes:
  heartbeat_s: 300
  not_ready_per_node_day: 12
  recover_share: 1.0
  reporting_share: 0.3
  down_s: {median: 240, p99: 600}
  pressure_per_node_day: 0.3
  pressure_s: {median: 300, p99: 2400}
  missing_daemonset_per_node_day: 0
  missing_daemonset_s: {median: 600, p99: 3600}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """serve (a CNI outage and nodes going NotReady, 20 cluster minutes at 60x, then the clock
    stops) and the board."""
    assert CHROMIUM, "Debian's chromium is needed (.ci/run installs it)"
    here = tmp_path_factory.mktemp("board")
    api_port, board_port = free_port(), free_port()
    env = {"PODSLO_DSN": f"chdb://{here}/store"}
    (here / "profile.yaml").write_text(PROFILE)
    serve = start_podslo(
        "serve",
        "--simulate",
        "--profile",
        str(here / "profile.yaml"),
        "--speed",
        "60",
        "--simulate-minutes",
        str(SIMULATED_MINUTES),
        "--analyze-every",
        "2",
        "--listen",
        f"127.0.0.1:{api_port}",
        env=env,
        cwd=here,
    )
    board = start_podslo("board", "--api", f"http://127.0.0.1:{api_port}", "--port", str(board_port), env={}, cwd=here)
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}/api/v1", timeout=30)
    try:
        wait_for(
            "the simulated cluster's 20 minutes collected",
            lambda: api.get("/clusters").json()[0]["last_data_at"] == f"2026-03-02T00:{SIMULATED_MINUTES}:00.000Z",
            240,
            serve,
        )
        settled = Settled(api)
        wait_for("the figures settled", settled, 120, serve)
        wait_for(
            "the board up",
            lambda: httpx.get(f"http://127.0.0.1:{board_port}/_stcore/health").status_code == 200,
            90,
            board,
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            board_ = Board(page, f"http://127.0.0.1:{board_port}/", api, settled.figures)
            page.on("request", lambda request: board_.requests.append(request.url))
            yield board_
            browser.close()
    finally:
        stop_process(board)
        stop_process(serve)


class Settled:
    """True once the API's figures read the same as they did one poll (>= 2 rounds) before."""

    def __init__(self, api: httpx.Client):
        self.api, self.previous, self.at, self.figures = api, None, 0.0, None

    def __call__(self) -> bool:
        if time.monotonic() - self.at < 4:
            return False
        figures = {
            path: self.api.get(path, params=params).json()
            for path, params in (
                ("/slos", {}),
                ("/alerts", {"state": "firing"}),
                ("/nodes", {}),
                ("/terminating", {}),
                ("/workloads", {"limit": 500}),
            )
        }
        stable, self.previous, self.at = figures == self.previous, figures, time.monotonic()
        self.figures = figures
        return stable


class Board:
    def __init__(self, page, url: str, api: httpx.Client, figures: dict):
        self.page, self.url, self.api, self.figures = page, url, api, figures
        self.requests: list[str] = []  # every URL any page asked for

    def open(self, path: str, shot: str) -> dict[str, str]:
        """Open a page, wait for Streamlit to finish, screenshot it; its metrics, label -> value."""
        self.page.goto(urljoin(self.url, path), wait_until="domcontentloaded")
        self.page.wait_for_selector("h1", timeout=60_000)
        # the script's run has ended (the status widget can be absent before it first shows)
        self.page.wait_for_function(
            "() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state')"
            " === 'notRunning'",
            timeout=90_000,
        )
        self.page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)
        self.page.wait_for_load_state("networkidle")
        errors = [
            e.inner_text()
            for e in self.page.query_selector_all('[data-testid="stException"], [data-testid="stAlertContentError"]')
        ]
        self._screenshot_whole(shot)
        assert not errors, f"{shot}: the page shows {errors}"
        overlapping = self.page.evaluate(OVERLAPS)
        assert not overlapping, f"{shot}: elements drawn over each other: {overlapping}"
        cut = self.page.evaluate("""() => [...document.querySelectorAll(
            '[data-testid="stMetricValue"] div, [data-testid="stMetricLabel"] p, [data-testid="stMetricDelta"] div')]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)""")
        assert not cut, f"{shot}: tiles cut short: {cut}"
        return self.page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')]
            .map(m => [m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
                       m.querySelector('[data-testid="stMetricValue"]').innerText.trim()]))""")

    def _screenshot_whole(self, shot: str) -> None:
        """Streamlit scrolls its main block, not the page: grow the window to the block's height
        for the shot, then back to 1440x900."""
        height = self.page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 900")
        self.page.set_viewport_size({"width": 1440, "height": max(900, min(int(height), 12_000))})
        self.page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)
        self.page.set_viewport_size({"width": 1440, "height": 900})


# Pairs of the main block's elements whose boxes cross (neither inside the other), and tables
# running past the main block's right edge, by text.
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')]
    .map(e => [e, e.getBoundingClientRect()]).filter(([, r]) => r.width > 0 && r.height > 0);
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 2 && h > 2) out.push([a.innerText.slice(0, 40), b.innerText.slice(0, 40)]);
  }
  const main = document.querySelector('[data-testid="stMainBlockContainer"]')?.getBoundingClientRect();
  for (const t of document.querySelectorAll('[data-testid="stMain"] table')) {
    const r = t.getBoundingClientRect();
    if (main && r.right > main.right + 1) out.push([t.innerText.slice(0, 40), 'past the right edge']);
  }
  return out;
}"""


def test_overview_shows_each_slo_as_the_api_does(live):
    started = time.monotonic()
    metrics = live.open("", "overview")
    first_paint = live.page.evaluate(
        "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
    )
    (SHOTS / "first-paint.txt").write_text(
        f"board first paint: first-contentful-paint {first_paint:.0f} ms; "
        f"the overview complete in {time.monotonic() - started:.1f} s\n"
    )
    slos = live.figures["/slos"]
    assert len(slos) >= 6
    for slo in slos:
        assert metrics[f"{slo['slo']} · {slo['cluster']}"] == pct(slo["current"])
    body = live.page.inner_text("body").replace("\u200b", "")
    assert "Fatal" in body  # the outage pages
    # the four answers, above the SLO tiles: healthy?, what is failing since when, whose fault, what first
    answers = ["What is failing, since when", "Whose fault", "What to do first", "SLOs"]
    assert [body.index(a) for a in answers] == sorted(body.index(a) for a in answers)
    for alert in live.figures["/alerts"]:
        assert alert["annotations"]["summary"] in body and alert["annotations"]["description"][:80] in body
    severities = [a["severity"] for a in live.figures["/alerts"]]
    shown = sorted(severities, key=lambda s: body.index(f"{s} since"))
    assert shown == sorted(severities, key=lambda s: s != "page")  # pages first
    delivery = live.api.get("/delivery", params={"since": 0}).json()
    top = delivery["platform_reasons"][0]
    assert top["reason"] == "SandboxCreateFailed" and top["check"] in body


def test_delivery_counts_and_its_pod_links_lead_to_their_trace(live):
    metrics = live.open("delivery", "delivery")
    now = epoch(live.api.get("/clusters").json()[0]["last_data_at"]) + 1
    figures = live.api.get("/delivery", params={"since": now - RANGES["last hour"], "until": now}).json()
    assert metrics["success rate"] == pct(figures["success_rate"])
    assert metrics["failed by the platform"] == f"{figures['failed_system']:,}" != "0"
    assert metrics["pods decided"] == f"{figures['pods']:,}"
    body = live.page.inner_text("body")
    assert "Why pods were not delivered" in body and figures["namespaces"][0]["namespace"] in body
    assert live.page.locator('[data-testid="stVegaLiteChart"]').count() >= 3
    link = live.page.locator('a[href^="trace?"]').first
    href, name = link.get_attribute("href"), link.inner_text()

    trace = live.open(href, "trace")
    uid = href.split("uid=")[1].split("&")[0]
    verdict = live.api.get(f"/pods/{uid}/trace").json()["verdict"]
    assert name == f"{verdict['namespace']}/{verdict['name']}"
    assert trace["reason"] == verdict["reason"] and trace["outcome"] == verdict["outcome"]
    body = live.page.inner_text("body")
    assert "What it means" in body and "First check" in body and "Timeline" in body
    assert "failed in sandbox" in body and live.page.locator('[data-testid="stVegaLiteChart"]').count() == 1


@pytest.mark.parametrize(
    "page, label, count",
    [
        ("nodes", "nodes", lambda f: len(f["/nodes"])),
        ("nodes", "need manual repair", lambda f: sum(n["needs_manual_repair"] for n in f["/nodes"])),
        ("terminating", "leftover Terminating pods", lambda f: sum(r["pods"] for r in f["/terminating"])),
        ("alerts", "firing", lambda f: len(f["/alerts"])),
        (
            "workloads",
            "workloads with pods the platform failed",
            lambda f: sum(1 for w in f["/workloads"] if w["failed_system"]),
        ),
    ],
)
def test_page_figures_equal_the_api(live, page, label, count):
    metrics = live.open(page, page)
    assert metrics[label] == str(count(live.figures))


def test_nodes_table_adds_up_to_its_chart(live):
    """The Nodes page's table is over its chart's span: the nodes it says could not take pods
    are those whose down time makes the chart's bad time, and the two add up."""
    from dashboard.client import Api
    from dashboard.pages import Context

    metrics = live.open("nodes", "nodes-range")
    clusters = live.api.get("/clusters").json()
    ctx = Context(Api(str(live.api.base_url).removesuffix("/api/v1/")), clusters, None, RANGES["last hour"])
    first, last = ctx.chart_points()
    nodes = live.api.get("/nodes", params={"since": first - ctx.step, "until": last}).json()
    down = {n["name"]: n["downtime_s"] for n in nodes if n["downtime_s"] > 0}
    assert "node-4" in down, down  # NotReady from minute 7 (node-14 goes at 18:56: seconds before the span's end)
    assert metrics["could not take pods"] == str(len(down))
    points = ctx.series("node-availability", clusters[0]["name"])
    bad = sum(p["step_counted"] * (1 - p["step_sli"]) for p in points if p["step_counted"])
    assert bad == pytest.approx(sum(down.values()), abs=1.0)
    # the alert on node time, if it fires, names the node down longest
    for alert in live.figures["/alerts"]:
        if alert["labels"].get("sli") == "node_time":
            assert max(down, key=down.get) in alert["annotations"]["description"]


def test_cluster_text_is_shown_as_text(live):
    """An image-pull failure's evidence holds the registry's URL: the trace page shows it as
    text, not as a link (nor anything else Markdown would make of it)."""
    pods = live.api.get("/pods", params={"attribution": "user", "limit": 5000}).json()["items"]
    pod = next(p for p in pods if "https://" in (p["evidence"] or ""))
    live.open(f"trace?cluster={pod['cluster']}&uid={pod['uid']}", "trace-url-evidence")
    body = live.page.inner_text("body").replace("\u200b", "")  # what breaks a URL's autolink
    assert pod["evidence"] in body
    links = live.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    assert not [href for href in links if "127.0.0.1" not in href and not href.startswith("about:")], links
    assert live.page.locator("main img").count() == 0


def test_no_page_asks_another_host(live):
    for path in ("", "delivery", "nodes", "alerts"):
        live.open(path, path or "overview")
    assert live.requests
    assert not [url for url in live.requests if not url.startswith(("http://127.0.0.1", "data:", "blob:"))]


def test_plain_text_makes_no_markdown():
    from markdown_it import MarkdownIt

    from dashboard.pages import markdown_table, plain

    hostile = "www.evil.example [click](http://evil.example/x) ![i](http://evil.example/i.png) <b>x</b> *em* `c` $x^2$ :red[a] &amp; \\\\ |"
    rendered = MarkdownIt("commonmark").enable("table").render(markdown_table([{"evidence": hostile}]))
    assert "<a" not in rendered and "<img" not in rendered and "<b>" not in rendered and "<em>" not in rendered
    assert "<code>" not in rendered and "<td>" in rendered
    html = MarkdownIt("commonmark").render(plain(hostile))
    assert html.replace("\u200b", "").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace(
        "&quot;", '"'
    ) == (f"<p>{hostile}</p>\n")


def test_each_slo_has_its_page(live):
    cluster = live.figures["/slos"][0]["cluster"]
    metrics = live.open(f"slo?slo=pod-delivery&cluster={cluster}", "slo-pod-delivery")
    d = live.api.get("/slos/pod-delivery", params={"cluster": cluster}).json()
    assert metrics["error budget left"] == pct(d["budget_left"]) and metrics["health"] == d["health"]
    body = live.page.inner_text("body").replace("\u200b", "")
    assert "Error budget over the last 28d (data: " in body and "What spent the budget" in body
    assert all(f"{p['long']} & {p['short']}" in body for p in d["pairs"])
    assert d["reasons"][0]["reason"] == "SandboxCreateFailed" and d["reasons"][0]["check"] in body
    page = next(p for p in d["pairs"] if p["severity"] == "page" and p["long"] == "1h")
    assert page["state"] == "firing" and page["burn_long"] > page["factor"]
    assert live.page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
