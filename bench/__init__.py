"""Benchmarks that print their figures (`podslo bench ...`). They run from a checkout and are
not in the wheel; README's performance section holds the figures they gave."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout: `python -m bench.X` runs from here
