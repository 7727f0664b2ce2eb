"""Ray fixtures: one local Ray cluster for the tests in this folder (2 CPUs, token authentication on, its own
temp dir), the worker app with two replicas on two tiny models, and a check that every Ray process the tests
started is gone at the end. Ray is imported only inside the fixtures, after the token is in the environment
(Ray reads its authentication mode once, at import); without ray installed the tests skip."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.ray.options import RaySettings

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray[serve] is not installed (pip install -e '.[ray]')"
)

STEPS = 30
"""Default steps of the test models: a job lasts long enough to be cancelled or killed mid-way."""


@pytest.fixture(scope="package")
def ray_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine.tiny import build_tiny_model

    torch.set_num_threads(1)
    models = tmp_path_factory.mktemp("ray-models")
    for name, seed in (("tiny", 0), ("other", 1)):
        folder = build_tiny_model(models / name, seed=seed)
        config = json.loads((folder / "imaginebot.json").read_text())
        (folder / "imaginebot.json").write_text(json.dumps({**config, "default_steps": STEPS}))
    return models


def _processes_of(temp_dir: str) -> list[Any]:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(scope="package")
def ray_cluster() -> Iterator[str]:
    """A local cluster, torch at one thread per worker; yields its temp dir (every Ray process names it)."""
    temp_dir = tempfile.mkdtemp(prefix="ray-t-", dir="/tmp")
    saved = {key: os.environ.get(key) for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "OMP_NUM_THREADS")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(24), OMP_NUM_THREADS="1")
    import ray  # after the token: Ray reads its authentication mode at import
    from ray import serve

    from engine.ray.cluster import NAMESPACE

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        namespace=NAMESPACE,
        _temp_dir=temp_dir,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield temp_dir
    finally:
        serve.shutdown()
        ray.shutdown()
        deadline = time.monotonic() + 20
        while (left := _processes_of(temp_dir)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in left:
            process.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes still running: {[p.info['cmdline'][:2] for p in left]}"


@pytest.fixture(scope="package")
def ray_app(ray_cluster: str, ray_models: Path) -> RaySettings:
    """The worker app, deployed as ``python -m engine serve`` does: two replicas, default model ``tiny``."""
    from engine.ray.cluster import deploy

    settings = RaySettings(
        _env_file=None,  # type: ignore[call-arg]
        ray_replicas=2,
        ray_cpus_per_replica=0.5,
        ray_models_per_replica=2,
    )
    deploy(settings, model="tiny", device="cpu", threads=1, preview_every=2, models_dir=ray_models)
    return settings


@pytest.fixture
async def ray_engine(ray_app: RaySettings) -> AsyncIterator[Any]:
    from engine.ray.client import RayEngine

    engine = RayEngine(ray_app)
    yield engine
    await engine.close()


def running_replicas() -> int:
    from ray import serve

    from engine.ray.options import APP_NAME, DEPLOYMENT_NAME

    app = serve.status().applications.get(APP_NAME)
    if app is None or DEPLOYMENT_NAME not in app.deployments:
        return 0
    states: dict[Any, int] = dict(app.deployments[DEPLOYMENT_NAME].replica_states)
    return int(states.get("RUNNING", 0))


async def replaced_after_kill(replicas: int = 2, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Wait until Serve has noticed a killed replica and runs ``replicas`` again."""
    import asyncio

    deadline = time.monotonic() + 10
    while running_replicas() >= replicas:  # not noticed yet (a replica can also be replaced before we look)
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + timeout
    while running_replicas() < replicas:
        assert time.monotonic() < deadline, "the killed replica was not replaced"
        await asyncio.sleep(0.1)
