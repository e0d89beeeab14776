"""podslo in the team's own stack, against the real tools: Debian's Alertmanager (and amtool)
and promtool; OpenSLO's v1 JSON Schema and Pyrra's CRD schema."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from analyzer.alerting.alertmanager import AlertmanagerPush, AlertmanagerTarget
from analyzer.alerting.conditions import SLO_ALERT, Condition, burn_conditions, fingerprint
from analyzer.alerting.state import advance
from analyzer.slo.counters import SliCounters
from analyzer.slo.evaluate import evaluate_slo
from podslo.timeutil import now_ms
from podslo.webserver import free_port
from slo_rules import load_rules
from slo_rules.loader import AlertmanagerSpec
from slo_rules.openslo import documents
from slo_rules.prometheus import prometheus_rules, pyrra_objects, sloth_spec
from tests.alertmanager import Alertmanager
from tests.conftest import delivery_minute, run_podslo, wait_for

NOW = 1_772_409_600_000  # 2026-03-02, cluster time
FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


def test_fingerprints_are_prometheus_label_set_signatures():
    # prometheus/common's own vectors (model.labelSetToFingerprint): FNV-1a 64 over sorted labels
    assert int(fingerprint({}), 16) == 14695981039346656037
    assert int(fingerprint({"name": "garland, briggs", "fear": "love is not enough"}), 16) == 5799056148416392346


def _condition(cluster: str, slo: str, severity: str) -> Condition:
    annotations = {"summary": f"{slo} burns", "description": "top reasons: none", "board_url": ""}
    return Condition(SLO_ALERT, slo, cluster, severity, 20.0, annotations, {"sli": "delivery"})


def test_alerts_in_a_real_alertmanager_silenced_resolved_and_back_after_its_restart(store, rules, cluster, tmp_path):
    am = Alertmanager(tmp_path)
    target = AlertmanagerTarget("am", am.url, resend_every_s=2.0)
    push = AlertmanagerPush(store, target, 1.0, "http://podslo.example:8080", offsets=lambda: {cluster: now_ms() - NOW})
    page, silenced, loud = (
        _condition(cluster, "pod-delivery", "page"),
        _condition(cluster, "pod-deletion", "ticket"),
        _condition(cluster, "probe-online", "ticket"),
    )
    try:
        advance(store, rules, cluster, NOW, [page])
        push.run()
        shown = wait_for("the page in `amtool alert query`", lambda: am.active(cluster=cluster), 30)
        assert [a["fingerprint"] for a in shown] == [page.fingerprint], "Alertmanager's fingerprint is podslo's"
        assert shown[0]["labels"] == {**page.labels} and shown[0]["annotations"]["summary"] == "pod-delivery burns"
        assert shown[0]["generatorURL"].startswith("http://podslo.example:8080/api/v1/alerts?cluster=")
        wait_for("Alertmanager's notification", lambda: am.notifications.about(slo="pod-delivery", cluster=cluster), 30)

        am.amtool(
            "silence", "add", "-a", "podslo-test", "-c", "quiet", "-d", "1h", f"cluster={cluster}", "slo=pod-deletion"
        )
        advance(store, rules, cluster, NOW + 60_000, [page, silenced])
        push.run()  # a change is pushed at once
        wait_for(
            "the silenced alert suppressed in Alertmanager",
            lambda: [
                a
                for a in httpx.get(f"{am.url}/api/v2/alerts", params={"silenced": "true"}, timeout=5).json()
                if a["labels"].get("cluster") == cluster and a["status"]["state"] == "suppressed"
            ],
            30,
        )
        advance(store, rules, cluster, NOW + 120_000, [page, silenced, loud])
        push.run()
        # groups are notified group_wait after their first alert: the later, loud one's
        # notification arriving means the silenced one's would have come first
        wait_for(
            "the loud alert's notification", lambda: am.notifications.about(slo="probe-online", cluster=cluster), 30
        )
        assert am.notifications.about(slo="pod-deletion", cluster=cluster) == [], "a silence stops the notification"

        advance(store, rules, cluster, NOW + 120_000 + 11 * 60_000, [])  # clear for keep_firing_for: resolved
        push.run()
        wait_for(
            "the resolved page off the active list", lambda: not am.active(cluster=cluster, slo="pod-delivery"), 30
        )
        wait_for(
            "the resolved notification",
            lambda: ("resolved", "resolved") in am.notifications.about(slo="pod-delivery", cluster=cluster),
            30,
        )

        again = NOW + 20 * 60_000
        advance(store, rules, cluster, again, [page])
        push.run()
        wait_for("a new episode in Alertmanager", lambda: am.active(cluster=cluster, slo="pod-delivery"), 30)
        am.restart()
        assert not am.active(cluster=cluster), "a restarted Alertmanager has forgotten the alerts"

        def pushed_back():
            push.run()  # what the supervisor's loop does every second
            return am.active(cluster=cluster, slo="pod-delivery")

        back = wait_for("the firing page back after the restart", pushed_back, target.resend_every_s + 10)
        assert back[0]["fingerprint"] == page.fingerprint
    finally:
        am.close()
    assert push.posts["sent"] >= 6 and push.posts["failed"] == 0


def test_alertmanager_credentials_come_from_the_environment(monkeypatch):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AM_TOKEN", "s3cret")
    monkeypatch.setenv("AM_PASSWORD", "pw")
    url = f"http://127.0.0.1:{port}"
    try:
        for spec in (
            AlertmanagerSpec(url=url, bearer_token_env="AM_TOKEN"),
            AlertmanagerSpec(url=url, basic_auth={"username": "podslo", "password_env": "AM_PASSWORD"}),
        ):
            target = AlertmanagerTarget.of("am", spec)
            assert target.timeout_s == 10 and target.resend_every_s == 60
            assert AlertmanagerPush(None, target, 5.0, url)._post([]) is None
    finally:
        server.shutdown()
    assert seen == [("/api/v2/alerts", "Bearer s3cret"), ("/api/v2/alerts", "Basic cG9kc2xvOnB3")]


# -- SLI counters -----------------------------------------------------------------------------


def test_sli_counters_only_grow_and_count_a_verdict_decided_again_where_it_went(store, rules, cluster):
    counters = SliCounters(rules)
    minute = NOW // 1000 // 60 * 60

    def delivery() -> dict[str, float]:
        return {
            c.labels[2]: total
            for name, c, total in counters.series()
            if name == cluster and c.family == "slo" and c.labels[0] == "pod-delivery"
        }

    written = now_ms()  # a row's version is its write time (retention ages rows by it)
    store.insert(
        "sli_minutes", delivery_minute(cluster, minute - 7200, 50, 0, written)
    )  # old history: the starting totals
    store.insert("sli_minutes", delivery_minute(cluster, minute, 10, 0, written))
    counters.update(store, cluster, NOW, force=True)
    assert delivery() == {"good": 60, "bad": 0}
    store.insert("sli_minutes", delivery_minute(cluster, minute, 9, 1, written + 1))  # decided again: good -> bad
    store.insert("sli_minutes", delivery_minute(cluster, minute + 60, 5, 2, written + 1))  # a new minute
    counters.update(store, cluster, NOW + 60_000, force=True)
    assert delivery() == {"good": 65, "bad": 3}, "the good one stays counted; its bad decision counts once more"
    counters.update(store, cluster, NOW + 60_000, force=True)
    assert delivery() == {"good": 65, "bad": 3}, "reading again counts nothing twice"


# -- Prometheus rules: the same page in the same minute ------------------------------------------
def _promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_prometheus_rules_pass_promtool_and_page_in_the_same_minute_as_podslo(store, rules, cluster, tmp_path):
    slo = next(s for s in rules.spec.slos if s.name == "pod-delivery")
    start_s = NOW // 1000 // 60 * 60 - 4 * 3600
    minutes = [(100.0, 0.0)] * 120 + [(85.0, 15.0)] * 60 + [(100.0, 0.0)] * 30  # an outage: 15 % bad, 15x burn
    for i, (good, bad) in enumerate(minutes):
        store.insert("sli_minutes", delivery_minute(cluster, start_s + 60 * i, good, bad))

    def podslo_fires(m: int) -> set[str]:
        status = evaluate_slo(store, rules, slo, cluster, (start_s + 60 * m) * 1000)
        return {c.severity for c in burn_conditions(store, rules, status, None)}

    first = next(m for m in range(1, len(minutes) + 1) if "page" in podslo_fires(m))
    assert 120 < first < 180, first

    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(prometheus_rules(rules), sort_keys=False))
    assert "SUCCESS" in _promtool("check", "rules", str(rule_file), cwd=tmp_path)

    def cumulative(which: int) -> str:
        total, out = 0.0, []
        for minute in minutes:
            out.append(f"{total:g}")
            total += minute[which]
        return " ".join(out)

    series = '{{__name__="podslo_sli_events_total",cluster="{c}",slo="pod-delivery",sli="delivery",result="{r}"}}'
    summary = next(r for g in prometheus_rules(rules)["groups"] for r in g["rules"] if r.get("alert"))["annotations"]

    def expected(m: int) -> list[dict]:
        return [
            {
                "exp_labels": {"cluster": cluster, "slo": "pod-delivery", "sli": "delivery", "severity": severity},
                "exp_annotations": {
                    "summary": summary["summary"].replace("{{ $labels.cluster }}", cluster),
                    "description": summary["description"],
                },
            }
            for severity in sorted(podslo_fires(m))
        ]

    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series.format(c=cluster, r="good"), "values": cumulative(0)},
                    {"series": series.format(c=cluster, r="bad"), "values": cumulative(1)},
                ],
                "alert_rule_test": [
                    {"eval_time": f"{m}m", "alertname": SLO_ALERT, "exp_alerts": expected(m)}
                    for m in (first - 1, first)
                ],
            }
        ],
    }
    assert "page" not in podslo_fires(first - 1), "the test must see the page begin"
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    assert "SUCCESS" in _promtool("test", "rules", "test.yml", cwd=tmp_path)


def test_sloth_and_pyrra_exports_hold_their_schemas_and_their_queries_parse(rules, tmp_path):
    pyrra = yaml.safe_load((FIXTURES / "pyrra" / "servicelevelobjective.schema.yaml").read_text())
    objects = pyrra_objects(rules)
    assert len(objects) == len(rules.spec.slos)
    for obj in objects:
        assert not list(Draft7Validator(pyrra).iter_errors(obj)), obj["metadata"]["name"]
        assert 0 < float(obj["spec"]["target"]) < 100
    spec = sloth_spec(rules)
    assert spec["version"] == "prometheus/v1" and len(spec["slos"]) == len(rules.spec.slos)
    exprs = []
    for slo in spec["slos"]:
        assert set(slo) <= {"name", "objective", "description", "labels", "sli", "alerting"}
        assert 0 < slo["objective"] <= 100 and slo["alerting"]["name"]
        for query in slo["sli"]["events"].values():
            assert "{{.window}}" in query
            exprs.append(query.replace("{{.window}}", "5m"))
    exprs += [f"rate({o['spec']['indicator']['ratio'][k]['metric']}[5m])" for o in objects for k in ("errors", "total")]
    rule_file = tmp_path / "queries.yml"
    records = [{"record": f"podslo:check{i}", "expr": e} for i, e in enumerate(exprs)]
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": records}]}))
    assert "SUCCESS" in _promtool("check", "rules", str(rule_file), cwd=tmp_path)


# -- OpenSLO ----------------------------------------------------------------------------------
def _openslo_validator() -> Draft7Validator:
    """The OpenSLO v1 JSON Schema (tests/fixtures/openslo-v1, see its NOTICE), with the one
    correction the NOTICE states: an SLO's alertPolicies as the v1 specification writes them."""
    root = FIXTURES / "openslo-v1"
    registry = Registry()
    for path in root.rglob("*.schema.json"):
        schema = json.loads(path.read_text())
        if path.name == "slo-spec.schema.json":
            schema["properties"]["spec"]["properties"]["alertPolicies"]["items"] = {
                "type": "object",
                "oneOf": [{"required": ["alertPolicyRef"]}, {"required": ["kind", "metadata", "spec"]}],
            }
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return Draft7Validator(json.loads((root / "openslo.schema.json").read_text()), registry=registry)


