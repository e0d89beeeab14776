"""Starting the board: Streamlit running dashboard/app.py, pointed at podslo's API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dashboard
from dashboard.client import API_ENV, TOKEN_ENV

APP = Path(dashboard.__file__).with_name("app.py")


def board_command(port: int, address: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]


def board_env(api: str, token: str | None) -> dict:
    env = {**os.environ, API_ENV: api}
    if token:
        env[TOKEN_ENV] = token
    return env


def start_board(
    api: str, port: int, token: str | None = None, address: str = "127.0.0.1", log=subprocess.DEVNULL
) -> subprocess.Popen:
    """The board as a child process (the demo's): it ends with its parent's session."""
    return subprocess.Popen(
        board_command(port, address), env=board_env(api, token), stdout=log, stderr=log, stdin=subprocess.DEVNULL
    )
