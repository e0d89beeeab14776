"""The board's only way to the data: podslo's HTTP API (in embedded mode `serve` owns the store)."""

from __future__ import annotations

import os
from datetime import datetime

import httpx

API_ENV, TOKEN_ENV = "PODSLO_API", "PODSLO_API_TOKEN"
DEFAULT_API = "http://127.0.0.1:8080"


class ApiError(Exception):
    """The API could not be reached or refused a request; the text says which and why."""


class Api:
    def __init__(self, base: str | None = None, token: str | None = None, timeout_s: float = 30.0):
        self.base = (base or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{self.base}/api/v1", headers=headers, timeout=timeout_s)

    def get(self, path: str, **params):
        """GET an API path; parameters that are None are left out."""
        try:
            answer = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise ApiError(
                f"podslo's API at {self.base} cannot be reached ({exc.__class__.__name__}): is `podslo serve` running?"
            ) from None
        if answer.status_code != 200:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = answer.text[:200]
            raise ApiError(f"{path}: {answer.status_code} {detail}")
        return answer.json()


def epoch(iso_text: str | None) -> int | None:
    """Unix seconds of one of the API's ISO-8601 times."""
    return None if not iso_text else int(datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp())
