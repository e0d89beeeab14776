"""Go `time.Duration` strings (what the kubelet prints) and the kubelet's Pulled message."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
UNITS = "ns|us|µs|μs|ms|s|m|h"  # longest first where one is the start of another (ms before m)
NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_PART = re.compile(rf"({NUMBER})({UNITS})")
_DURATION = rf"(?:[0-9.]+(?:{UNITS}))+"
# kubelet (pkg/kubelet/images/image_manager.go), every form it has printed:
#   Successfully pulled image "nginx" in 5.870196872s
#   Successfully pulled image "nginx" in 1.315633737s (1.315641898s including waiting)
#   Successfully pulled image "nginx" in 1m0.809s (1m0.809s including waiting). Image size: 187694648 bytes.
PULLED = re.compile(
    rf'^Successfully pulled image "(?P<image>[^"]*)" in (?P<pull>{_DURATION})'
    rf"(?: \((?P<waiting>{_DURATION}) including waiting\))?"
)


def parse_go_duration(text: str) -> float:
    """`1m0.809s` -> 60.809 seconds; `717ms` -> 0.717. Raises ValueError otherwise."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        raise ValueError(f"not a Go duration: {text!r}")
    return sign * total


def pulled_seconds(message: str) -> float | None:
    """Seconds the pod waited for one image, from a Pulled message (None if it has none).

    The "including waiting" figure counts the time queued behind other pulls, which
    the pod waited too, so it is preferred when present.
    """
    match = PULLED.match(message)
    if not match:
        return None
    try:
        return parse_go_duration(match.group("waiting") or match.group("pull"))
    except ValueError:  # digits and dots the pattern admits that are no duration ("1.2.3s")
        return None
