"""Running an ASGI app on loopback from a background thread (services, tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

from podslo.errors import ListenError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def next_free_port(host: str, first: int) -> int:
    """`first`, or the next port up that nobody listens on (a port a person was told about)."""
    for port in range(first, first + 50):
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) != 0:
                return port
    raise OSError(f"no free port on {host} from {first} to {first + 49}")


def wait_http(url: str, alive=lambda: True, timeout_s: float = 60.0) -> bool:
    """Poll `url` until it answers 200 (False when the time runs out or `alive()` turns false)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


HEAD_S = 10.0  # a request head (line and headers) must arrive within this of its first byte


def listen_on(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or ListenError saying why not (taken, not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not a live listener's port: Linux refuses that
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve_app_in_thread(
    app, port: int = 0, host: str = "127.0.0.1", limit_concurrency: int | None = None, sock: socket.socket | None = None
):
    """Any ASGI app from a background uvicorn thread; returns (server, thread, url).
    `sock`: a socket already listening (see listen_on), else host:port is bound here and a
    port that cannot be had raises ListenError. `limit_concurrency`: connections and
    requests at once; past it, 503. A request head that trickles in slower than HEAD_S
    closes its connection."""
    import uvicorn

    if sock is None:
        sock = listen_on(host, port or free_port(host))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            http=_head_deadline(),
            limit_concurrency=limit_concurrency,
            timeout_keep_alive=5,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"http-{port}", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    return server, thread, f"http://{host}:{port}"


def _head_deadline():
    """uvicorn's h11 protocol, with a deadline on each request head (uvicorn has none: a
    client sending a byte now and then would hold its connection for ever)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline(H11Protocol):
        _head = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._head = self.loop.call_later(HEAD_S, self._too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is in
                self._disarm()
            elif self._head is None:  # a next request's head begins
                self._head = self.loop.call_later(HEAD_S, self._too_slow)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _disarm(self) -> None:
            if self._head is not None:
                self._head.cancel()
                self._head = None

        def _too_slow(self) -> None:
            self._head = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadDeadline
