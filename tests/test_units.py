"""Small pure pieces: Go durations, timestamps, DSNs."""

from __future__ import annotations

import pytest

from analyzer.lifecycle.durations import parse_go_duration, pulled_seconds
from podslo.config import parse_dsn
from podslo.errors import ConfigError
from podslo.timeutil import iso, parse_ms


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("5.870196872s", 5.870196872),
        ("717ms", 0.717),
        ("1m0.809s", 60.809),
        ("3m10.96s", 190.96),
        ("1h2m3s", 3723.0),
        ("850µs", 0.00085),
        ("12us", 0.000012),
        ("0", 0.0),
        ("2m", 120.0),
    ],
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "1.5x", "1m 2s", "abc"])
def test_bad_go_durations(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    "message,seconds",
    [
        ('Successfully pulled image "nginx" in 5.870196872s', 5.870196872),
        ('Successfully pulled image "nginx" in 1.315633737s (1.315641898s including waiting)', 1.315641898),
        (
            'Successfully pulled image "a/b:1" in 1m0.809s (1m0.809s including waiting). Image size: 187694648 bytes.',
            60.809,
        ),
        ('Successfully pulled image "x" in 717ms (718ms including waiting). Image size: 78005565 bytes.', 0.718),
        ('Container image "nginx" already present on machine', None),
    ],
)
def test_pulled_messages(message, seconds):
    assert pulled_seconds(message) == (None if seconds is None else pytest.approx(seconds))


def test_timestamps():
    assert parse_ms("2021-05-19T09:42:58Z") == 1621417378000
    assert parse_ms("2021-05-19T09:43:05.070173525Z") == 1621417385070
    assert parse_ms("2021-05-19T11:42:58+02:00") == 1621417378000
    assert iso(1621417385070) == "2021-05-19T09:43:05.070Z"
    with pytest.raises(ValueError):
        parse_ms("yesterday")


def test_dsns(tmp_path):
    assert parse_dsn("chdb://./data/x").path.endswith("/data/x")
    assert parse_dsn(f"chdb://{tmp_path}").path == str(tmp_path)
    server = parse_dsn("http://default:secret@localhost:8123/slo")
    assert (server.engine, server.database) == ("http", "slo")
    assert parse_dsn("https://host:8443").database == "podslo"
    for bad in ("sqlite:///x", "chdb://", "localhost:8123"):
        with pytest.raises(ConfigError, match="DSN"):
            parse_dsn(bad)
