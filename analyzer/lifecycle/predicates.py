"""The SQL predicates every reader of verdicts shares: what counts as a failure, and whose.

A failure with no attribution counts against the platform: podslo only excuses what it can
pin on the user.
"""

from __future__ import annotations

FAILED = "outcome IN ('failed', 'timeout')"
FAILED_SYSTEM = f"{FAILED} AND ifNull(attribution, '') != 'user'"
FAILED_USER = f"{FAILED} AND attribution = 'user'"
UPGRADE_FAILED_SYSTEM = "upgrade_outcome = 'failed' AND ifNull(upgrade_attribution, '') != 'user'"


def with_failures(sql: str) -> str:
    """`sql` with its /*system*/ and /*user*/ placeholders filled with the predicates above."""
    return sql.replace("/*system*/", FAILED_SYSTEM).replace("/*user*/", FAILED_USER)
