"""`podslo`: one thin command line over the library; no SQL or rules in here."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from datetime import UTC
from pathlib import Path

import click
import orjson

from podslo.config import SIMULATED_PROBE_EVERY_S
from podslo.errors import PodsloError
from podslo.names import check_cluster_name, printable

DSN_HELP = "Store DSN: chdb://DIR (embedded, default ./data/podslo) or http://user:pass@host:8123/db. Env: PODSLO_DSN."
RULES_HELP = "Rule file (default: slo_rules/default.yaml)."


class Cli(click.Group):
    """Turns PodsloError into a one-line message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PodsloError as exc:
            raise click.ClickException(str(exc)) from None


def _store(dsn, migrate: bool = True, rules=None):
    """The store; commands that only read pass migrate=False (they never change its schema).
    With rules, the store keeps their retention."""
    from podslo.store import Store

    return Store(dsn, migrate=migrate, retention=rules.spec.retention.days() if rules else None)


def _rules(path):
    from slo_rules import load_rules

    return load_rules(path)


def _emit_json(items) -> None:
    out = sys.stdout.buffer
    for item in items:
        out.write(orjson.dumps(item) + b"\n")
    out.flush()


def _show(items, fmt: str, render) -> None:
    """JSON lines for tools, or `render(items)` for a person (control characters from the
    cluster shown as escapes, never obeyed by the terminal)."""
    if fmt == "json":
        _emit_json(items)
    else:
        click.echo(printable(render(items)))


def _cluster(ctx, param, value):
    """A --cluster value, checked where it enters."""
    if value is None:
        return value
    try:
        return check_cluster_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _show_figures(result: dict, fmt: str) -> None:
    _show([result], fmt, lambda items: "\n".join(f"{k:>24}: {v}" for k, v in items[0].items()))


def _reach_options(command):
    """How to reach the clusters to collect (collect and serve)."""
    for option in reversed(
        [
            click.option(
                "--clusters",
                "clusters_file",
                type=click.Path(dir_okay=False),
                help="YAML file of several clusters to collect in this one process (instead of --cluster).",
            ),
            click.option(
                "--kubeconfig",
                type=click.Path(dir_okay=False),
                help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
            ),
            click.option("--context", help="Kubeconfig context."),
            click.option("--in-cluster", is_flag=True, help="Use the pod's service account."),
            click.option("--server", help="API server URL, no authentication (e.g. a `podslo simulate`)."),
        ]
    ):
        command = option(command)
    return command


class JsonLogs(logging.Formatter):
    """One JSON object per record, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


@click.group(cls=Cli)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line, for log pipelines.",
)
@click.version_option(package_name="podslo")
def main(verbose: bool, log_format: str) -> None:
    """podslo: pod-delivery SLOs and lifecycle traces for Kubernetes."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLogs() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


@main.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option(
    "--cluster", callback=_cluster, default="default", show_default=True, help="Cluster name stored with every row."
)
@click.option("--dsn", help=DSN_HELP)
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--analyze/--no-analyze", default=True, show_default=True, help="Rebuild verdicts afterwards.")
@click.option("--quiet", is_flag=True, help="No progress or problem lines, only the summary.")
def replay(source, cluster, dsn, rules_path, analyze, quiet):
    """Ingest a recorded stream (FILE or - for stdin): watch events, objects, Lists, audit
    events; JSON lines, pretty-printed JSON or multi-document YAML."""
    from collector.replay import replay as run_replay

    rules = _rules(rules_path) if analyze else None
    store = _store(dsn)
    started = time.monotonic()
    if getattr(source, "name", "") == "<stdin>" and sys.stdin.isatty():
        click.echo(
            "reading a stream from standard input (end it with Ctrl-D), or give a FILE: podslo replay FILE", err=True
        )

    def problem(line, message):
        if not quiet:
            click.echo(printable(f"{getattr(source, 'name', '-')}: {message}"), err=True)

    def progress(values, position):
        if not quiet:
            click.echo(f"\r{values} values, {position / 1e6:.1f} MB read", err=True, nl=False)

    tally = run_replay(store, source, cluster, problem, progress)
    if not quiet and tally.taken.total() + tally.malformed > 0:
        click.echo("", err=True)
    click.echo(f"replayed into cluster {cluster!r} in {time.monotonic() - started:.1f}s: {tally.summary()}")
    if tally.malformed and not tally.taken.total():
        raise click.ClickException(
            f"nothing in {getattr(source, 'name', '-')} could be read: every value was malformed"
        )
    if analyze:
        _analyze(store, cluster, rules)


def _analyze(store, cluster, rules, full=False):
    from analyzer.lifecycle.verdicts import analyze as run_analyze

    started = time.monotonic()
    result = run_analyze(store, cluster, rules, full=full)
    how = "incrementally" if result.incremental else "fully"
    click.echo(
        f"analyzed cluster {cluster!r} {how}: {result.pods} pod verdicts, {result.nodes} node verdicts "
        f"in {time.monotonic() - started:.1f}s"
        + (f"; {result.outliers} timestamps far beyond the rest were not taken as 'now'" if result.outliers else "")
    )


