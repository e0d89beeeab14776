"""The HTTP API under /api/v1 (FastAPI): pydantic models are the contracts of DESIGN.md."""

from __future__ import annotations

import base64
import hmac
from typing import Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from analyzer import read
from analyzer.alerting.health import cluster_rows, slo_detail, slo_rows
from analyzer.alerting.state import alert_dicts
from analyzer.api.answers import Answers
from analyzer.lifecycle.facts import cluster_now
from podslo.errors import NotFound
from podslo.store import Store
from slo_rules import Rules

PREFIX = "/api/v1"
EPOCH_MAX = 4_102_444_800  # 2100-01-01: times are unix seconds from 0 to here
# What one request may cost, known before it runs (over it: 400 naming the bound).
SERIES_POINTS = 5000  # points of an SLO series
SERIES_SPAN_S = 400 * 86400  # from..to of an SLO series
STEP_MAX_S = 31 * 86400  # a series' or reasons' step
REASON_BINS = 10_000  # intervals of /reasons
OPEN_PATHS = ("/healthz", "/audit")  # /audit checks its own token


class Problem(BaseModel):
    detail: str


class SloStatusModel(BaseModel):
    slo: str
    cluster: str
    sli: str
    objective: float
    window: str
    description: str
    current: float | None
    good: float
    total: float
    budget_left: float | None  # None: nothing counted yet (no data is not a full budget)
    budget_left_events: float
    burn: dict[str, float | None]
    events: dict[str, float]
    sli_by_window: dict[str, float | None]
    runs_out_at: int | None
    alerts: dict[str, str]
    covered: float  # share of the SLO's window the data covers (budget_left expects the rest at this rate)
    covered_by_window: dict[str, float]  # the same per alert window (a burn is over the covered part)
    data_s: float | None  # seconds of data behind the figures; None: more than every window
    health: Literal["Healthy", "Warning", "Fatal", "Unknown"]
    now: int


class WindowPairModel(BaseModel):
    severity: str
    long: str
    short: str
    factor: float
    burn_long: float | None
    burn_short: float | None
    events_long: float
    state: str  # firing, inactive, or "waiting for data" (the data does not cover the short window yet)


class SpentReasonModel(BaseModel):
    reason: str
    events: int  # bad events over the SLO's window
    example: str
    means: str | None
    check: str | None


class SloDetailModel(SloStatusModel):
    window_s: float  # the SLO's window in seconds
    pairs: list[WindowPairModel]
    reasons: list[SpentReasonModel]  # what spent the budget, most first
    selector: dict  # the SLO's namespaces and labels (a tenant's SLO)
    min_events: int


class AlertModel(BaseModel):
    cluster: str
    fingerprint: str
    alertname: str
    slo: str
    severity: str
    status: Literal["firing", "resolved"]
    starts_at: str
    ends_at: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    notifications: int


class TerminatingModel(BaseModel):
    cluster: str
    reason: str
    pods: int
    oldest_s: float
    median_s: float
    example: str


class PercentilesModel(BaseModel):
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None


class StatefulStartupModel(PercentilesModel):
    pods: int


class StartupLatencyModel(PercentilesModel):
    """SIG-Scalability's pod startup latency of one cluster-day (stateless pods that needed no
    preemption), clusterloader2's phases of the same pods, and the stateful variant apart."""

    cluster: str
    day: str
    pods: int
    phases: dict[str, PercentilesModel]  # create_to_schedule, schedule_to_run, run_to_watch, pod_startup
    stateful: StatefulStartupModel


class SeriesPoint(BaseModel):
    at: int  # unix seconds
    sli: float | None  # over the SLO's window
    counted: float
    step_sli: float | None  # over the `step` ending at `at`
    step_counted: float
    budget_left: float | None  # None: nothing counted over the window
    covered: float  # share of the SLO's window the data covers (the budget expects the rest)
    burn: dict[str, float | None]  # per window


class ClusterModel(BaseModel):
    name: str
    health: Literal["Healthy", "Warning", "Fatal", "Unknown"]
    last_data_at: str | None
    pods_seen: int


class Phases(BaseModel):
    scheduling_s: float | None
    sandbox_s: float | None
    image_pull_s: float | None
    container_start_s: float | None
    readiness_s: float | None


class Deletion(BaseModel):
    requested_at: str | None
    gone_at: str | None
    stuck: bool
    reason: str | None
    evidence: str | None


