"""Where notifications go: the rule file's receivers and each `--webhook` URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from slo_rules import Rules
from slo_rules.loader import ReceiverSpec

WEBHOOK_SECRET_ENV = "PODSLO_WEBHOOK_SECRET"


@dataclass
class Receiver:
    name: str
    url: str
    severities: tuple[str, ...] = ("page", "ticket")
    send_resolved: bool = True
    secret: str | None = field(default=None, repr=False)  # signs its posts; never stored

    @classmethod
    def of(cls, spec: ReceiverSpec) -> Receiver:
        return cls(
            spec.name,
            spec.url,
            tuple(spec.severities),
            spec.send_resolved,
            os.environ.get(spec.secret_env) or None if spec.secret_env else None,
        )


def receivers_of(rules: Rules, webhook_urls: list[str]) -> list[Receiver]:
    """The rule file's receivers, and one per --webhook URL (every severity, its secret from
    PODSLO_WEBHOOK_SECRET)."""
    return [Receiver.of(spec) for spec in rules.spec.receivers] + [
        Receiver(f"webhook-{i + 1}", url, secret=os.environ.get(WEBHOOK_SECRET_ENV) or None)
        for i, url in enumerate(webhook_urls)
    ]
