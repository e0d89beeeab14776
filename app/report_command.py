"""`podslo report`: build the weekly report, write it or mail it (a failed send keeps it)."""

from __future__ import annotations

import base64
import os
import sys
from datetime import UTC
from pathlib import Path

import orjson

from analyzer.lifecycle.facts import cluster_now
from analyzer.report.figures import Period, between, build_report, coverage, iso_week, week_before, week_of
from analyzer.report.render import chart_images, message, render_html, render_text
from app.mail import PASSWORD_ENV, MailError, Smtp, send_with_retries
from podslo.errors import ConfigError
from podslo.store import Store
from slo_rules import Rules


def choose_period(store: Store, clusters: list[str], week: str | None, start: str | None, end: str | None) -> Period:
    if week:
        return iso_week(week)
    if start and end:
        return between(start, end)
    newest = max((cluster_now(store, c)[0] or 0 for c in clusters), default=0)
    whole = week_before(newest // 1000, UTC)  # the last whole week with data, or else the one under way
    return whole if coverage(store, clusters, whole)["pods"] else week_of(newest // 1000, UTC)


def run_report(
    store: Store,
    rules: Rules,
    clusters: list[str],
    *,
    week,
    start,
    end,
    fmt,
    out,
    send,
    recipients,
    smtp_address,
    security,
    smtp_user,
    sender,
    say,
) -> None:
    held = store.clusters()
    unknown = [c for c in clusters if c not in held]
    if unknown:
        raise ConfigError(
            f"no cluster {', '.join(map(repr, unknown))} in the store (it holds: {', '.join(held) or 'nothing yet'})"
        )
    clusters = clusters or held
    period = choose_period(store, clusters, week, start, end)
    report = build_report(store, rules, clusters, period)
    if send:
        images = chart_images(store, rules, report, period)
        mail = message(report, images, sender, recipients)
        smtp = Smtp.parse(smtp_address, security=security, user=smtp_user, password=os.environ.get(PASSWORD_ENV))
        try:
            send_with_retries(smtp, mail, say=say)
        except MailError as exc:
            kept = Path(out or f"podslo-report-{period.label.replace(' ', '_').replace(':', '')}.eml")
            kept.write_bytes(bytes(mail))
            raise MailError(f"{exc}; the report is kept in {kept}") from None
        say(
            f"sent {report['period']['label']} to {', '.join(recipients)} ({len(bytes(mail)):,} bytes, "
            f"{len(images)} charts)"
        )
        return
    if fmt == "json":
        text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n"
    elif fmt == "html":
        images = chart_images(store, rules, report, period)
        text = render_html(report, _inline(images))
    else:
        text = render_text(report)
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _inline(images: dict[str, bytes]) -> dict[str, str]:
    """A file has no parts to refer to: its images go in as data: URLs, in place of cid: ones."""
    return {name: f"data:image/png;base64,{base64.b64encode(png).decode()}" for name, png in images.items()}
