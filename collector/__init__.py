"""Collector: input streams, API watchers and the batching writer into the raw tables."""