@main.command()
@click.option("--cluster", callback=_cluster, help="Only this cluster (default: every cluster in the store).")
@click.option("--dsn", help=DSN_HELP)
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--every", type=float, help="Keep running: analyze again every this many seconds.")
@click.option("--full", is_flag=True, help="Decide every pod again, not only those that changed (after a rule change).")
def analyze(cluster, dsn, rules_path, every, full):
    """Bring pod and node verdicts up to date with the raw tables."""
    rules = _rules(rules_path)
    store = _store(dsn)
    while True:
        for name in [cluster] if cluster else store.clusters():
            _analyze(store, name, rules, full)
        if not every:
            return
        time.sleep(every)


@main.command()
@click.option(
    "--minutes",
    type=click.FloatRange(min=1),
    help="Simulate this many cluster minutes, print the summary and exit (no board).",
)
@click.option("--speed", default=30.0, show_default=True, help="Cluster seconds per wall second.")
@click.option("--profile", default="cni-outage", show_default=True, help="Failure profile of the simulated cluster.")
@click.option("--seed", default=7, show_default=True)
@click.option("--port", default=8080, show_default=True, help="The API's port (the next free one if taken).")
@click.option("--board-port", default=8501, show_default=True, help="The board's port (the next free one if taken).")
@click.option("--dsn", help=DSN_HELP)
def demo(minutes, speed, profile, seed, port, board_port, dsn):
    """The whole thing on one machine: a simulated cluster with an incident, `serve` collecting
    and analyzing it (SLOs, alerts, the API) and the board; prints their URLs and a summary,
    and serves until Ctrl-C (with --minutes: a bounded run that prints its summary and exits)."""
    from app.demo import run_demo
    from simulator.profile import load_profile

    load_profile(profile)  # a bad profile fails here, in one line
    try:
        run_demo(
            _store(dsn),
            _rules(None),
            minutes=minutes,
            speed=speed,
            profile=profile,
            seed=seed,
            api_port=port,
            board_port=board_port,
            say=click.echo,
        )
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@main.command()
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    callback=lambda ctx, p, v: [_cluster(ctx, p, c) for c in v],
    help="A cluster to report on (repeatable; default: every cluster the store holds).",
)
@click.option("--week", help="ISO week, e.g. 2026-W48 (default: the last whole week before the newest data).")
@click.option("--from", "start", help="Start of the period (ISO-8601 or unix seconds), with --to.")
@click.option(
    "--to",
    "to_values",
    multiple=True,
    help="End of the period (ISO-8601 or unix seconds), with --from; with --send, a recipient ADDRESS "
    "(repeatable; a value with an @ is an address).",
)
@click.option("--format", "fmt", type=click.Choice(["html", "text", "json"]), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write it here (default: stdout).")
@click.option("--send", is_flag=True, help="Mail it (HTML with its charts, and a text alternative).")
@click.option("--smtp", "smtp_address", help="SMTP server HOST:PORT, with --send.")
@click.option("--starttls", is_flag=True, help="Upgrade the SMTP connection with STARTTLS.")
@click.option("--ssl", "use_ssl", is_flag=True, help="Connect to the SMTP server over TLS.")
@click.option("--smtp-user", help="SMTP login (its password from PODSLO_SMTP_PASSWORD).")
@click.option("--sender", default="podslo@localhost", show_default=True, help="The From address.")
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--dsn", help=DSN_HELP)
def report(
    clusters,
    week,
    start,
    to_values,
    fmt,
    out,
    send,
    smtp_address,
    starttls,
    use_ssl,
    smtp_user,
    sender,
    rules_path,
    dsn,
):
    """The weekly report: every SLO this week and last, delivery and why it failed, deletion,
    nodes, probes, startup latency, new failure patterns, and this week's actions."""
    from app.report_command import run_report

    recipients = [v for v in to_values if "@" in v]
    ends = [v for v in to_values if "@" not in v]
    if len(ends) > 1:
        raise click.UsageError("--to: one end of the period at most (addresses have an @)")
    end = ends[0] if ends else None
    if send and not (recipients and smtp_address):
        raise click.UsageError("--send needs --to ADDRESS and --smtp HOST:PORT")
    if bool(start) != bool(end) or (week and start):
        raise click.UsageError("give --week, or --from with --to (or neither: the last whole week)")
    run_report(
        _store(dsn, migrate=False),
        _rules(rules_path),
        list(clusters),
        week=week,
        start=start,
        end=end,
        fmt=fmt,
        out=out,
        send=send,
        recipients=list(recipients),
        smtp_address=smtp_address,
        security="ssl" if use_ssl else "starttls" if starttls else "none",
        smtp_user=smtp_user,
        sender=sender,
        say=lambda text: click.echo(text, err=True),
    )


@main.command()
@click.option(
    "--api",
    "api_url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="podslo's API (the `serve` to read; or PODSLO_API).",
    envvar="PODSLO_API",
)
@click.option("--port", default=8501, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--api-token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="File holding the API's bearer token (or PODSLO_API_TOKEN).",
)
def board(api_url, port, address, api_token_file):
    """The board (Streamlit): SLOs, delivery, pod traces, workloads, nodes, Terminating pods and
    alerts, read from podslo's API."""
    import os

    from app.board import board_command, board_env

    click.echo(f"podslo board on http://{address}:{port} reading {api_url}/api/v1", err=True)
    command = board_command(port, address)
    # Streamlit takes this process's place, so a signal to it (SIGTERM, Ctrl-C) reaches the
    # board itself and nothing is left behind.
    os.execve(command[0], command, board_env(api_url, _token(api_token_file, "PODSLO_API_TOKEN")))


def _known_cluster(store, cluster: str | None) -> None:
    """An unknown --cluster is said to be unknown, with what the store holds."""
    if cluster and cluster not in store.clusters():
        held = ", ".join(store.clusters()) or "nothing yet"
        raise click.ClickException(f"no cluster {cluster!r} in the store (it holds: {held}; see `podslo clusters`)")


@main.command()
@click.option("--dsn", help=DSN_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def clusters(dsn, fmt):
    """The clusters the store holds: health, newest data, pods with verdicts."""
    from analyzer.alerting.health import cluster_rows
    from app.terminal import table

    store = _store(dsn, migrate=False)
    _show(
        cluster_rows(store, store.clusters()),
        fmt,
        lambda items: (
            table(
                ["CLUSTER", "HEALTH", "LAST DATA", "PODS"],
                [[c["name"], c["health"], c["last_data_at"], c["pods_seen"]] for c in items],
            )
            if items
            else "the store holds no cluster yet"
        ),
    )


@main.command()
@click.option("--cluster", callback=_cluster, help="Only this cluster.")
@click.option("--namespace", help="Only this namespace.")
@click.option("--outcome", type=click.Choice(["success", "failed", "timeout", "cancelled", "pending"]))
@click.option(
    "--attribution", type=click.Choice(["user", "system"]), help="Only pods failed by users or by the platform."
)
@click.option("--reason", help="Only pods with this reason code (delivery or stuck deletion).")
@click.option("--node", help="Only pods on this node.")
@click.option("--stuck", is_flag=True, help="Only pods whose deletion is stuck.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many, the newest.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--dsn", help=DSN_HELP)
def pods(cluster, namespace, outcome, attribution, reason, node, stuck, limit, fmt, dsn):
    """Per-pod verdicts (contract 2), the newest first."""
    from analyzer import read
    from app.terminal import pod_table

    store = _store(dsn, migrate=False)
    _known_cluster(store, cluster)
    items, _ = read.pod_page(
        store,
        cluster,
        limit or 2**31,
        newest_first=True,
        namespace=namespace,
        outcome=outcome,
        attribution=attribution,
        reason=reason,
        node=node,
        stuck=True if stuck else None,
    )
    several = len({p["cluster"] for p in items}) > 1
    _show(items, fmt, lambda rows: pod_table(rows, with_cluster=several))


@main.command()
@click.option("--cluster", callback=_cluster, help="Only this cluster.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--dsn", help=DSN_HELP)
def nodes(cluster, fmt, dsn):
    """Per-node availability, faults and repair needs (contract 2)."""
    from analyzer import read
    from app.terminal import node_table

    _show(read.nodes(_store(dsn, migrate=False), cluster), fmt, node_table)


@main.command()
@click.option("--cluster", callback=_cluster, help="Only this cluster.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--dsn", help=DSN_HELP)
def unknowns(cluster, fmt, dsn):
    """Unknown failures grouped into message patterns: new failure modes, by name."""
    from analyzer.read.patterns import unknown_patterns
    from app.terminal import table

    _show(
        unknown_patterns(_store(dsn, migrate=False), cluster),
        fmt,
        lambda items: table(
            ["COUNT", "WHAT", "PATTERN", "EXAMPLE POD", "CLUSTERS"],
            [[i["count"], i["what"], i["pattern"], i["example_pod"], ",".join(i["clusters"])] for i in items],
            {2: 100},
        ),
    )


@main.command()
@click.option("--cluster", callback=_cluster, help="Only this cluster.")
@click.option("--state", type=click.Choice(["firing", "resolved"]), help="Only alerts in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500), help="At most this many.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--dsn", help=DSN_HELP)
def alerts(cluster, state, limit, fmt, dsn):
    """Alerts, firing ones first, then the newest: what fires, since when, and why."""
    from analyzer.alerting.state import alert_dicts
    from app.terminal import table

    found = alert_dicts(_store(dsn, migrate=False), cluster, state, limit)
    found.sort(key=lambda a: a["status"] != "firing")  # stable: newest first within each state
    _show(
        found,
        fmt,
        lambda items: (
            table(
                ["CLUSTER", "STATUS", "SEVERITY", "ALERT", "SLO", "SINCE", "ENDED", "SUMMARY"],
                [
                    [
                        a["cluster"],
                        a["status"],
                        a["severity"],
                        a["alertname"],
                        a["slo"],
                        a["starts_at"],
                        a["ends_at"] or "-",
                        a["annotations"].get("summary", ""),
                    ]
                    for a in items
                ],
                {7: 100},
            )
            if items
            else "no alert" + (f" {state}" if state else "") + (f" in cluster {cluster}" if cluster else "")
        ),
    )


@main.command()
@click.argument("pod")
@click.option("--cluster", callback=_cluster, help="Cluster of the pod (needed when names repeat across clusters).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--dsn", help=DSN_HELP)
def trace(pod, cluster, fmt, rules_path, dsn):
    """One pod's timeline: phases, status changes, events, the rule that decided, and what to do."""
    from analyzer import read
    from analyzer.read.trace import build_trace, render_trace

    store = _store(dsn, migrate=False)
    found = build_trace(store, pod, cluster, _rules(rules_path))
    same = read.pods_named(store, pod, cluster)
    if len(same) > 1:  # a name, not a uid: say which one this is and what else bears it
        click.echo(
            printable(
                f"{len(same)} pods match {pod}; this is the newest "
                f"({found['verdict']['cluster']}, uid {found['verdict']['uid']}). The others: "
                + "; ".join(f"{p['cluster']} {p['namespace']}/{p['name']} uid {p['uid']}" for p in same[:-1][::-1][:10])
                + ". Name one by its uid or with --cluster."
            ),
            err=True,
        )
    _show([found], "json" if fmt == "json" else "text", lambda items: render_trace(items[0]))


@main.command()
@click.option(
    "--cluster",
    "cluster_name",
    callback=_cluster,
    default="sim",
    show_default=True,
    help="Cluster name (of the simulated cluster, or with --kubeconfig/--in-cluster/--server).",
)
@_reach_options
@click.option("--simulate", is_flag=True, help="Run a simulated cluster in this process and collect it.")
@click.option(
    "--no-collect",
    is_flag=True,
    help="Collect nothing: analyze, alert and serve every cluster the store "
    "holds (with a ClickHouse server, beside `podslo collect` processes).",
)
@click.option("--profile", default="default", show_default=True, help="Failure profile of the simulated cluster.")
@click.option("--speed", default=1.0, show_default=True, help="Simulated cluster seconds per wall second.")
@click.option("--seed", default=1, show_default=True, help="Seed of the simulated cluster.")
@click.option("--nodes", default=20, show_default=True, help="Nodes of the simulated cluster.")
@click.option(
    "--pods-per-minute", default=120.0, show_default=True, help="Pods the simulated cluster creates a minute."
)
@click.option(
    "--simulate-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop the simulated cluster's clock after this many cluster minutes (it then stays as it is).",
)
@click.option("--analyze-every", default=5.0, show_default=True, help="Seconds between analysis rounds (incremental).")
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="Address of the API (/api/v1), /metrics, /healthz and POST /audit.",
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    help="Alertmanager-style webhook URL for every severity (repeatable); signed with PODSLO_WEBHOOK_SECRET.",
)
@click.option(
    "--alertmanager",
    "alertmanagers",
    multiple=True,
    help="Alertmanager URL to push alerts to, as Prometheus does (POST /api/v2/alerts; repeatable; more, "
    "with credentials, under alertmanagers: in the rule file).",
)
@click.option(
    "--probe-every",
    type=float,
    help=f"Run a black-box probe pod every this many seconds (a simulated cluster: {SIMULATED_PROBE_EVERY_S:g}).",
)
@click.option(
    "--audit-token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="File holding the bearer token POST /audit requires (or PODSLO_AUDIT_TOKEN).",
)
@click.option(
    "--api-token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="File holding the bearer token every path but /healthz requires (or PODSLO_API_TOKEN).",
)
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--dsn", help=DSN_HELP)
def serve(
    cluster_name,
    clusters_file,
    kubeconfig,
    context,
    in_cluster,
    server,
    simulate,
    no_collect,
    profile,
    speed,
    seed,
    nodes,
    pods_per_minute,
    simulate_minutes,
    analyze_every,
    listen,
    webhooks,
    alertmanagers,
    probe_every,
    audit_token_file,
    api_token_file,
    rules_path,
    dsn,
):
    """The always-on service: collect (or simulate), analyze, keep SLOs, alert, serve the API."""
    import signal
    import threading

    from app.serve import run_serve
    from app.simulation import Simulation
    from collector.collect import ClusterSpec, load_cluster_specs

    reach = [bool(clusters_file), bool(kubeconfig or context or in_cluster or server), simulate, no_collect]
    if sum(reach) != 1:
        raise click.UsageError(
            "give one of --simulate, --clusters FILE, --no-collect, or --cluster NAME with "
            "--kubeconfig/--context, --in-cluster or --server"
        )
    rules = _rules(rules_path)
    specs = (
        load_cluster_specs(clusters_file)
        if clusters_file
        else []
        if simulate or no_collect
        else [ClusterSpec(cluster_name, kubeconfig, context, in_cluster, server)]
    )
    simulation = (
        Simulation(
            cluster_name, profile, speed, seed, nodes, pods_per_minute, for_s=simulate_minutes and simulate_minutes * 60
        )
        if simulate
        else None
    )
    if simulate:
        from simulator.profile import load_profile

        load_profile(profile)  # a bad profile fails here, in one line
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_serve(
        _store(dsn, rules=rules),
        rules,
        specs,
        stop,
        simulation=simulation,
        listen=listen,
        analyze_every=analyze_every,
        webhooks=webhooks,
        alertmanagers=alertmanagers,
        audit_token=_token(audit_token_file, "PODSLO_AUDIT_TOKEN"),
        api_token=_token(api_token_file, "PODSLO_API_TOKEN"),
        probe_every=probe_every or (SIMULATED_PROBE_EVERY_S if simulate else None),
        say=lambda text: click.echo(text, err=True),
    )


@main.group(invoke_without_command=True)
@click.option("--cluster", callback=_cluster, help="Only this cluster.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--rules", "rules_path", help=RULES_HELP)
@click.option("--dsn", help=DSN_HELP)
@click.pass_context
def slo(ctx, cluster, fmt, rules_path, dsn):
    """Each SLO: objective, current, budget left, burn per window, alert state, health."""
    if ctx.invoked_subcommand:
        return
    from analyzer import read
    from analyzer.alerting.evaluation import firing_now
    from analyzer.alerting.health import slo_rows
    from app.terminal import slo_table, table
    from podslo.formats import duration

    store, rules = _store(dsn, migrate=False), _rules(rules_path)
    clusters = [cluster] if cluster else store.clusters()
    firing = firing_now(store, rules, clusters)  # as serve would hold it now: alerts are evaluated, not just read
    _show(slo_rows(store, rules, clusters, firing), fmt, slo_table)
    if fmt == "table":
        stuck = [r for c in clusters for r in read.terminating(store, c)]
        click.echo(
            "\nleftover Terminating pods:\n"
            + (
                printable(
                    table(
                        ["CLUSTER", "REASON", "PODS", "OLDEST", "MEDIAN AGE", "EXAMPLE"],
                        [
                            [r["cluster"], r["reason"], r["pods"], duration(r["oldest_s"]), duration(r["median_s"])]
                            + [r["example"]]
                            for r in stuck
                        ],
                    )
                )
                if stuck
                else "none"
            )
        )
        days = [r for c in clusters for r in read.startup_latency(store, c, 7)]
        click.echo(
            "\npod startup latency (SIG-Scalability), seconds:\n"
            + table(
                ["CLUSTER", "DAY", "PODS", "P50", "P90", "P99"],
                [[r["cluster"], r["day"], r["pods"], r["p50_s"], r["p90_s"], r["p99_s"]] for r in days],
            )
        )


@slo.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["openslo", "prometheus-rules", "sloth", "pyrra"]),
    default="openslo",
    show_default=True,
    help="openslo: OpenSLO v1 documents; prometheus-rules: a Prometheus rule file (recording rules and "
    "multi-window burn-rate alerts); sloth: a Sloth prometheus/v1 spec; pyrra: Pyrra ServiceLevelObjectives. "
    "All but openslo's names read podslo serve's SLI counters (podslo_sli_events_total).",
)
@click.option("--rules", "rules_path", help=RULES_HELP)
def slo_export(fmt, rules_path):
    """Write the SLOs for other SLO tools (YAML on standard output)."""
    from slo_rules import prometheus
    from slo_rules.openslo import export_openslo

    rules = _rules(rules_path)
    if fmt == "openslo":
        click.echo(export_openslo(rules), nl=False)
        return
    made = {
        "prometheus-rules": prometheus.prometheus_rules,
        "sloth": prometheus.sloth_spec,
        "pyrra": prometheus.pyrra_objects,
    }[fmt](rules)
    click.echo(prometheus.dump(made), nl=False)


