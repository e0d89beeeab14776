"""`serve` mails the weekly report on the rule file's schedule (`report:`): once per ISO week,
remembered in the store (`report_outbox`) so a restart neither skips nor repeats it; the
message is built once and kept, and a failed send is retried with backoff."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from analyzer.report.figures import Period, build_report, week_before
from analyzer.report.render import chart_images, message
from app.mail import MailError, Smtp
from podslo.backoff import DELIVERY
from podslo.schema import REPORT_OUTBOX
from podslo.store import Store
from podslo.timeutil import ms_of
from slo_rules import Rules

log = logging.getLogger(__name__)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class ReportSchedule:
    def __init__(self, store: Store, rules: Rules, clusters):
        self.store, self.rules, self.clusters = store, rules, clusters
        self.spec = rules.spec.report
        self.tz = ZoneInfo(self.spec.timezone)

    MISSED_WEEKS = 8  # a serve down longer than this sends only the last eight weeks it missed

    def due(self, now_s: int) -> Period:
        """The newest week whose send time (its end + weekday and hour) has passed."""
        offset = timedelta(days=WEEKDAYS.index(self.spec.weekday), hours=self.spec.hour).total_seconds()
        week = week_before(now_s, self.tz)
        if now_s < week.end + offset:
            week = week_before(week.start, self.tz)
        return week

    def owed(self, now_s: int) -> list[Period]:
        """The weeks to send, oldest first: the newest due one, and those before it back to
        the last week this store has a report for (a serve that was down over send times)."""
        known = {r[0] for r in self.store.rows("SELECT period FROM report_outbox FINAL")}
        weeks = [self.due(now_s)]
        while known and weeks[-1].label not in known and len(weeks) < self.MISSED_WEEKS:
            before = weeks[-1].previous()
            if before.label in known:
                break
            weeks.append(before)
        return weeks[::-1]

    def send_due(self, now_s: int) -> str | None:
        """Build each owed week's report once, send them in order until sent; what happened to
        the last one tried, if anything (a failed send holds the later weeks back)."""
        said = None
        for week in self.owed(now_s):
            said = self._send_week(week, now_s)
            if said not in (None, "sent"):
                break
        return None if said == "waiting" else said

    def _send_week(self, week: Period, now_s: int) -> str | None:
        row = self.store.dicts("SELECT * FROM report_outbox FINAL WHERE period = {p:String}", p=week.label)
        if row and row[0]["sent_at"] is not None:
            return None
        if not row:
            built = self._build(week)
            row = [
                {
                    "period": week.label,
                    "built_at": now_s * 1000,
                    "message": built,
                    "attempts": 0,
                    "next_at": now_s * 1000,
                    "sent_at": None,
                    "last_error": "",
                }
            ]
            self._save(row[0])
        entry = row[0]
        if ms_of(entry["next_at"]) > now_s * 1000:
            return "waiting"
        return self._send(entry, now_s)

    def _build(self, week: Period) -> str:
        clusters = self.spec.clusters or self.clusters()
        report = build_report(self.store, self.rules, clusters, week)
        mail = message(
            report, chart_images(self.store, self.rules, report, week), self.spec.sender, self.spec.recipients
        )
        return bytes(mail).decode("utf-8", errors="surrogateescape")

    def _send(self, entry: dict, now_s: int) -> str:
        smtp = Smtp.parse(
            self.spec.smtp,
            security=self.spec.security,
            user=self.spec.user,
            password=os.environ.get(self.spec.password_env),
        )
        mail = message_from_bytes(entry["message"].encode("utf-8", errors="surrogateescape"), policy=policy.SMTP)
        attempts = entry["attempts"] + 1
        try:
            smtp.send(mail)
        except MailError as exc:
            wait = DELIVERY.delay_s(attempts)
            self._save({**entry, "attempts": attempts, "next_at": int((now_s + wait) * 1000), "last_error": str(exc)})
            log.warning("weekly report %s: %s (try %d; again in %.0fs)", entry["period"], exc, attempts, wait)
            return f"failed: {exc}"
        self._save({**entry, "attempts": attempts, "sent_at": now_s * 1000, "last_error": ""})
        log.warning("weekly report %s sent to %s", entry["period"], ", ".join(self.spec.recipients))
        return "sent"

    def _save(self, entry: dict) -> None:
        self.store.insert(
            "report_outbox",
            [
                REPORT_OUTBOX.Row(
                    period=entry["period"],
                    built_at=ms_of(entry["built_at"]),
                    message=entry["message"],
                    attempts=entry["attempts"],
                    next_at=ms_of(entry["next_at"]),
                    sent_at=ms_of(entry["sent_at"]),
                    last_error=entry["last_error"],
                    version=self._version(),
                )
            ],
        )

    def _version(self) -> int:
        """One past the newest: two saves within a millisecond (built, then a send refused at once) stay ordered."""
        return int(self.store.scalar("SELECT max(version) FROM report_outbox") or 0) + 1


def report_round(schedule: ReportSchedule, simulation) -> None:
    """One turn of serve's report loop, by the wall clock (a simulated cluster faster than the
    wall: by its own clock, so its weeks pass)."""
    fast = simulation is not None and simulation.speed > 1
    schedule.send_due(simulation.engine.now_ms // 1000 if fast else int(time.time()))
