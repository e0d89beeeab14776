"""SLIs over time, budgets and burn rates by hand, alert states, webhook signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer import read
from analyzer.alerting.conditions import SLO_ALERT, Condition, burn_conditions, settled_annotations
from analyzer.alerting.delivery import sign
from analyzer.alerting.guard import GUARD_ALERT, guard_conditions
from analyzer.alerting.outbox import enqueue_owed
from analyzer.alerting.payloads import NEVER
from analyzer.alerting.receivers import Receiver
from analyzer.alerting.state import advance
from analyzer.lifecycle.verdicts import analyze
from analyzer.slo.evaluate import evaluate_slo, series
from podslo.backoff import DELIVERY, Backoff
from podslo.errors import RuleError
from slo_rules import load_rules
from tests.conftest import ROOT, delivery_minute, simulate, sli_minute

NOW = 1_772_500_000_000 // 60_000 * 60_000  # on a minute boundary, ms
MIN = 60_000


def _minutes(store, cluster, rows):
    """SLI rows by hand: (minutes before NOW, good, bad) for the delivery SLI."""
    out = [row for ago, good, bad in rows for row in delivery_minute(cluster, (NOW - ago * MIN) // 1000, good, bad)]
    store.insert("sli_minutes", out)


def _slo(rules, name="pod-delivery"):
    return next(s for s in rules.spec.slos if s.name == name)


def test_budget_and_burn_match_hand_computed_windows(store, rules, cluster):
    # the last 5 minutes: 100 pods a minute, 10 failing; the 55 before: 100 a minute, 1 failing
    _minutes(store, cluster, [(ago, 90, 10) for ago in range(1, 6)] + [(ago, 99, 1) for ago in range(6, 61)])
    status = evaluate_slo(store, rules, _slo(rules), cluster, NOW)
    assert status.events["5m"] == 500 and status.events["1h"] == 6000
    assert status.burn["5m"] == pytest.approx((50 / 500) / 0.01)  # 10x
    assert status.burn["1h"] == pytest.approx((105 / 6000) / 0.01)  # 1.75x
    # the data covers one hour of the 28 days: the budget is the whole window's, at the rate so far
    covered = 3600 / (28 * 86400)
    assert status.covered == pytest.approx(covered) and status.data_s == 3600
    assert status.covered_by_window["5m"] == 1.0 and status.covered_by_window["6h"] == pytest.approx(1 / 6)
    assert status.budget_left == pytest.approx(1 - covered * 105 / 60)  # 99.7 %, not -75 %
    assert status.runs_out_at == NOW + int((6000 / covered * 0.01 - 105) / (105 / 3600) * 1000)
    assert burn_conditions(store, rules, status, None) == []  # no ticket from an hour of data: 2h and 6h uncovered
    # one pod 28 days ago: the data covers the window, and the same hour has overspent it
    _minutes(store, cluster, [(28 * 1440, 1, 0)])
    status = evaluate_slo(store, rules, _slo(rules), cluster, NOW)
    assert status.covered == 1.0 and status.data_s is None
    assert status.budget_left == pytest.approx((6001 * 0.01 - 105) / (6001 * 0.01))  # overspent: -75%
    assert status.runs_out_at == NOW  # already gone
    fired = burn_conditions(store, rules, status, None)
    assert [c.severity for c in fired] == ["ticket"]  # 3d and 6h above 1x; 10x < 14.4x


def test_the_series_agrees_with_the_status_at_each_point(store, rules, cluster):
    _minutes(store, cluster, [(ago, 90, 10) for ago in range(1, 6)] + [(ago, 99, 1) for ago in range(6, 121)])
    points = series(store, rules, _slo(rules), cluster, NOW // 1000 - 3600, NOW // 1000, 600)
    assert len(points) == 7
    for point in points:
        status = evaluate_slo(store, rules, _slo(rules), cluster, point["at"] * 1000)
        assert point["sli"] == pytest.approx(status.current) and point["counted"] == status.total
        assert point["budget_left"] == pytest.approx(status.budget_left, abs=1e-6)
        assert point["burn"]["5m"] == pytest.approx(status.burn["5m"]) and point["burn"]["1h"] == pytest.approx(
            status.burn["1h"]
        )
    assert points[-1]["burn"]["5m"] == pytest.approx(10.0)


def test_budget_runs_out_at_the_current_burn(store, rules, cluster):
    # a day of 100 good pods a minute, then an hour with 2 failing a minute
    _minutes(store, cluster, [(ago, 100, 0) for ago in range(61, 1501)] + [(ago, 98, 2) for ago in range(1, 61)])
    status = evaluate_slo(store, rules, _slo(rules), cluster, NOW)
    total, bad = 1500 * 100, 120
    covered = 1500 * 60 / (28 * 86400)  # 25 hours of data: the 28-day budget expects as many pods a day
    assert status.budget_left_events == pytest.approx(total / covered * 0.01 - bad)
    rate = 120 / 3600  # bad pods a second over the last hour
    assert status.runs_out_at == NOW + int((total / covered * 0.01 - bad) / rate * 1000)
    assert status.burn["1h"] == pytest.approx(2.0) and status.burn["1d"] == pytest.approx((120 / 144_000) / 0.01)


def test_a_page_needs_both_windows_and_enough_events(store, rules, cluster):
    _minutes(store, cluster, [(ago, 70, 30) for ago in range(1, 61)])  # 30% failing for an hour
    status = evaluate_slo(store, rules, _slo(rules), cluster, NOW)
    fired = burn_conditions(store, rules, status, "http://board")
    assert {c.severity for c in fired} == {"page"}  # the tickets' short windows (2h, 6h) are not covered yet
    page = next(c for c in fired if c.severity == "page")
    assert page.labels == {
        "alertname": "ErrorBudgetBurn",
        "slo": "pod-delivery",
        "cluster": cluster,
        "severity": "page",
        "sli": "delivery",
    }
    assert "30.0x" in page.annotations["summary"] and page.annotations["board_url"] == "http://board"

    few = cluster + "-few"
    _minutes(store, few, [(ago, 0, 1) for ago in range(1, 11)])  # every pod failing, but 10 of them
    status = evaluate_slo(store, rules, _slo(rules), few, NOW)
    assert status.burn["5m"] == pytest.approx(100) and burn_conditions(store, rules, status, None) == []


def test_alerts_fire_repeat_and_resolve_once_without_flapping(store, rules, cluster):
    receivers = [Receiver("hook", "http://127.0.0.1:9/x")]
    cond = Condition(SLO_ALERT, "pod-delivery", cluster, "page", 20.0, {"summary": "s", "description": "d"})
    keep, repeat = rules.spec.alerting.keep_firing_for.s * 1000, rules.spec.alerting.repeat_every.s * 1000

    def evaluate_at(at, holding):
        changes = advance(store, rules, cluster, at, [cond] if holding else [])
        enqueue_owed(store, receivers, "http://podslo", [cluster])
        return changes

    assert evaluate_at(NOW, True) == ["firing ErrorBudgetBurn pod-delivery page"]
    assert evaluate_at(NOW + MIN, True) == []  # still firing: nothing new
    assert evaluate_at(NOW + 2 * MIN, False) == []  # clear, not yet for long enough
    assert evaluate_at(NOW + 3 * MIN, True) == []  # back: the same episode
    assert evaluate_at(NOW + repeat, True) == ["repeat ErrorBudgetBurn pod-delivery page"]
    assert evaluate_at(NOW + repeat + keep - MIN, False) == []
    assert evaluate_at(NOW + repeat + keep, False) == ["resolved ErrorBudgetBurn pod-delivery page"]
    assert evaluate_at(NOW + repeat + keep + MIN, False) == []
    sent = store.rows(
        "SELECT id, body FROM webhook_outbox FINAL WHERE id LIKE {p:String} ORDER BY created_at",
        p=f"hook|{cond.fingerprint}|%",
    )
    assert [json.loads(b)["status"] for _, b in sent] == ["firing", "firing", "resolved"]
    body = json.loads(sent[-1][1])
    assert body["version"] == "4" and body["alerts"][0]["endsAt"] != NEVER
    assert set(body) >= {
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    # the state owes nothing more than what the outbox holds
    assert enqueue_owed(store, receivers, "http://podslo", [cluster]) == 0
    assert (
        len(store.rows("SELECT id FROM webhook_outbox FINAL WHERE id LIKE {p:String}", p=f"hook|{cond.fingerprint}|%"))
        == 3
    )


def test_sli_minutes_after_incremental_passes_equal_a_full_rebuild(ingest, store, rules, cluster):
    """Verdicts decided again move their counts; nothing drifts from what a rebuild says."""
    _, served = simulate("cni-outage", seconds=1500, seed=5, nodes=10)
    lines = served.splitlines(keepends=True)
    for part in range(4):
        ingest(b"".join(lines[part * len(lines) // 4 : (part + 1) * len(lines) // 4]), analyze_after=False)
        analyze(store, cluster, rules, overlap_ms=0)
    whole = cluster + "-full"
    ingest.cluster = whole
    ingest(served, analyze_after=False)
    analyze(store, whole, rules, full=True)

    def sli(name):
        return store.rows(
            "SELECT sli, minute, result, reason, le, sum(events) AS n FROM sli_minutes FINAL "
            "WHERE cluster = {c:String} GROUP BY sli, minute, result, reason, le HAVING n != 0 "
            "ORDER BY sli, minute, result, reason, le",
            c=name,
        )

    incremental, full = sli(cluster), sli(whole)
    assert incremental == full
    counted = {r[0]: 0 for r in full}
    for r in full:
        counted[r[0]] += r[5]
    assert counted["delivery"] > 2000 and counted["deletion"] > 10 and counted["node_time"] > 0
    bad = sum(r[5] for r in full if r[0] == "delivery" and r[2] == "bad" and r[3] == "SandboxCreateFailed")
    assert bad > 100, "the CNI outage shows as failed deliveries"


@pytest.mark.parametrize("cut_short", [False, True])
def test_a_changed_verdict_moves_its_count(ingest, store, rules, cluster, monkeypatch, cut_short):
    """A pod judged failed at its deadline, then known to have been deleted before it:
    its bad count leaves the deadline's minute, and it is left out of the SLO - also when the
    round that learns it fails between writing the verdict and rebuilding its minutes."""
    from analyzer.lifecycle import sli_minutes

    created, asked = "2026-03-02T00:00:00Z", "2026-03-02T00:00:30Z"

    def pod(rv, deletion=None, extra=()):
        meta = {
            "name": "web-1",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": str(rv),
            "creationTimestamp": created,
            **({"deletionTimestamp": deletion, "deletionGracePeriodSeconds": 30} if deletion else {}),
        }
        return (
            json.dumps(
                {
                    "type": "MODIFIED",
                    "object": {
                        "kind": "Pod",
                        "apiVersion": "v1",
                        "metadata": meta,
                        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
                        "status": {
                            "phase": "Pending",
                            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": created}],
                        },
                    },
                }
            )
            + "\n"
        )

    clock = (
        json.dumps(
            {
                "type": "ADDED",
                "object": {
                    "kind": "Node",
                    "apiVersion": "v1",
                    "metadata": {
                        "name": "n1",
                        "uid": "n-1",
                        "resourceVersion": "9",
                        "creationTimestamp": "2026-03-02T00:02:00Z",
                    },
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "lastTransitionTime": "2026-03-02T00:02:00Z",
                                "lastHeartbeatTime": "2026-03-02T00:02:00Z",
                            }
                        ]
                    },
                },
            }
        )
        + "\n"
    )
    ingest(pod(1) + clock)

    def counts():
        return store.rows(
            "SELECT toUnixTimestamp(minute) % 3600, result, sum(events) AS n FROM sli_minutes FINAL "
            "WHERE cluster = {c:String} AND sli = 'delivery' GROUP BY 1, 2 HAVING n != 0 ORDER BY 1, 2",
            c=cluster,
        )

    assert counts() == [(60, "bad", 1.0)]  # failed, decided at the deadline (00:01:00)
    if cut_short:
        ingest(pod(2, deletion=asked), analyze_after=False)
        rebuild = sli_minutes.rebuild_pod_minutes
        monkeypatch.setattr(sli_minutes, "rebuild_pod_minutes", _raise)
        with pytest.raises(ConnectionError):
            analyze(store, cluster, rules)
        monkeypatch.setattr(sli_minutes, "rebuild_pod_minutes", rebuild)
        analyze(store, cluster, rules)
    else:
        ingest(pod(2, deletion=asked))
    assert ingest.pods()["web-1"]["outcome"] == "cancelled"
    assert counts() == [(0, "excluded", 1.0)]  # moved to 00:00, and out of the SLO


def test_bad_slo_rules_fail_at_load_naming_the_field(tmp_path):
    text = open(load_rules().source).read().replace("threshold_s: 5", "threshold_s: 7")
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RuleError, match=r"slos\[2\].*threshold_s must be one of"):
        load_rules(path)
    path.write_text(
        text.replace("threshold_s: 7", "threshold_s: 5").replace("long: 1h, short: 5m", "long: 5m, short: 1h")
    )
    with pytest.raises(RuleError, match=r"alerting.windows\[0\].*shorter than"):
        load_rules(path)


def test_signature_and_backoff():
    body = '{"a": 1}'
    sig = sign("s3cret", body, at=1700000000)
    assert sig == "t=1700000000,v1=" + __import__("hmac").new(b"s3cret", b'1700000000.{"a": 1}', "sha256").hexdigest()
    assert [Backoff(DELIVERY.first_s, DELIVERY.cap_s).delay_s(n) for n in (1, 2, 3, 10)] == [2.0, 4.0, 8.0, 60.0]
    assert 1.0 <= DELIVERY.delay_s(1) <= 3.0


def test_in_place_upgrades_count_by_whether_the_pod_was_ready_again_in_time(ingest, store, cluster):
    for story in ("upgrade_in_place", "upgrade_image_not_found"):
        ingest((ROOT / "tests" / "golden" / story / "input.jsonl").read_bytes())
    rows = store.rows(
        "SELECT name, upgrade_outcome, upgrade_ready_s, upgrade_reason, upgrade_attribution "
        "FROM pod_verdicts FINAL WHERE cluster = {c:String} ORDER BY name",
        c=cluster,
    )
    by_outcome = {r[1]: r for r in rows}
    assert by_outcome["success"][2] == pytest.approx(9.0)  # Ready 9 s after the image changed
    assert by_outcome["failed"][3:] == ("ImageNotFound", "user")  # a tag that does not exist: the user's
    counted = store.rows(
        "SELECT result, sum(events) FROM sli_minutes FINAL WHERE cluster = {c:String} "
        "AND sli = 'upgrade' GROUP BY result ORDER BY result",
        c=cluster,
    )
    assert counted == [("excluded", 1.0), ("good", 1.0)]


def _pod_line(name: str, created: str, deletion: str | None = None, namespace: str = "shop") -> str:
    meta = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "resourceVersion": "1" if not deletion else "2",
        "creationTimestamp": created,
    }
    if deletion:
        meta.update(deletionTimestamp=deletion, deletionGracePeriodSeconds=30)
    return (
        json.dumps(
            {
                "type": "MODIFIED",
                "object": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "metadata": meta,
                    "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
                    "status": {
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": created}],
                    },
                },
            }
        )
        + "\n"
    )


def _audit_delete(i: int, name: str, user: str, at: str) -> str:
    return (
        json.dumps(
            {
                "apiVersion": "audit.k8s.io/v1",
                "kind": "Event",
                "auditID": f"a-{i}",
                "stage": "ResponseComplete",
                "verb": "delete",
                "user": {"username": user},
                "requestReceivedTimestamp": at,
                "stageTimestamp": at,
                "objectRef": {"resource": "pods", "namespace": "shop", "name": name},
                "responseStatus": {"code": 200},
            }
        )
        + "\n"
    )


def test_mass_deletion_pages_naming_who_asked(ingest, store, rules, cluster):
    created, at = "2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z"
    lines = [_pod_line(f"web-{i}", created) for i in range(80)] + [
        _pod_line(f"db-{i}", created, namespace="data") for i in range(80)
    ]
    lines += [_pod_line(f"web-{i}", created, deletion="2026-03-02T01:00:30Z") for i in range(60)]
    lines += [_audit_delete(i, f"web-{i}", "system:serviceaccount:ci:cleanup-bot", at) for i in range(60)]
    ingest("".join(lines))
    now = 1_772_413_260_000  # 01:01:00
    fired = guard_conditions(store, rules, cluster, now, None)
    assert [c.extra["namespace"] for c in fired] == ["shop"]  # 60 of 80 (75%); the cluster: 60 of 160
    assert "cleanup-bot (60)" in fired[0].annotations["description"]
    assert fired[0].labels["alertname"] == GUARD_ALERT and fired[0].severity == "page"
    assert guard_conditions(store, rules, cluster, now + 10 * MIN, None) == []  # the window has passed


def test_per_tenant_slos_count_only_their_pods(ingest, store, cluster, tmp_path):
    text = (
        Path(load_rules().source)
        .read_text()
        .replace(
            "\nslos:\n",
            """
