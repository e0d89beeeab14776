"""The weekly report: mailed to a real SMTP server on loopback (aiosmtpd), its MIME structure,
its subject, its figures equal to the API's for the same period, a refused login or a server
that is down said in one line and the report kept; its HTML rendered in headless Chromium."""

from __future__ import annotations

import email
import shutil
import socket
from datetime import UTC
from email import policy
from functools import partial
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi.testclient import TestClient

from analyzer.api.app import make_api
from analyzer.report.figures import between, build_report, iso_week
from analyzer.report.render import chart_images, message, render_html
from app.mail import Smtp, send_with_retries
from podslo.webserver import free_port
from tests.conftest import ARTIFACTS, run_podslo, simulate


class Inbox:
    """A real SMTP server on loopback that keeps what it is handed."""

    def __init__(self, password: str | None = None, port: int | None = None):
        self.mails: list[bytes] = []
        self.password = password
        kwargs = {}
        if password:
            kwargs = {"authenticator": self._auth, "auth_require_tls": False, "auth_required": True}
        port = port or free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=port, **kwargs)
        self.controller.start()
        self.address = f"127.0.0.1:{port}"

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password.decode() == self.password
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(envelope.content)
        return "250 OK"

    def close(self):
        self.controller.stop()


@pytest.fixture(scope="module")
def week(store, rules):
    """Two clusters, each 40 minutes of a simulated cluster (one with a CNI outage)."""
    import io

    from analyzer.lifecycle.verdicts import analyze
    from collector.replay import replay

    for name, profile in (("report-eu", "cni-outage"), ("report-us", "default")):
        data = simulate(profile, seconds=2400, seed=4, nodes=10, rate=120)[1]
        replay(store, io.BufferedReader(io.BytesIO(data)), name, lambda line, message: None)
        analyze(store, name, rules)
    return between("2026-03-02T00:00:00Z", "2026-03-02T00:39:59Z")


def test_the_mail_arrives_whole_and_its_figures_equal_the_api(store, rules, week):
    clusters = ["report-eu", "report-us"]
    report = build_report(store, rules, clusters, week)
    mail = message(report, chart_images(store, rules, report, week), "podslo@example.com", ["sre@example.com"])
    inbox = Inbox()
    try:
        send_with_retries(Smtp.parse(inbox.address), mail, attempts=1)
    finally:
        inbox.close()
    got = email.message_from_bytes(inbox.mails[0], policy=policy.default)
    assert got.get_content_type() == "multipart/alternative"
    text, related = got.get_payload()
    assert text.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html" and len(images) >= 4
    body = html_part.get_content()
    for image in images:
        assert image.get_content_type() == "image/png" and f"cid:{image['Content-ID'][1:-1]}" in body
    assert "report-eu" in got["Subject"] and "report-us" in got["Subject"] and week.label in got["Subject"]
    assert "<script" not in body.lower() and "class=" not in body

    api = TestClient(make_api(store, rules, lambda: clusters))
    eu = report["clusters"][0]
    delivery = api.get(
        "/api/v1/delivery", params={"cluster": "report-eu", "since": week.start, "until": week.end}
    ).json()
    for reason in delivery["platform_reasons"]:  # the API says what each means (for the board)
        del reason["means"], reason["check"]
    assert eu["delivery"] == {**delivery, "cluster": "report-eu"}
    point = api.get(
        "/api/v1/slos/pod-delivery/series",
        params={"cluster": "report-eu", "from": week.end, "to": week.end, "step": week.end - week.start},
    ).json()[0]
    slo = next(s for s in eu["slos"] if s["slo"] == "pod-delivery")
    assert slo["this"]["sli"] == point["step_sli"] and slo["this"]["counted"] == point["step_counted"] > 1000
    assert (
        f"{100 * point['step_sli']:.2f} %" in body and f"{delivery['failed_system']:,} failed by the platform" in body
    )
    assert eu["top_reasons"][0]["reason"] == "SandboxCreateFailed" and eu["top_reasons"][0]["example"]
    assert any(
        a["what"].startswith(f"{eu['top_reasons'][0]['pods']} pods failed by SandboxCreateFailed")
        for a in report["actions"]
    )
    fleet = report["fleet"]["delivery"]
    assert fleet["pods"] == sum(c["delivery"]["pods"] for c in report["clusters"])