class PodModel(BaseModel):
    """Contract 2: one pod's verdict."""

    cluster: str
    namespace: str
    name: str
    uid: str
    kind: Literal["service", "job"]
    created_at: str
    deadline_s: float
    outcome: Literal["success", "failed", "timeout", "cancelled", "pending"]
    attribution: Literal["user", "system"] | None
    reason: str | None
    evidence: str | None
    rule: str | None
    node: str | None
    delivery_s: float | None
    phases: Phases
    deletion: Deletion | None = None


class PodPage(BaseModel):
    items: list[PodModel]
    next_cursor: str | None  # pass as `cursor` for the next page; null at the end


class KubeletStartupModel(BaseModel):
    """The kubelet's startup figures of the node's pods against podslo's: a node whose
    figures disagree (clock skew, watch lag) has `disagreeing` > 0."""

    pods: int
    disagreeing: int
    median_diff_s: float


class NodeModel(BaseModel):
    """Contract 2: one node's availability over the window."""

    cluster: str
    name: str
    availability: float
    downtime_s: float
    faulty: bool
    reasons: list[str]
    needs_manual_repair: bool
    evidence: str | None
    window: dict[str, str | None]
    kubelet_startup: KubeletStartupModel | None = None


class WorkloadModel(BaseModel):
    cluster: str
    namespace: str
    kind: str
    name: str
    pods: int
    success: int
    failed_system: int
    failed_user: int
    pending: int
    success_rate: float | None  # delivered / (due - user failures)
    delivery_p50_s: float | None
    delivery_p99_s: float | None
    top_reason: str | None
    stuck_deletions: int


class LatencyModel(BaseModel):
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None


class PhaseModel(BaseModel):
    phase: Literal["scheduling", "sandbox", "image_pull", "container_start", "readiness"]
    p50_s: float | None
    p90_s: float | None


class NamespaceHurtModel(BaseModel):
    cluster: str
    namespace: str
    pods: int
    failed_system: int
    failed_user: int
    top_reason: str | None


class DeliveryModel(BaseModel):
    """Pods whose delivery was decided in [since, until), as the delivery SLI counts them."""

    cluster: str | None
    since: int
    until: int
    pods: int
    delivered: int
    failed_user: int
    failed_system: int
    cancelled: int
    success_rate: float | None  # delivered / (delivered + failed by the platform)
    latency: LatencyModel  # delivery time of delivered pods
    phases: list[PhaseModel]  # where the time went, among delivered pods
    namespaces: list[NamespaceHurtModel]  # the namespaces the platform failed most
    platform_reasons: list[FailingReasonModel]  # why the platform failed pods, most first, with what to do


class FailingReasonModel(BaseModel):
    reason: str
    pods: int
    first: int  # unix seconds: the first minute it failed a pod in the range
    last: int  # ... and the end of the last
    means: str | None  # the rule file's plain words for it, and the first thing to check
    check: str | None


class ReasonCountModel(BaseModel):
    cluster: str
    at: str  # start of the interval
    reason: str
    attribution: str
    pods: int


class UnknownPatternModel(BaseModel):
    count: int
    what: str
    pattern: str
    example_pod: str
    clusters: list[str]  # the clusters the pattern was seen in


def _cursor(key: tuple | None) -> str | None:
    return None if key is None else base64.urlsafe_b64encode(orjson.dumps(list(key))).decode()


def _after(cursor: str | None) -> tuple | None:
    if not cursor:
        return None
    try:
        created, cluster, uid = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(created), str(cluster), str(uid)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise HTTPException(400, "cursor: not one this API gave out") from None


def _within(what: str, value: float, bound: float, unit: str) -> None:
    """A request's cost, checked before it runs: over the bound is a 400 that names it."""
    if value > bound:
        raise HTTPException(400, f"{what} is {value:g}; at most {bound:g}{' ' + unit if unit else ''}")