slos:
  - {name: tenant-web, sli: delivery, objective: 0.99, selector: {labels: {app: web}}}
  - {name: payments, sli: delivery, objective: 0.99, selector: {namespaces: ["pay*"]}}
""",
            1,
        )
    )
    (tmp_path / "rules.yaml").write_text(text)
    tenant_rules = load_rules(tmp_path / "rules.yaml")
    ingest(simulate(seconds=900, seed=8, nodes=10, rate=240)[1], analyze_after=False)
    analyze(store, cluster, tenant_rules)
    now = (
        store.scalar(
            "SELECT toUnixTimestamp64Milli(max(created_at)) FROM pod_verdicts WHERE cluster = {c:String}", c=cluster
        )
        + 3600_000
    )

    def direct(where):
        return store.rows(
            "SELECT countIf(outcome = 'success'), countIf(outcome = 'success' OR "
            "(outcome IN ('failed', 'timeout') AND ifNull(attribution, '') != 'user')) "
            f"FROM pod_verdicts FINAL WHERE cluster = {{c:String}} AND {where}",
            c=cluster,
        )[0]

    # a tenant's SLI rows repeat its pods: the cluster's reasons count each pod once
    system = store.rows(
        "SELECT reason, count() FROM pod_verdicts FINAL WHERE cluster = {c:String} "
        "AND outcome IN ('failed', 'timeout') AND attribution = 'system' GROUP BY reason",
        c=cluster,
    )
    assert system and read.platform_reasons(store, cluster, None, None) == dict(system)
    counted = {}
    for r in read.reason_counts(store, cluster, None, None, 86400):
        if r["attribution"] == "system":
            counted[r["reason"]] = counted.get(r["reason"], 0) + r["pods"]
    assert counted == dict(system)
    for name, where in (("tenant-web", "labels['app'] = 'web'"), ("payments", "startsWith(namespace, 'pay')")):
        status = evaluate_slo(store, tenant_rules, _slo(tenant_rules, name), cluster, int(now))
        good, total = direct(where)
        assert 20 < total < direct("1")[1] and (status.good, status.total) == (good, total), name
        # its alert's reasons are its own pods' (as many as its verdicts say), and so are their examples
        everyone = read.top_reasons(store, _slo(tenant_rules), cluster, 0, int(now))
        own = read.top_reasons(store, _slo(tenant_rules, name), cluster, 0, int(now))
        assert everyone and sum(n for _, n, _ in own) < sum(n for _, n, _ in everyone), name
        by_verdicts = dict(
            store.rows(
                "SELECT reason, count() FROM pod_verdicts FINAL WHERE cluster = {c:String} "
                f"AND outcome IN ('failed', 'timeout') AND ifNull(attribution, '') != 'user' AND {where} GROUP BY reason",
                c=cluster,
            )
        )
        assert own and {r: n for r, n, _ in own} == {r: by_verdicts[r] for r, _, _ in own}, name
        for reason, _, example in own:
            namespace, pod = example.split("/", 1)
            assert store.rows(
                f"SELECT 1 FROM pod_verdicts FINAL WHERE cluster = {{c:String}} AND namespace = {{n:String}} "
                f"AND name = {{p:String}} AND reason = {{r:String}} AND {where}",
                c=cluster,
                n=namespace,
                p=pod,
                r=reason,
            ), (name, namespace, pod, reason)


@pytest.mark.parametrize("sli", ["probe", "node_time"])
def test_a_selector_an_sli_cannot_honour_is_refused_with_its_line(rules, tmp_path, sli):
    text = (
        Path(rules.source)
        .read_text()
        .replace(
            "\nslos:\n",
            f"\nslos:\n  - {{name: t, sli: {sli}, objective: 0.99, selector: {{labels: {{team: a}}}}}}\n",
            1,
        )
    )
    (tmp_path / "r.yaml").write_text(text)
    line = text[: text.index("name: t,")].count("\n") + 1
    with pytest.raises(RuleError, match=rf"r.yaml:{line}.*cannot honour a selector"):
        load_rules(tmp_path / "r.yaml")


def test_every_reason_code_is_explained_in_plain_language(rules, tmp_path):
    codes = set(rules.spec.codes) | set(rules.spec.stuck_codes)
    assert codes == set(rules.spec.explanations)
    for code in codes:
        text = rules.explain(code)
        assert len(text["means"]) > 30 and len(text["check"]) > 20 and text["move"] in ("user", "platform")
    assert rules.explain("SandboxCreateFailed")["move"] == "platform" and rules.explain("AppOOM")["move"] == "user"
    bad = Path(rules.source).read_text() + "\n  NoSuchCode: {means: x, move: user, check: y}\n"
    (tmp_path / "r.yaml").write_text(bad)
    with pytest.raises(RuleError, match="NoSuchCode"):
        load_rules(tmp_path / "r.yaml")


def _raise(*args, **kwargs):
    raise ConnectionError("the store went away")


def test_a_good_minutes_slo_counts_minutes_whose_5_minute_p99_kept_the_threshold(store, rules, cluster):
    from slo_rules.loader import SloSpec

    rows = []
    for ago in range(1, 21):  # 20 minutes of 100 pod startups, 10 of them slow in one minute
        slow = 10 if ago == 15 else 0
        counts = {("observed", 2.0): 100 - slow, ("observed", 10.0): slow}
        rows += sli_minute(cluster, (NOW - ago * MIN) // 1000, "startup", counts)
    store.insert("sli_minutes", rows)
    spec = {"name": "startup-p99", "sli": "startup", "objective": 0.9, "threshold_s": 5, "window": "1h"}
    events = evaluate_slo(store, rules, SloSpec(**spec), cluster, NOW)
    minutes = evaluate_slo(store, rules, SloSpec(**spec, form="good_minutes"), cluster, NOW)
    assert events.current == pytest.approx(1990 / 2000)
    # the slow minute (15 ago) spoils the 5-minute p99 of itself and the 4 minutes after it
    assert minutes.current == pytest.approx(15 / 20)
    with pytest.raises(ValueError, match="good_minutes form is for the startup SLIs"):
        SloSpec(name="d", sli="delivery", objective=0.9, form="good_minutes")


def test_a_resolved_page_quotes_the_figures_now(store, rules, cluster):
    _minutes(store, cluster, [(28 * 1440, 1, 0)] + [(ago, 70, 30) for ago in range(61, 121)])  # an hour at 30 %
    at = NOW - 60 * MIN
    fired = burn_conditions(store, rules, evaluate_slo(store, rules, _slo(rules), cluster, at), None)
    advance(store, rules, cluster, at, [c for c in fired if c.severity == "page"])
    _minutes(store, cluster, [(ago, 100, 0) for ago in range(1, 61)])  # then an hour all good
    now = evaluate_slo(store, rules, _slo(rules), cluster, NOW)
    assert now.burn["1h"] == 0.0
    changes = advance(
        store, rules, cluster, NOW, [], lambda slo, severity: settled_annotations(now, rules, severity, None)
    )
    assert changes == ["resolved ErrorBudgetBurn pod-delivery page"]
    resolved = store.dicts("SELECT annotations FROM alerts FINAL WHERE cluster = {c:String}", c=cluster)[0]
    summary = resolved["annotations"]["summary"]
    assert "resolved" in summary and "0.0x over the last 1h" in summary and "30.0x" not in summary


def test_a_node_time_alert_names_the_nodes_behind_it(store, rules, cluster):
    from analyzer.lifecycle.facts import NodeFacts, NodeStatus
    from analyzer.lifecycle.sli_minutes import rebuild_node_minutes
    from podslo.timeutil import now_ms

    start = NOW - 28 * 86400_000
    nodes = {f"node-{i}": NodeFacts(f"node-{i}", start) for i in range(1, 6)}
    for node in nodes.values():
        node.timeline["Ready"] = [NodeStatus(start, "True", "KubeletReady", "")]
    nodes["node-4"].timeline["Ready"].append(NodeStatus(NOW - 60 * MIN, "False", "KubeletNotReady", "PLEG"))
    nodes["node-2"].timeline["DiskPressure"] = [NodeStatus(NOW - 10 * MIN, "True", "KubeletHasDiskPressure", "")]
    rebuild_node_minutes(store, cluster, nodes, start, NOW, now_ms())
    status = evaluate_slo(store, rules, _slo(rules, "node-availability"), cluster, NOW)
    assert status.burn["1h"] == pytest.approx((60 + 10) / 300 / 0.01)
    page = next(c for c in burn_conditions(store, rules, status, None) if c.severity == "page")
    description = page.annotations["description"]
    assert (
        "Nodes that could not take pods: node-4 60.0 min (NodeNotReady), node-2 10.0 min (DiskPressure)." in description
    )
    assert "NodeNotReady 60.0 min of node time (longest: node-4)" in description
