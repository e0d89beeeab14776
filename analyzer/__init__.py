"""Lifecycle rebuild, classification and verdicts (later: SLIs, budgets, alerts, API)."""