def make_api(store: Store, rules: Rules, clusters, token: str | None = None, generation=None) -> FastAPI:
    """The API (`clusters()`: the cluster names to report on). With `token`, every path but
    /healthz (and /audit, which has its own) needs `Authorization: Bearer <token>`. With
    `generation()` (an id that changes whenever the analysis writes), answers are kept for
    as long as it stays the same (analyzer.api.answers)."""
    app = FastAPIOffline(  # the docs page's scripts and styles come from the package, not a CDN
        title="podslo",
        version="1",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        static_url=f"{PREFIX}/docs-assets",
    )
    api = APIRouter(
        prefix=PREFIX,
        responses={
            400: {
                "model": Problem,
                "description": "A parameter the API cannot use (a cursor it did not give out), or a request over a stated bound (the message names it).",
            },
            401: {"model": Problem, "description": "No or wrong bearer token (when a token is configured)."},
            404: {"model": Problem, "description": "No such cluster, pod or SLO."},
        },
    )

    def names(cluster: str | None) -> list[str]:
        known = clusters()
        if cluster and cluster not in known:
            raise HTTPException(404, f"no cluster {cluster!r}; the store holds {', '.join(known) or 'none'}")
        return [cluster] if cluster else known

    def newest_s(cluster: str | None) -> int:
        """The newest data's time among the clusters asked for (unix seconds)."""
        return max((cluster_now(store, c)[0] or 0 for c in names(cluster)), default=0) // 1000

    @api.get("/clusters", response_model=list[ClusterModel])
    def cluster_list() -> list[dict]:
        return cluster_rows(store, clusters())

    @api.get("/slos", response_model=list[SloStatusModel])
    def slos(cluster: str | None = None) -> list[dict]:
        return slo_rows(store, rules, names(cluster))

    @api.get("/slos/{name}", response_model=SloDetailModel)
    def slo_page(name: str, cluster: str) -> dict:
        """One SLO in one cluster: its status and health, each alert window pair with its burns
        and state, and the reasons that spent its budget over its window."""
        names(cluster)
        found = slo_detail(store, rules, name, cluster)
        if found is None:
            raise HTTPException(404, f"no SLO {name!r} with data in cluster {cluster!r}")
        return found

    @api.get("/slos/{name}/series", response_model=list[SeriesPoint])
    def slo_series(
        name: str,
        cluster: str,
        to: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds (default: now)"),
        since: int | None = Query(
            None, alias="from", ge=0, le=EPOCH_MAX, description="unix seconds (default: to - 7 days)"
        ),
        step: int = Query(3600, ge=60, description=f"seconds (at most {STEP_MAX_S})"),
    ) -> list[dict]:
        """The SLO over time: SLI over its window, budget left and burn per window, every `step`
        (at most 5,000 points over at most 400 days)."""
        from analyzer.slo.evaluate import series

        slo = next((s for s in rules.spec.slos if s.name == name), None)
        if slo is None:
            raise HTTPException(404, f"no SLO {name!r}; the rules hold {', '.join(s.name for s in rules.spec.slos)}")
        names(cluster)
        until = to if to is not None else (cluster_now(store, cluster)[0] or 0) // 1000
        start = since if since is not None else until - 7 * 86400
        if start > until:
            raise HTTPException(400, "from must not be after to")
        _within("step", step, STEP_MAX_S, "seconds")
        _within("to - from", until - start, SERIES_SPAN_S, "seconds (400 days)")
        _within("points ((to - from) / step + 1)", (until - start) // step + 1, SERIES_POINTS, "")
        return series(store, rules, slo, cluster, start, until, step)

    @api.get("/alerts", response_model=list[AlertModel])
    def alerts(
        cluster: str | None = None,
        state: Literal["firing", "resolved"] | None = None,
        limit: int = Query(500, ge=1, le=10_000),
    ) -> list[dict]:
        return alert_dicts(store, cluster, state, limit)

    @api.get("/pods", response_model=PodPage)
    def pods(
        cluster: str | None = None,
        namespace: str | None = None,
        outcome: Literal["success", "failed", "timeout", "cancelled", "pending"] | None = None,
        attribution: Literal["user", "system"] | None = None,
        reason: str | None = None,
        node: str | None = None,
        stuck: bool | None = None,
        since: float | None = Query(None, ge=0, le=EPOCH_MAX, description="created at or after (unix seconds)"),
        until: float | None = Query(None, ge=0, le=EPOCH_MAX, description="created before (unix seconds)"),
        limit: int = Query(100, ge=1, le=5000),
        cursor: str | None = None,
    ) -> dict:
        items, key = read.pod_page(
            store,
            cluster,
            limit,
            _after(cursor),
            namespace=namespace,
            outcome=outcome,
            attribution=attribution,
            reason=reason,
            node=node,
            stuck=stuck,
            since=since,
            until=until,
        )
        return {"items": items, "next_cursor": _cursor(key)}

    @api.get("/pods/{uid}/trace")
    def trace(uid: str, cluster: str | None = None) -> dict[str, Any]:
        from analyzer.read.trace import build_trace

        return build_trace(store, uid, cluster, rules)

    @api.get("/workloads", response_model=list[WorkloadModel])
    def workloads(
        cluster: str | None = None,
        namespace: str | None = None,
        limit: int = Query(200, ge=1, le=10_000),
        since: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds: pods created from"),
        until: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds: ... until"),
    ) -> list[dict]:
        """Each Deployment, StatefulSet, Job, ... with its pods' verdicts rolled up, worst first
        (its pods created in [since, until) when given)."""
        return read.workloads(store, cluster, namespace, limit, since, until)

    @api.get("/reasons", response_model=list[ReasonCountModel])
    def reasons(
        cluster: str | None = None,
        since: float | None = Query(None, ge=0, le=EPOCH_MAX),
        until: float | None = Query(None, ge=0, le=EPOCH_MAX),
        step: int = Query(3600, ge=60, description=f"seconds (at most {STEP_MAX_S})"),
    ) -> list[dict]:
        """Pods not delivered, by reason and attribution, per interval of `step` seconds, from
        `since` to `until` (default: the 7 days up to the newest data; at most 10,000 intervals)."""
        _within("step", step, STEP_MAX_S, "seconds")
        end = until if until is not None else newest_s(cluster) + 1
        start = since if since is not None else max(end - 7 * 86400, 0)
        _within("intervals ((until - since) / step)", -(-(end - start) // step), REASON_BINS, "")
        return read.reason_counts(store, cluster, start, end, step)

    @api.get("/delivery", response_model=DeliveryModel)
    def delivery(
        cluster: str | None = None,
        since: int | None = Query(None, ge=0, le=EPOCH_MAX),
        until: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds (default: now)"),
        limit: int = Query(10, ge=1, le=1000, description="namespaces listed"),
    ) -> dict:
        """Delivery over a time range (default: the last 7 days): counts, success rate, latency
        percentiles, phase breakdown, the namespaces that hurt most."""
        end = until if until is not None else newest_s(cluster) + 1
        start = since if since is not None else max(end - 7 * 86400, 0)
        found = read.delivery(store, cluster, start, end, limit)
        failing = [
            {**r, "means": None, "check": None, **(rules.explain(r["reason"]) or {})} for r in found["platform_reasons"]
        ]
        return {**found, "platform_reasons": failing}

    @api.get("/nodes", response_model=list[NodeModel])
    def nodes(
        cluster: str | None = None,
        since: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds"),
        until: int | None = Query(None, ge=0, le=EPOCH_MAX, description="unix seconds (default: now)"),
    ) -> list[dict]:
        """Each node's verdict; with `since`, its availability, downtime and reasons over
        [since, until) from the node-time SLI's minutes (faulty and repair: as of now)."""
        if since is None:
            return read.nodes(store, cluster)
        end = until if until is not None else newest_s(cluster) + 1
        if end <= since:
            raise HTTPException(400, "until must be after since")
        return read.nodes(store, cluster, since, end)

    @api.get("/terminating", response_model=list[TerminatingModel])
    def leftover(cluster: str | None = None) -> list[dict]:
        return [row for name in names(cluster) for row in read.terminating(store, name)]

    @api.get("/startup-latency", response_model=list[StartupLatencyModel])
    def startup(cluster: str | None = None, days: int = Query(28, ge=1, le=366)) -> list[dict]:
        return [row for name in names(cluster) for row in read.startup_latency(store, name, days)]

    @api.get("/unknowns", response_model=list[UnknownPatternModel])
    def unknowns(cluster: str | None = None) -> list[dict]:
        from analyzer.read.patterns import unknown_patterns

        return unknown_patterns(store, cluster)

    app.include_router(api)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    if generation is not None:
        app.add_middleware(Answers, generation=generation)

    if token:

        @app.middleware("http")
        async def bearer(request: Request, call_next):
            if not request.url.path.startswith(OPEN_PATHS):
                scheme, _, given = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                    return JSONResponse(
                        {"detail": "bearer token required"},
                        status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="podslo"'},
                    )
            return await call_next(request)

    return app
