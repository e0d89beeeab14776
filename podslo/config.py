"""Where things are: the store DSN and the rule directory."""

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlparse

from podslo.errors import ConfigError

DEFAULT_DSN = "chdb://./data/podslo"
DEFAULT_DATABASE = "podslo"
SIMULATED_PROBE_EVERY_S = 10.0  # serve probes a simulated cluster often: its minutes pass fast


@dataclass(frozen=True)
class Dsn:
    engine: str  # "chdb" or "http"
    path: str | None  # chdb data directory (absolute)
    url: str | None  # server DSN to connect with (without podslo's own `cluster` parameter)
    database: str
    cluster: str | None = None  # a ClickHouse cluster the tables are laid out on (`?cluster=NAME`)


def resolve_dsn(dsn: str | None = None) -> str:
    """--dsn beats PODSLO_DSN beats the embedded default."""
    return dsn or os.environ.get("PODSLO_DSN") or DEFAULT_DSN


def default_spool_dir(dsn: str) -> str:
    """Where a collector's batches wait while the store is away: beside an embedded store
    (`spool/` next to its directory), else under the user's state directory, never the
    working directory of a process whose store is elsewhere."""
    target = parse_dsn(dsn)
    if target.engine == "chdb":
        return os.path.join(os.path.dirname(target.path), "spool")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "podslo", "spool")


def parse_dsn(dsn: str) -> Dsn:
    """`chdb://relative/dir`, `chdb:///abs/dir` or `http(s)://user:pass@host:8123/db`.

    chdb paths are ours to read (clickhouse-connect would take `chdb://./x` as host
    "." and database "x"), so a relative path stays relative to the working directory.
    """
    if dsn.startswith("chdb://"):
        path = dsn[len("chdb://") :].split("?", 1)[0]
        if not path:
            raise ConfigError(f"DSN {dsn!r}: a chdb DSN needs a directory, e.g. chdb://./data/podslo")
        return Dsn("chdb", os.path.abspath(path), None, DEFAULT_DATABASE)
    parsed = urlparse(dsn)
    if parsed.scheme in ("http", "https", "clickhouse", "clickhouses"):
        database = parsed.path.strip("/") or DEFAULT_DATABASE
        query = parse_qsl(parsed.query, keep_blank_values=True)
        cluster = next((v for k, v in query if k == "cluster"), None)
        if cluster is not None and not cluster:
            raise ConfigError(f"DSN {dsn!r}: ?cluster= needs the name of a ClickHouse cluster")
        url = parsed._replace(query=urlencode([(k, v) for k, v in query if k != "cluster"])).geturl()
        return Dsn("http", None, url, database, cluster)
    raise ConfigError(f"DSN {dsn!r}: expected chdb://DIR (embedded) or http(s)://user:pass@host:8123/db (server)")
