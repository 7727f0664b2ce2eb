"""``python -m engine serve`` refuses an address where no cluster answers, at once and in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.ray.conftest import needs_ray

ROOT = Path(__file__).resolve().parents[2]


@needs_ray
def test_serve_names_an_address_where_no_cluster_answers() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--address", f"127.0.0.1:{port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: No Ray cluster answers at 127.0.0.1:{port} (ConnectionRefusedError); "
        "start its head with `ray start --head` or check RAY_ADDRESS."
    )