def test_openslo_export_validates_and_says_what_podslo_does(rules):
    validator = _openslo_validator()
    docs = documents(rules)
    for doc in docs:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert not errors, (doc["kind"], doc["metadata"]["name"], errors[:3])
        for key in doc["metadata"].get("labels") or {}:
            assert key.replace("-", "").replace(".", "").replace("_", "").isalnum(), key
    kinds = {k: [d for d in docs if d["kind"] == k] for k in ("SLO", "SLI", "AlertPolicy", "AlertNotificationTarget")}
    policies = {d["metadata"]["name"] for d in kinds["AlertPolicy"]}
    for slo in kinds["SLO"]:
        refs = [p["alertPolicyRef"] for p in slo["spec"]["alertPolicies"]]
        assert refs and set(refs) <= policies
    for policy in kinds["AlertPolicy"]:
        spec = policy["spec"]
        assert {"alertWhenNoData", "alertWhenResolved", "alertWhenBreaching"} <= set(spec)
        assert spec["notificationTargets"] and "short" not in spec["conditions"][0]["spec"]["condition"]
        assert " and over " in spec["description"]
    for sli in kinds["SLI"]:
        for part in ("good", "total"):
            source = sli["spec"]["ratioMetric"][part]["metricSource"]
            assert source["type"] == "Prometheus" and source["spec"]["query"].startswith("podslo_sli_events_total{")


