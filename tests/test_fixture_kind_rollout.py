"""The real recording from a kind cluster (shared/fixtures/kind-rollout)."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES

RECORDING = FIXTURES / "kind-rollout" / "recording.yaml"
pytestmark = pytest.mark.skipif(not RECORDING.exists(), reason="shared fixtures not beside the repo")


def test_kind_rollout_verdicts(ingest):
    tally = ingest(RECORDING.read_bytes())
    assert tally.taken == {"Pod": 4, "Event": 19}
    assert tally.skipped == {"unknown kind apps/v1/Deployment": 1, "unknown kind apps/v1/ReplicaSet": 2}
    pods = ingest.pods()
    new = pods["px-5d567cc74c-ss4lb"]
    # the newest timestamp in the recording is 09:43:07: 9 s after creation, deadline not reached
    assert new["outcome"] == "pending"
    assert new["phases"]["image_pull_s"] == pytest.approx(5.870196872, abs=1e-9)
    assert new["phases"]["scheduling_s"] == 0.0
    assert new["node"] == "kind-control-plane"
    assert pods["px-5d567cc74c-pmvzr"]["phases"]["image_pull_s"] == 0.0  # "already present on machine"
    for old in ("px-7df978b9bf-jm22q", "px-7df978b9bf-bfdrj"):
        pod = pods[old]
        assert pod["outcome"] == "success" and pod["delivery_s"] == 1.0
        assert pod["deletion"]["stuck"] is False and pod["deletion"]["gone_at"] is None
    # deletionTimestamp 09:43:36 minus the 30 s grace period
    assert pods["px-7df978b9bf-jm22q"]["deletion"]["requested_at"] == "2021-05-19T09:43:06.000Z"


def test_replaying_twice_changes_nothing(ingest, store):
    data = RECORDING.read_bytes()
    ingest(data)
    first_counts, first = store.row_counts(ingest.cluster), ingest.pods()
    ingest(data)
    assert store.row_counts(ingest.cluster) == first_counts
    assert ingest.pods() == first
    assert first_counts["raw_pods"] == 4 and first_counts["raw_events"] == 19
