"""Failure profiles: YAML files of story weights, stage timings, node fault rates and
incidents, validated at load (a `base:` profile is merged under the file)."""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from podslo.errors import ConfigError

PROFILE_DIR = Path(__file__).with_name("profiles")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spread(_Strict):
    """A lognormal duration given by its median and 99th percentile (long tail)."""

    median: float = Field(gt=0)
    p99: float = Field(gt=0)
    cached_share: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Spread:
        if self.p99 < self.median:
            raise ValueError("p99 must not be below the median")
        return self

    def sample(self, rng) -> float:
        if self.cached_share and rng.random() < self.cached_share:
            return 0.0
        sigma = (math.log(self.p99) - math.log(self.median)) / 2.326
        return rng.lognormvariate(math.log(self.median), sigma)


class Timings(_Strict):
    schedule: Spread
    sandbox: Spread
    pull: Spread
    start: Spread
    ready: Spread


class NodeFaults(_Strict):
    heartbeat_s: float = Field(300, gt=0)
    not_ready_per_node_day: float = Field(0, ge=0)
    recover_share: float = Field(1, ge=0, le=1)
    reporting_share: float = Field(0.3, ge=0, le=1)  # of those: kubelet still reports, Ready=False
    down_s: Spread
    pressure_per_node_day: float = Field(0, ge=0)
    pressure_s: Spread
    missing_daemonset_per_node_day: float = Field(0, ge=0)
    missing_daemonset_s: Spread


class Incident(_Strict):
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    story: str | None = None  # replace healthy pods' stories with this one...
    replace_share: float = Field(1.0, ge=0, le=1)  # ...for this share of them
    node_share: float = Field(1.0, gt=0, le=1)  # ...placed on this share of the nodes
    pull_factor: float = Field(1.0, ge=1)  # pulls take this many times longer

    def active(self, seconds: float) -> bool:
        return self.start_s <= seconds < self.start_s + self.duration_s


class Profile(_Strict):
    version: int = Field(1, ge=1, le=1)
    name: str = ""
    description: str = ""
    stories: dict[str, float]
    timings: Timings
    nodes: NodeFaults
    incidents: list[Incident] = []

    @model_validator(mode="after")
    def _known_stories(self) -> Profile:
        from simulator.stories import STORIES

        names = set(self.stories) | {i.story for i in self.incidents if i.story}
        unknown = sorted(names - set(STORIES))
        if unknown:
            raise ValueError(f"unknown stories {unknown}; known: {sorted(STORIES)}")
        return self


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (simulator/profiles/NAME.yaml) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError:
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise ConfigError(f"no profile {name_or_path!r} (known: {', '.join(known)})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and data.get("base"):
        base = yaml.safe_load((PROFILE_DIR / f"{data.pop('base')}.yaml").read_text())
        data = {**base, **data}
    try:
        profile = Profile.model_validate({**data, "name": data.get("name") or path.stem})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "file"
        raise ConfigError(f"{path}: {field}: {first['msg']}") from None
    return profile


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
