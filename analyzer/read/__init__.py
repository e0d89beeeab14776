"""Read models: verdicts as the CLI, the API and the report show them. Callers write
`read.pods(...)`, `read.delivery(...)`."""

from analyzer.read.rollups import (
    delivery,
    down_nodes,
    platform_reasons,
    reason_counts,
    startup_latency,
    terminating,
    top_reasons,
    workloads,
)
from analyzer.read.verdicts import kubelet_startup_check, nodes, pod, pod_page, pods, pods_named

__all__ = [
    "delivery",
    "down_nodes",
    "kubelet_startup_check",
    "nodes",
    "platform_reasons",
    "pod",
    "pod_page",
    "pods",
    "pods_named",
    "reason_counts",
    "startup_latency",
    "terminating",
    "top_reasons",
    "workloads",
]