def test_openslo_slos_stand_in_a_rule_file(rules, tmp_path):
    default = yaml.safe_load(Path(rules.source).read_text())
    exported = [d for d in documents(rules) if d["kind"] == "SLO"]
    default["slos"] = exported
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(default, sort_keys=False))
    said = run_podslo("check-rules", str(path), cwd=tmp_path)
    assert said.returncode == 0, said.stderr
    again = load_rules(path)
    assert [s.model_dump() for s in again.spec.slos] == [
        {**s.model_dump(), "alerting": None} for s in rules.spec.slos
    ], "exported and read back, the SLOs are the same"
    broken = dict(exported[0], metadata={"name": "nameless-sli"})
    default["slos"] = [exported[1], broken]
    path.write_text(yaml.safe_dump(default, sort_keys=False))
    said = run_podslo("check-rules", str(path), cwd=tmp_path)
    assert said.returncode != 0 and b"slos[1]" in said.stderr and b"podslo.io/sli" in said.stderr, said.stderr


@pytest.mark.parametrize("fmt", ["prometheus-rules", "sloth", "pyrra", "openslo"])
def test_slo_export_formats_from_the_command_line(fmt, tmp_path):
    said = run_podslo("slo", "export", "--format", fmt, cwd=tmp_path)
    assert said.returncode == 0, said.stderr
    docs = [d for d in yaml.safe_load_all(said.stdout) if d]
    assert docs and b"podslo_sli_events_total" in said.stdout


def test_a_good_minutes_slo_is_openslo_timeslices_both_ways(rules, tmp_path):
    default = yaml.safe_load(Path(rules.source).read_text())
    default["slos"].append(
        {"name": "startup-p99", "sli": "startup", "objective": 0.99, "threshold_s": 5, "form": "good_minutes"}
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(default, sort_keys=False))
    minutes = load_rules(path)
    doc = next(d for d in documents(minutes) if d["kind"] == "SLO" and d["metadata"]["name"] == "startup-p99")
    assert not list(_openslo_validator().iter_errors(doc))
    assert doc["spec"]["budgetingMethod"] == "Timeslices"
    assert doc["spec"]["objectives"][0] == {
        "displayName": "startup-p99",
        "target": 0.99,
        "timeSliceTarget": 0.99,
        "timeSliceWindow": "5m",
    }
    default["slos"] = [doc]
    path.write_text(yaml.safe_dump(default, sort_keys=False))
    (again,) = load_rules(path).spec.slos
    assert (again.form, again.percentile, again.threshold_s) == ("good_minutes", 0.99, 5.0)
