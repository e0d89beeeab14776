"""The Alertmanager webhook payload (version 4) for one alert row."""

from __future__ import annotations

from podslo.timeutil import iso

NEVER = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


def payload(row: dict, receiver: str, external_url: str) -> dict:
    """The Alertmanager webhook payload, version 4, for one alert."""
    labels, annotations = dict(row["labels"]), dict(row["annotations"])
    group = {k: labels[k] for k in ("alertname", "cluster", "slo") if k in labels}
    alert = {
        "status": row["status"],
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(row["starts_at"]),
        "endsAt": iso(row["ends_at"]) if row["ends_at"] else NEVER,
        "generatorURL": f"{external_url.rstrip('/')}/api/v1/alerts?cluster={row['cluster']}",
        "fingerprint": row["fingerprint"],
    }
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in sorted(group.items())) + "}",
        "truncatedAlerts": 0,
        "status": row["status"],
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [alert],
    }
