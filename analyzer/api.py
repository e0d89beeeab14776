"""The HTTP API under /api/v1 (FastAPI): pydantic models are the contracts of DESIGN.md."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel

from analyzer.status import alert_dicts, healths, slo_statuses, startup_latency, terminating
from podslo.store import Store
from slo_rules import Rules


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
    budget_left: float
    budget_left_events: float
    burn: dict[str, float | None]
    events: dict[str, float]
    sli_by_window: dict[str, float | None]
    runs_out_at: int | None
    alerts: dict[str, str]
    health: Literal["Healthy", "Warning", "Fatal"]
    now: int


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


class StartupLatencyModel(BaseModel):
    cluster: str
    day: str
    pods: int
    p50_s: float
    p90_s: float
    p99_s: float


def make_api(store: Store, rules: Rules, clusters) -> FastAPI:
    """`clusters()`: the cluster names to report on."""
    api = FastAPI(title="podslo", version="1", openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)

    @api.get("/slos", response_model=list[SloStatusModel])
    def slos(cluster: str | None = None) -> list[dict]:
        names = [cluster] if cluster else clusters()
        health = healths(store, names)
        return [{**s.to_dict(), "health": health[s.cluster]} for s in slo_statuses(store, rules, names)]

    @api.get("/alerts", response_model=list[AlertModel])
    def alerts(cluster: str | None = None, state: Literal["firing", "resolved"] | None = None,
               limit: int = Query(500, ge=1, le=10_000)) -> list[dict]:
        return alert_dicts(store, cluster, state, limit)

    @api.get("/terminating", response_model=list[TerminatingModel])
    def leftover(cluster: str | None = None) -> list[dict]:
        return [row for name in ([cluster] if cluster else clusters()) for row in terminating(store, name)]

    @api.get("/startup-latency", response_model=list[StartupLatencyModel])
    def startup(cluster: str | None = None, days: int = Query(28, ge=1, le=366)) -> list[dict]:
        return [row for name in ([cluster] if cluster else clusters()) for row in startup_latency(store, name, days)]

    return api
