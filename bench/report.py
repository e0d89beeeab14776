"""`podslo bench report`: the weekly report for a week of N pods across three clusters, built
(figures and charts) and mailed as a message: how long it takes and how large it is."""

from __future__ import annotations

import tempfile
import time

from analyzer.report.figures import build_report, iso_week
from analyzer.report.render import chart_images, message
from bench.week_data import WEEK_S, fill_week
from podslo.store import Store
from slo_rules import load_rules

CLUSTERS = ("prod-eu", "prod-us", "prod-ap")


def run_report_bench(pods: int = 1_000_000) -> dict:
    rules = load_rules()
    week = iso_week("2026-W10")
    with tempfile.TemporaryDirectory(prefix="podslo-bench-report-") as tmp:
        store = Store(f"chdb://{tmp}/db")
        started = time.perf_counter()
        for i, cluster in enumerate(CLUSTERS):  # this week and the one before
            fill_week(store, rules, cluster, pods // len(CLUSTERS), week.end, seed=i + 1)
            fill_week(store, rules, cluster, pods // len(CLUSTERS), week.end - WEEK_S, seed=i + 11)
        fill_s = time.perf_counter() - started
        started = time.perf_counter()
        report = build_report(store, rules, list(CLUSTERS), week)
        figures_s = time.perf_counter() - started
        started = time.perf_counter()
        images = chart_images(store, rules, report, week)
        charts_s = time.perf_counter() - started
        mail = bytes(message(report, images, "podslo@example.com", ["sre@example.com"]))
        store.close()
    return {
        "pods_this_week": sum(c["delivery"]["pods"] for c in report["clusters"]),
        "clusters": len(CLUSTERS),
        "fill_s": round(fill_s, 1),
        "figures_s": round(figures_s, 2),
        "charts_s": round(charts_s, 2),
        "build_s": round(figures_s + charts_s, 2),
        "charts": len(images),
        "message_kb": round(len(mail) / 1024),
    }