def test_a_refused_login_and_a_server_that_is_down_keep_the_report(tmp_path):
    (tmp_path / "r.jsonl").write_bytes(simulate("cni-outage", seconds=600, seed=4, nodes=6, rate=60)[1])
    env = {"PODSLO_DSN": f"chdb://{tmp_path}/db", "PODSLO_SMTP_PASSWORD": "wrong"}
    assert run_podslo("replay", "--cluster", "report-eu", "r.jsonl", cwd=tmp_path, env=env).returncode == 0
    inbox = Inbox(password="right")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{closed.getsockname()[1]}"
        try:
            refused = run_podslo(
                "report",
                "--cluster",
                "report-eu",
                "--from",
                "2026-03-02T00:00:00Z",
                "--to",
                "2026-03-02T00:09:59Z",
                "--send",
                "--to",
                "sre@example.com",
                "--smtp",
                inbox.address,
                "--smtp-user",
                "podslo",
                cwd=tmp_path,
                env=env,
            )
            gone = run_podslo(
                "report",
                "--cluster",
                "report-eu",
                "--week",
                "2026-W10",
                "--send",
                "--to",
                "sre@example.com",
                "--smtp",
                down,
                "--out",
                "kept.eml",
                cwd=tmp_path,
                env=env,
            )
        finally:
            inbox.close()
    for done, line in ((refused, "refused the login of 'podslo'"), (gone, "Connection refused")):
        err = done.stderr.decode()
        assert done.returncode == 1 and "Traceback" not in err, err
        assert line in err.splitlines()[-1] and "the report is kept in" in err.splitlines()[-1]
        assert err.count("trying again") == 2  # three attempts
    assert not inbox.mails
    kept = email.message_from_bytes((tmp_path / "kept.eml").read_bytes(), policy=policy.default)
    assert kept.get_content_type() == "multipart/alternative" and "2026-W10" in kept["Subject"]


def test_the_html_renders_in_chromium(store, rules, week, tmp_path):
    import base64

    from playwright.sync_api import sync_playwright

    from tests.test_board import CHROMIUM_ARGS

    report = build_report(store, rules, ["report-eu", "report-us"], week)
    images = chart_images(store, rules, report, week)
    page_html = render_html(
        report, {n: f"data:image/png;base64,{base64.b64encode(p).decode()}" for n, p in images.items()}
    )
    path = tmp_path / "report.html"
    path.write_text(page_html)
    shot = ARTIFACTS / "report" / "weekly-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 1000})
        page.goto(path.as_uri())
        loaded = page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 100)")
        page.screenshot(path=shot, full_page=True)
        text = page.inner_text("body")
        browser.close()
    assert loaded and "This week's actions" in text and "Cluster report-eu" in text


def test_a_week_is_monday_to_monday():
    w = iso_week("2026-W10")
    assert w.label == "2026-W10" and w.end - w.start == 7 * 86400
    assert w.previous().label == "2026-W09" and w.previous().end == w.start


def _scheduled(rules, tmp_path, port: int):
    """The default rules with a report schedule: Mondays 08:00 in Berlin, to an SMTP server here."""
    from slo_rules import load_rules

    text = Path(rules.source).read_text() + (
        f"\nreport:\n  weekday: monday\n  hour: 8\n  timezone: Europe/Berlin\n  recipients: [sre@example.com]\n"
        f"  smtp: '127.0.0.1:{port}'\n  security: none\n  clusters: [report-eu]\n"
    )
    (tmp_path / "rules.yaml").write_text(text)
    return load_rules(str(tmp_path / "rules.yaml"))


def _at(day: int, hour: int) -> int:
    from datetime import datetime

    return int(datetime(2026, 3, day, hour, tzinfo=UTC).timestamp())


def test_serve_mails_each_week_once_also_across_a_restart(store, rules, week, tmp_path):
    """The schedule: nothing before its time, one mail after it, none again - even from a new
    schedule on the same store (a restart) - and the next week's on its Monday; a server that
    is down at first gets the same report later."""
    from app.report_schedule import ReportSchedule

    port = free_port()
    scheduled = _scheduled(rules, tmp_path, port)
    first = ReportSchedule(store, scheduled, lambda: ["report-eu"])
    assert first.due(_at(9, 6)).label == "2026-W09"  # 07:00 in Berlin on Monday 9 March: W10 not yet
    assert first.send_due(_at(9, 8)).startswith("failed")  # the server is down when W10's time comes
    inbox = Inbox(port=port)
    try:
        assert first.send_due(_at(9, 8)) is None  # backing off
        assert first.send_due(_at(9, 9)) == "sent"
        restarted = ReportSchedule(store, scheduled, lambda: ["report-eu"])
        assert restarted.send_due(_at(9, 10)) is None and restarted.send_due(_at(13, 10)) is None
        assert restarted.send_due(_at(16, 8)) == "sent"  # W11
    finally:
        inbox.close()
    subjects = [email.message_from_bytes(m, policy=policy.default)["Subject"] for m in inbox.mails]
    assert len(subjects) == 2 and "2026-W10" in subjects[0] and "2026-W11" in subjects[1]


