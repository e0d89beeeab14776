"""podslo: pod-delivery SLOs and lifecycle traces for Kubernetes.

Shared pieces live here: configuration, errors, time parsing, the storage client
and its schema, and the `podslo` command line.
"""

__version__ = "0.1.0"
