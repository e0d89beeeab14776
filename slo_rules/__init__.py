"""Rule files (SLOs, deadlines, reason rules) and their validated loader."""

from slo_rules.loader import DEFAULT_FILE, Rule, Rules, load_rules

__all__ = ["DEFAULT_FILE", "Rule", "Rules", "load_rules"]
