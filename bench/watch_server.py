"""The ingest benchmark's apiserver stand-in: `python -m bench.watch_server BODY PORT`.

It serves a pod watch as the apiserver writes one (HTTP/1.1, one chunk per event) from
a file framed in advance, with sendfile, so the server costs next to nothing and is
never what the collector waits on. Lists are empty at resourceVersion 1 (it refuses
streaming lists, as an apiserver without WatchList does); a later watch (the collector
resuming) stays open and quiet, as on a cluster where nothing happens.
"""

from __future__ import annotations

import socketserver
import sys
import threading

_JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
_WATCH = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
_LIST = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'
_VERSION = b'{"major":"1","minor":"31"}'
_INVALID = (
    b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
    b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422}',
)


def frame(event: bytes) -> bytes:
    """One watch event as its own HTTP chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


class _Handler(socketserver.StreamRequestHandler):
    served = threading.Event()
    body = ""

    def handle(self) -> None:
        while request := self.rfile.readline():
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # headers: nothing in them changes the answer
            target = request.split(b" ")[1] if request.count(b" ") >= 2 else b"/"
            if b"sendInitialEvents=true" in target:
                self.wfile.write(_INVALID[0] % len(_INVALID[1]) + _INVALID[1])
                continue
            if target.startswith(b"/api/v1/pods") and b"watch=true" in target:
                self._watch()
                continue
            answer = _LIST if target.startswith(b"/api/v1/pods") else _VERSION
            self.wfile.write(_JSON % len(answer) + answer)

    def _watch(self) -> None:
        self.wfile.write(_WATCH)
        if self.served.is_set():
            self.rfile.read()  # until the collector hangs up
            return
        self.served.set()
        with open(self.body, "rb") as body:
            self.request.sendfile(body)
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    _Handler.body, port = sys.argv[1], int(sys.argv[2])
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", port), _Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
