"""Running an ASGI app on loopback from a background thread (services, tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_app_in_thread(app, port: int = 0, host: str = "127.0.0.1", limit_concurrency: int | None = None):
    """Any ASGI app from a background uvicorn thread; returns (server, thread, url).
    `limit_concurrency`: connections and requests at once; past it, 503."""
    import uvicorn
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           limit_concurrency=limit_concurrency, timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, name=f"http-{port}", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    return server, thread, f"http://{host}:{port}"