@main.command()
@click.option("--dsn", help=DSN_HELP)
@click.option("--rules", "rules_path", help=RULES_HELP + " Its `retention:` is applied.")
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the DDL this DSN's store is created with (statements ending in ';'), without connecting.",
)
def migrate(dsn, rules_path, print_only):
    """Bring the schema to its declaration (also done at every start) and the retention to the
    rule file's, and show it; `--print` shows the DDL instead (for a DSN with `?cluster=NAME`,
    the ClickHouse cluster layout)."""
    from podslo.config import parse_dsn, resolve_dsn
    from podslo.ddl import Layout, create_statements
    from podslo.schema import TABLES

    rules = _rules(rules_path)
    if print_only:
        target = parse_dsn(resolve_dsn(dsn))
        layout = Layout(target.database, target.cluster, rules.spec.retention.days())
        click.echo("".join(f"{statement};\n" for statement in create_statements(layout)), nl=False)
        return
    store = _store(dsn, rules=rules)
    for change in store.changes:
        click.echo(f"changed    {change}")
    for table in TABLES.values():
        click.echo(f"table      {table.name} ({len(table.lines)} columns)")
    for version, name in store.migrations():
        click.echo(f"migration  {version}: {name}")


@main.command("check-rules")
@click.argument("path", required=False)
def check_rules(path):
    """Validate a rule file and print what it holds."""
    rules = _rules(path)
    click.echo(
        f"{rules.source}: ok, {len(rules.spec.codes)} codes, {len(rules.reasons)} reason matchers, "
        f"{len(rules.stuck)} stuck matchers, {len(rules.spec.slos)} SLOs ({', '.join(s.name for s in rules.spec.slos)})"
    )


