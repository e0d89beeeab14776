"""Watch lines read straight off a chunked HTTP body (or through urllib3 when not): whole
however chunks and reads cut them, bad framing refused, and a real response read this way."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager

import pytest
from urllib3.exceptions import ProtocolError

from bench.ingest import _wait_up
from bench.watch_server import frame
from collector.chunked import chunked_line_batches
from collector.source import KubeSource, _chunked_body, _line_batches
from podslo.webserver import free_port

LINES = [b'{"type":"ADDED","object":{"n":%d,"pad":"%s"}}' % (i, b"x" * (i * 37 % 300)) for i in range(40)]


def chunked(*chunks: bytes, ext: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(c), ext, c) for c in chunks) + b"0\r\n\r\n"


def read_all(body: bytes, cut: int) -> list[list[bytes]]:
    reads = iter([body[i : i + cut] for i in range(0, len(body), cut)] + [b""])
    return list(chunked_line_batches(lambda: next(reads)))


FRAMINGS = {
    "an event a chunk": chunked(*(line + b"\n" for line in LINES)),
    "several lines a chunk": chunked(b"\n".join(LINES[:20]) + b"\n", b"\n".join(LINES[20:]) + b"\n"),
    "lines spread over chunks": chunked(
        *[(b"\n".join(LINES) + b"\n")[i : i + 50] for i in range(0, len(b"\n".join(LINES)) + 1, 50)]
    ),
    "blank lines and no last newline": chunked(b"\n\n", b"\n".join(LINES[:-1]) + b"\n  \n", LINES[-1]),
    "chunk extensions": chunked(*(line + b"\n" for line in LINES), ext=b";name=value"),
}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_lines_are_whole_however_chunks_and_reads_cut_them(framing):
    body = FRAMINGS[framing]
    for cut in (1, 2, 3, 7, 100, 4096, len(body)):
        batches = read_all(body, cut)
        assert [line for batch in batches for line in batch] == LINES, (framing, cut)
        assert all(batches)


def test_trailers_after_the_last_chunk_are_not_read():
    body = chunked(LINES[0] + b"\n")[:-2] + b"X-Trailer: yes\r\n\r\n"
    assert read_all(body, 5) == [[LINES[0]]]


@pytest.mark.parametrize(
    "body, why",
    [
        (b"zz\r\n{}\r\n", "bad chunk size"),
        (b"-5\r\n{}\r\n", "bad chunk size"),
        (b"7" * 2000, "bad chunk header"),
        (chunked(LINES[0] + b"\n")[:-5], "ended inside"),
        (chunked(LINES[0] + b"\n")[:30], "ended inside"),
    ],
)
def test_bad_framing_is_an_error_naming_it(body, why):
    with pytest.raises(ProtocolError, match=why):
        read_all(body, 64)


@contextmanager
def served(tmp_path, body: bytes):
    """The benchmark's stream server serving `body` (framed chunks); its address."""
    stream = tmp_path / "watch.chunked"
    stream.write_bytes(body)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.watch_server", str(stream), str(port)])
    try:
        _wait_up(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait(10)


def test_a_real_watch_response_is_read_off_its_chunks(tmp_path):
    with served(tmp_path, b"".join(frame(line + b"\n") for line in LINES)) as url:
        opened = []
        batches = list(KubeSource(server=url).watch("pods", "1", 60, 30, on_open=opened.append))
        assert [line for batch in batches for line in batch] == LINES
        assert _chunked_body(opened[0]) is None  # read to its end past urllib3, then closed


def test_a_fresh_chunked_response_takes_the_fast_reader(tmp_path):
    with served(tmp_path, frame(LINES[0] + b"\n")) as url:
        response = KubeSource(server=url)._call("pods", watch=True, _request_timeout=(10, 30))
        assert _chunked_body(response) is not None
        response.close()


class _Response:
    """What `_line_batches` reads through urllib3: a stream of reads, cut anywhere."""

    def __init__(self, reads: list[bytes]):
        self.reads, self.released = reads, False

    def stream(self, amount, decode_content):
        yield from self.reads

    def release_conn(self):
        self.released = True


def test_lines_read_through_urllib3_are_whole_however_the_reads_cut_them():
    data = b"\n".join(LINES) + b"\n\n  \n" + LINES[0]  # blank lines dropped; the last has no newline
    for cut in (1, 7, 100, 4096, len(data)):
        response = _Response([data[i : i + cut] for i in range(0, len(data), cut)])
        batches = list(_line_batches(response))
        assert [line for batch in batches for line in batch] == LINES + [LINES[0]]
        assert all(batches) and response.released
