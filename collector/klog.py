"""Component log lines -> (time, severity, pod, message): klog text and JSON (kubelet,
kube-scheduler), and containerd's logrus lines.

klog text:  I0519 09:42:58.123456    1234 kubelet.go:2187] "SyncLoop ADD" source="api" pods=["default/web-1"]
klog JSON:  {"ts":1621417378.123,"caller":"kubelet/pod_workers.go:965","msg":"Error syncing pod, skipping","pod":{"name":"web-1","namespace":"default"},"podUID":"5c1e..."}
containerd: time="2021-05-19T09:42:58.123456789Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:web-1,Uid:5c1e...,Namespace:default,Attempt:0,} failed, error" error="..."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from podslo.timeutil import parse_ms

KLOG = re.compile(r"^([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s+\d+\s+([^\]]+)\]\s?(.*)$")
LOGRUS = re.compile(r'^time="([^"]+)"\s+level=(\w+)\s+msg="((?:[^"\\]|\\.)*)"(.*)$')
SEVERITY = {"I": "info", "W": "warning", "E": "error", "F": "fatal"}
# How a line names its pod, most specific first.
POD_FORMS = [
    re.compile(r'\bpod="(?P<ns>[^"/]+)/(?P<name>[^"]+)"'),  # structured: pod="ns/name"
    re.compile(r'\bpods=\["(?P<ns>[^"/]+)/(?P<name>[^"]+)"'),  # pods=["ns/name", ...]
    re.compile(r'\bpod "(?P<name>[^"_]+)_(?P<ns>[^"(]+)\((?P<uid>[0-9a-f-]{36})\)"'),  # format.Pod: name_ns(uid)
    re.compile(r"PodSandboxMetadata\{Name:(?P<name>[^,]+),Uid:(?P<uid>[^,]+),Namespace:(?P<ns>[^,]+),"),  # containerd
    re.compile(r'\bpod "(?P<ns>[^"/]+)/(?P<name>[^"]+)"'),  # free text: pod "ns/name"
]
UID = re.compile(r'\bpodUID="?(?P<uid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})')
NODE = re.compile(r'\bnode="(?P<node>[^"]+)"')


@dataclass(slots=True)
class LogLine:
    at: int
    severity: str
    namespace: str
    name: str
    uid: str
    node: str
    message: str


def parse_line(line: str, year: int) -> LogLine | None:
    """One log line, or None if it is in no format we know."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        return _json_line(line)
    match = KLOG.match(line)
    if match:
        sev, month, day, hh, mm, ss, micro, _caller, text = match.groups()
        moment = datetime(year, int(month), int(day), int(hh), int(mm), int(ss), int(micro), tzinfo=UTC)
        return _with_refs(int(moment.timestamp() * 1000), SEVERITY[sev], text, text)
    match = LOGRUS.match(line)
    if match:
        stamp, level, text, rest = match.groups()
        return _with_refs(parse_ms(stamp), level.lower(), text.replace('\\"', '"') + rest, line)
    return None


def _json_line(line: str) -> LogLine | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or "ts" not in data or "msg" not in data:
        return None
    at = int(float(data["ts"]) * 1000)
    severity = "error" if "err" in data else "info"
    pod = data.get("pod") if isinstance(data.get("pod"), dict) else {}
    text = str(data["msg"]) + (f' err="{data["err"]}"' if "err" in data else "")
    result = _with_refs(at, severity, text, line)
    if pod:
        result.namespace, result.name = str(pod.get("namespace", "")), str(pod.get("name", ""))
    if isinstance(data.get("podUID"), str):
        result.uid = data["podUID"]
    if isinstance(data.get("node"), (str, dict)):
        node = data["node"]
        result.node = node.get("name", "") if isinstance(node, dict) else node
    return result


def _with_refs(at: int, severity: str, message: str, searched: str) -> LogLine:
    namespace = name = uid = node = ""
    for form in POD_FORMS:
        match = form.search(searched)
        if match:
            groups = match.groupdict()
            namespace, name, uid = groups.get("ns", ""), groups.get("name", ""), groups.get("uid") or ""
            break
    if not uid and (match := UID.search(searched)):
        uid = match.group("uid")
    if match := NODE.search(searched):
        node = match.group("node")
    return LogLine(at, severity, namespace, name, uid, node, message[:4000])