@main.command()
@click.option("--port", default=8001, show_default=True, help="Port to serve the Kubernetes API on.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--seed", default=1, show_default=True, help="Same seed and options, same cluster.")
@click.option("--nodes", default=20, show_default=True)
@click.option("--pods-per-minute", default=60.0, show_default=True)
@click.option("--speed", default=1.0, show_default=True, help="Cluster seconds per wall second.")
@click.option(
    "--profile",
    default="default",
    show_default=True,
    help="Failure profile: a name (default, busy, cni-outage, registry-slowdown, capacity-crunch) or a YAML file.",
)
@click.option("--until", "until", help="Run to this much cluster time (e.g. 30m) without serving, then exit.")
@click.option("--record", type=click.File("wb"), help="Write every change the API served, as `podslo replay` reads.")
@click.option(
    "--truth", "truth_file", type=click.File("wb"), help="Write what was injected per pod and node (JSON lines)."
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
    help="Cluster clock at start (UTC). Default: now when serving, 2026-03-02 for --until runs.",
)
def simulate(port, host, seed, nodes, pods_per_minute, speed, profile, until, record, truth_file, start):
    """A simulated cluster that speaks the Kubernetes API (kubectl and client-go clients work),
    with realistic stage timings and injected failures; the truth is kept beside it."""
    from datetime import datetime

    from analyzer.lifecycle.durations import parse_go_duration
    from simulator.engine import START, Engine
    from simulator.profile import load_profile
    from simulator.run import recorder, run_until, write_truth

    if start is None:
        start = START if until else datetime.now(UTC).replace(microsecond=0)
    engine = Engine(
        load_profile(profile),
        seed=seed,
        nodes=nodes,
        pods_per_minute=pods_per_minute,
        start=start.replace(tzinfo=UTC),
    )
    if record:
        engine.listeners.append(recorder(record))
    if until:
        try:
            seconds = parse_go_duration(until)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--until") from None
        started = time.monotonic()
        applied = run_until(engine, seconds)
        click.echo(
            f"simulated {until} of cluster time in {time.monotonic() - started:.1f}s: "
            f"{applied} changes, {len(engine.truth()['pods'])} pods",
            err=True,
        )
    else:
        from simulator.server import serve

        click.echo(
            f"serving a simulated cluster on http://{host}:{port} (profile {profile}, seed {seed}); "
            f"try: kubectl --server http://{host}:{port} get pods -A",
            err=True,
        )
        serve(engine, host, port, speed)
    if truth_file:
        write_truth(engine, truth_file)
    if record:
        record.flush()


