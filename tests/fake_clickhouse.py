"""A loopback ClickHouse HTTP endpoint for tests, since no ClickHouse server can be installed
on these machines: chDB (ClickHouse's own engine) answers the SELECTs in the format asked for,
other statements succeed, and, as a ClickHouse server does, a second query on a session that
is still running one is refused with SESSION_IS_LOCKED. Each request takes `delay_s`, so
concurrent ones overlap.

    python -m tests.fake_clickhouse PORT [DELAY_S]
"""

from __future__ import annotations

import http.server
import re
import sys
import threading
import time
from urllib.parse import parse_qs, urlparse

import chdb

_FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*$", re.IGNORECASE)
LOCKED = b"Code: 373. DB::Exception: Session is locked by a concurrent client. (SESSION_IS_LOCKED)\n"


def serve(port: int, delay_s: float) -> None:
    active: set[str] = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            session = (parse_qs(urlparse(self.path).query).get("session_id") or [""])[0]
            with lock:
                busy = bool(session) and session in active
                if session and not busy:
                    active.add(session)
            if busy:
                return self._send(500, LOCKED)
            try:
                time.sleep(delay_s)
                found = _FORMAT.search(body)
                if body.lstrip().upper().startswith("SELECT"):
                    fmt = found.group(1) if found else "TabSeparated"
                    self._send(200, chdb.query(_FORMAT.sub("", body), fmt).bytes())
                else:
                    self._send(200, b"")
            finally:
                with lock:
                    active.discard(session)

        do_GET = do_POST

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
