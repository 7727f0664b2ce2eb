"""Joining a Ray cluster as a driver, starting a local one, and deploying the worker app on it."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from engine.ray.options import APP_NAME, RaySettings, export_auth_token

log = logging.getLogger(__name__)

NAMESPACE = "imaginebot"


class ClusterUnavailable(Exception):
    """No Ray cluster answers at the configured address; ``str(error)`` says what to do."""


def connect(settings: RaySettings, *, address: str | None = None) -> None:
    """Join the cluster at ``address`` (default ``RAY_ADDRESS``, else the one running on this machine) as a
    driver (Ray Client cannot stream). Does nothing when this process is already connected."""
    export_auth_token(settings)
    import ray

    if ray.is_initialized():
        return
    target = address or settings.ray_address or "auto"
    if target != "auto":
        _check_reachable(target)
    try:
        ray.init(
            address=target,
            namespace=NAMESPACE,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=False,
        )
    except ConnectionError as error:
        where = "on this machine" if target == "auto" else f"at {target}"
        raise ClusterUnavailable(
            f"No Ray cluster {where} ({error.__class__.__name__}); start one with `python -m engine serve` "
            "or `ray start --head`, and set RAY_ADDRESS."
        ) from None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, with a clear message, when nothing listens at ``host:port`` (Ray itself retries for
    minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnavailable(f"RAY_ADDRESS `{address}` is not host:port (e.g. ray-head:6379).")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ClusterUnavailable(
            f"No Ray cluster answers at {address} ({error.__class__.__name__}); start its head with "
            "`ray start --head` or check RAY_ADDRESS."
        ) from None


def start_local_head(settings: RaySettings, *, num_cpus: int | None = None) -> str:
    """Start a local head node with ``ray start --head`` (it outlives this process; ``ray stop`` ends it)."""
    export_auth_token(settings)
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_cli is None:
        raise ClusterUnavailable(
            "The `ray` command is not installed; install the extra: pip install '.[ray]'."
        )
    command = [ray_cli, "start", "--head", "--disable-usage-stats", "--include-dashboard=false"]
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ClusterUnavailable(f"`ray start --head` failed: {last[0]}")
    return "auto"


def deploy(
    settings: RaySettings,
    *,
    model: str | None,
    device: str | None,
    threads: int | None,
    preview_every: int,
    upscaler: str | None = None,
    models_dir: Path | None = None,
    describer: str | None = None,
) -> Any:
    """Deploy (or update in place) the worker app on the connected cluster and wait until its replicas are
    running; returns its handle."""
    from ray import serve

    from engine.ray.worker import build_app

    serve.start(proxy_location="Disabled")
    app = build_app(
        settings,
        model=model,
        device=device,
        threads=threads,
        preview_every=preview_every,
        upscaler=upscaler,
        models_dir=models_dir,
        describer=describer,
    )
    return serve.run(app, name=APP_NAME, route_prefix=None)