@main.command()
@click.option("--cluster", callback=_cluster, help="Name stored with every row of this cluster.")
@_reach_options
@click.option(
    "--events-api",
    type=click.Choice(["core", "events.k8s.io"]),
    default="core",
    show_default=True,
    help="Which API to watch Events through (both serve the same Events).",
)
@click.option(
    "--resources",
    default="pods,nodes,events",
    show_default=True,
    help="What to list and watch (a subset of pods, nodes, events).",
)
@click.option("--batch-rows", default=5000, show_default=True, help="Write when this many rows are pending...")
@click.option("--flush-s", default=1.0, show_default=True, help="...or this many seconds have passed.")
@click.option(
    "--listen",
    default="127.0.0.1:9101",
    show_default=True,
    help="Address for /metrics, /healthz and the audit webhook (POST /audit); '' for none.",
)
@click.option("--probe-every", type=float, help="Also run a black-box probe pod every this many seconds.")
@click.option("--probe-namespace", default="podslo-probes", show_default=True)
@click.option(
    "--spool-dir",
    help="Where batches wait while the store is away (default: spool/ beside an embedded store, else "
    "$XDG_STATE_HOME/podslo/spool; a directory per cluster).",
)
@click.option("--spool-max-mb", default=512, show_default=True, help="Past this, stop reading (back-pressure).")
@click.option("--qps", default=5.0, show_default=True, help="Requests a second to each apiserver, on average...")
@click.option("--burst", default=10, show_default=True, help="...and at most this many at once.")
@click.option(
    "--audit-token-file",
    type=click.Path(dir_okay=False, exists=True),
    help="File holding the bearer token POST /audit requires (or set PODSLO_AUDIT_TOKEN); "
    "without one the audit webhook is off.",
)
@click.option("--dsn", help=DSN_HELP)
def collect(
    cluster,
    clusters_file,
    kubeconfig,
    context,
    in_cluster,
    server,
    events_api,
    resources,
    batch_rows,
    flush_s,
    listen,
    probe_every,
    probe_namespace,
    spool_dir,
    spool_max_mb,
    qps,
    burst,
    audit_token_file,
    dsn,
):
    """List+watch pods, nodes and events of a live cluster into the store, resuming where it left off;
    take the apiserver's audit webhook; serve Prometheus metrics."""
    import signal
    import threading

    from collector.collect import ClusterSpec, load_cluster_specs, run_collectors
    from podslo.store import lean_allocator

    lean_allocator()  # a collector alone: the lowest peak while it lists a large cluster
    if bool(cluster) == bool(clusters_file):
        raise click.UsageError("give either --cluster (with how to reach it) or --clusters FILE")
    specs = (
        load_cluster_specs(clusters_file)
        if clusters_file
        else [ClusterSpec(cluster, kubeconfig, context, in_cluster, server)]
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    wanted = [r.strip() for r in resources.split(",") if r.strip()]
    if not wanted or set(wanted) - {"pods", "nodes", "events"}:
        raise click.BadParameter(
            f"{resources!r}: a comma-separated subset of pods, nodes, events", param_hint="--resources"
        )
    resources = tuple(r if r != "events" or events_api == "core" else "events.k8s.io" for r in wanted)
    for collector in run_collectors(
        _store(dsn),
        specs,
        stop,
        resources=resources,
        batch_rows=batch_rows,
        flush_s=flush_s,
        listen=listen,
        probe_every=probe_every,
        probe_namespace=probe_namespace,
        spool_dir=spool_dir,
        spool_bytes=spool_max_mb << 20,
        audit_token=_token(audit_token_file, "PODSLO_AUDIT_TOKEN"),
        qps=qps,
        burst=burst,
        say=lambda text: click.echo(text, err=True),
    ):
        click.echo(
            f"stopped {collector.sink.cluster!r}: received {dict(collector.stats.received)}, "
            f"relists {dict(collector.stats.relists)} by {dict(collector.stats.list_form)} lists",
            err=True,
        )


def _token(path: str | None, env: str) -> str | None:
    """A bearer token from its file, else from the environment variable `env`."""
    token = Path(path).read_text(encoding="utf-8").strip() if path else os.environ.get(env, "").strip()
    if path and not token:
        raise click.UsageError(f"{path}: the token file is empty")
    return token or None


@main.command("collect-logs")
@click.argument("files", nargs=-1, required=True)
@click.option("--cluster", callback=_cluster, required=True, help="Cluster the logs come from.")
@click.option("--component", required=True, help="kubelet, kube-scheduler, containerd, ...")
@click.option("--node", default="", help="Node the logs come from (when the lines do not say).")
@click.option("--follow", is_flag=True, help="Keep reading appended lines, across rotations (like tail -F).")
@click.option("--year", type=int, help="Year of klog text lines, which carry none (default: this year).")
@click.option("--dsn", help=DSN_HELP)
def collect_logs_cmd(files, cluster, component, node, follow, year, dsn):
    """Read component logs (klog text or JSON, containerd) from FILES or - into the store;
    lines that name a pod show in its trace, and errors feed the rules."""
    import signal

    from collector.logs import collect_logs, read_lines

    missing = [f for f in files if f != "-" and not os.path.isfile(f)]
    if missing:
        raise click.ClickException(f"no such file: {missing[0]}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds, so what is held is written

    def problem(number: int, message: str) -> None:
        click.echo(printable(f"line {number}: {message}"), err=True)

    counts = collect_logs(_store(dsn), cluster, component, read_lines(list(files), follow), node, year, problem=problem)
    click.echo(
        f"logs of {component}: {counts['taken']} lines taken ({counts['about a pod']} about a pod), "
        f"{counts['skipped']} in no known format, {counts['bad']} with an unreadable time"
    )


@main.group()
def bench():
    """Benchmarks that print their figures (from a checkout: they are not in the wheel)."""
    _checkout_on_path()


def _checkout_on_path() -> None:
    """Make the checkout's bench/ importable (an editable install maps only the wheel's packages)."""
    if importlib.util.find_spec("bench") is not None:
        return
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__init__.py").is_file():
        raise click.ClickException("the benchmarks run from a checkout of podslo; they are not in the wheel")
    sys.path.insert(0, str(root))


@bench.command("verdicts")
@click.option("--pods", "count", default=100_000, show_default=True, help="Pods in the generated stream.")
@click.option("--seed", default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    help="Keep the ingested store here; a later run with the same --pods and --seed analyzes a copy of it.",
)
def bench_verdicts(count, seed, fmt, data):
    """Replay a generated stream of N pods into a fresh store and time ingest + analysis."""
    from bench.verdicts import run_verdict_bench

    _show_figures(run_verdict_bench(count, seed, data), fmt)


@bench.command("api")
@click.option("--pods", "count", default=1_000_000, show_default=True, help="Pods over the week.")
@click.option("--each", default=40, show_default=True, help="Requests timed per route.")
@click.option("--clients", type=click.IntRange(1, 500), help="Instead: this many clients at once against a live serve.")
@click.option("--seconds", default=60.0, show_default=True, help="With --clients: how long the load lasts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def bench_api(count, each, clients, seconds, fmt):
    """API latency (p50/p95) over HTTP on a store holding a week of --pods pods; with
    --clients, p50/p95/p99 and errors under load on a live `serve --simulate`, and its
    analysis round at rest and under the load."""
    if clients:
        from bench.api_load import run_api_load

        _show_figures(run_api_load(clients, seconds), fmt)
        return
    from bench.api import run_api_bench

    _show_figures(run_api_bench(count, each), fmt)


@bench.command("soak")
@click.option("--minutes", default=60.0, show_default=True, help="How long serve runs.")
@click.option("--speed", default=30.0, show_default=True, help="The simulated cluster's speed.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def bench_soak(minutes, speed, fmt):
    """`serve --simulate` for --minutes: its RSS each minute (flat after warm-up is the goal)."""
    from bench.soak import run_soak

    _show_figures(run_soak(minutes, speed, say=lambda line: click.echo(line, err=True)), fmt)


@bench.command("report")
@click.option("--pods", "count", default=1_000_000, show_default=True, help="Pods a week, over three clusters.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def bench_report(count, fmt):
    """The weekly report for a week of --pods pods in three clusters: build time, message size."""
    from bench.report import run_report_bench

    _show_figures(run_report_bench(count), fmt)


@bench.command("alert")
@click.option("--speed", default=10.0, show_default=True, help="Cluster seconds per wall second.")
@click.option("--pods-per-minute", default=120.0, show_default=True)
@click.option("--analyze-every", default=1.0, show_default=True, help="Seconds between analysis rounds.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench_alert(speed, pods_per_minute, analyze_every, fmt):
    """A CNI outage, served, collected, analyzed and paged in this process: cluster seconds from
    the page condition first holding (recomputed from the stored verdicts) to the webhook's arrival."""
    from bench.serve import run_alert_bench

    _show_figures(run_alert_bench(speed, pods_per_minute, analyze_every), fmt)


@bench.command("tick")
@click.option("--pods-per-minute", default=2000.0, show_default=True)
@click.option("--minutes", default=3.0, show_default=True, help="Wall minutes measured (after one to warm up).")
@click.option("--analyze-every", default=5.0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench_tick(pods_per_minute, minutes, analyze_every, fmt):
    """Serve's analysis round on a simulated cluster creating pods in real time: seconds a round
    takes, and the process's CPU share."""
    from bench.serve import run_tick_bench

    _show_figures(run_tick_bench(pods_per_minute, minutes, analyze_every), fmt)


@bench.command("ingest")
@click.option("--events", default=200_000, show_default=True, help="Pod watch events in the served stream.")
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Serve the stream this many times, each into a fresh store; the median round is shown.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench_ingest(events, rounds, fmt):
    """The collector's path from an HTTP watch into the store; prints events, wall_s, cpu_s, events_per_s."""
    from bench.ingest import run_ingest_bench

    _show_figures(run_ingest_bench(events, rounds), fmt)


@bench.command("relist")
@click.option("--pods", default=150_000, show_default=True, help="Live pods in the simulated cluster.")
@click.option("--nodes", default=5000, show_default=True)
@click.option(
    "--forms",
    default="paged,cache,streaming",
    show_default=True,
    help="List forms the simulated apiserver serves (paged: consistent from etcd; cache: resourceVersion=0; "
    "streaming: WatchList).",
)
@click.option("--steady-s", default=0.0, help="Then measure the requests of a moving cluster over this many seconds.")
@click.option(
    "--collector-root",
    type=click.Path(file_okay=False, exists=True),
    help="Run the collector of another checkout (for a before/after figure).",
)
@click.option("--resources", default="pods,nodes,events", show_default=True, help="What the collector lists.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench_relist(pods, nodes, forms, steady_s, collector_root, resources, fmt):
    """What listing a cluster of N pods from scratch costs: the collector's peak memory (its own
    process) and what the apiserver served, by verb and form."""
    from bench.relist import run_relist_bench

    _show_figures(
        run_relist_bench(
            pods,
            nodes,
            forms=tuple(forms.split(",")),
            steady_s=steady_s,
            collector_root=collector_root,
            resources=resources,
        ),
        fmt,
    )


@bench.command("simulator")
@click.option("--nodes", default=5000, show_default=True)
@click.option("--pods", default=150_000, show_default=True, help="Pods to create before measuring.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench_simulator(nodes, pods, fmt):
    """Memory of a large simulated cluster, and pod watch events it serves per CPU-second."""
    from bench.simulator import run_simulator_bench

    _show_figures(run_simulator_bench(nodes, pods), fmt)


if __name__ == "__main__":  # pragma: no cover
    main()