def test_serve_runs_the_schedule_by_a_fast_simulated_clock(store, rules, week, tmp_path):
    """serve's report loop, as run_serve starts it: a simulated cluster's clock (faster than the
    wall) past a Monday morning makes that week's mail go out."""
    import threading
    from types import SimpleNamespace

    from app.report_schedule import ReportSchedule, report_round
    from podslo.supervisor import Supervisor
    from tests.conftest import wait_for

    port = free_port()
    inbox = Inbox(port=port)
    simulation = SimpleNamespace(speed=60, engine=SimpleNamespace(now_ms=_at(23, 9) * 1000))
    stop = threading.Event()
    supervisor = Supervisor(stop)
    schedule = ReportSchedule(store, _scheduled(rules, tmp_path, port), lambda: ["report-eu"])
    supervisor.every("report", partial(report_round, schedule, simulation), 0.2)
    try:
        wait_for("the week's mail", lambda: inbox.mails, 120)
        assert supervisor.health()["status"] == "ok"
    finally:
        stop.set()
        supervisor.join(30)
        inbox.close()
    assert (
        len(inbox.mails) == 1
        and "2026-W12" in email.message_from_bytes(inbox.mails[0], policy=policy.default)["Subject"]
    )


def test_a_serve_down_over_two_send_times_sends_both_weeks(store, rules, week, tmp_path):
    from app.report_schedule import ReportSchedule

    store.command("TRUNCATE TABLE report_outbox")  # the session's store: other tests sent these weeks
    port = free_port()
    scheduled = _scheduled(rules, tmp_path, port)
    inbox = Inbox(port=port)
    try:
        schedule = ReportSchedule(store, scheduled, lambda: ["report-eu"])
        assert schedule.send_due(_at(9, 9)) == "sent"  # W10
        later = ReportSchedule(store, scheduled, lambda: ["report-eu"])  # down from then until W12's Monday
        assert [w.label for w in later.owed(_at(23, 9))] == ["2026-W11", "2026-W12"]
        assert later.send_due(_at(23, 9)) == "sent" and later.send_due(_at(23, 10)) is None
    finally:
        inbox.close()
    subjects = [email.message_from_bytes(m, policy=policy.default)["Subject"] for m in inbox.mails]
    assert [s.split("2026-W")[1][:2] for s in subjects] == ["10", "11", "12"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"])
def test_the_week_before_has_its_own_label_in_every_timezone(zone):
    from zoneinfo import ZoneInfo

    from analyzer.report.figures import week_before

    week = week_before(_at(18, 12), ZoneInfo(zone))  # Wednesday 18 March: the last whole week is W11
    assert week.label == "2026-W11" and week.previous().label == "2026-W10"


def test_the_text_report_shows_cluster_text_escaped(store, rules, week):
    from analyzer.report.render import render_text

    report = build_report(store, rules, ["report-eu"], week)
    hostile = "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b[2J"
    report["clusters"][0]["new_unknowns"] = [{"pattern": hostile}]
    report["clusters"][0]["terminating"] = [{"pods": 1, "reason": "\u202eFinalizer"}]
    text = render_text(report)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b]8;;http://evil.example\\x07click" in text and "\\u202eFinalizer" in text


def test_a_week_without_data_is_never_an_all_clear(store, rules, week):
    from analyzer.report.render import render_html, render_text

    before = iso_week("2025-W01")
    report = build_report(store, rules, ["report-eu"], before)
    assert report["coverage"]["empty"] and report["coverage"]["newest_week"]
    text, page = render_text(report), render_html(report, {})
    for shown in (text, page):
        assert "No data in this period" in shown and f"--week {report['coverage']['newest_week']}" in shown
        assert "Nothing needs doing" not in shown and "every SLO kept its budget" not in shown
    covered = build_report(store, rules, ["report-eu"], week)["coverage"]
    assert not covered["empty"] and covered["pods"] > 0
