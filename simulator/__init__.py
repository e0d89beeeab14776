"""Simulated Kubernetes cluster (objects, API, failure profiles)."""
