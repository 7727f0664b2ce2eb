"""``python -m engine serve``: deploy (or update) the worker app on the Ray cluster at ``RAY_ADDRESS``,
starting a local head node when no cluster is given and none is running."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from engine.ray.options import APP_NAME, RaySettings


class ServeSettings(RaySettings):
    """What ``serve`` deploys: the Ray settings plus the engine settings each replica runs with."""

    engine_model: str | None = None
    engine_device: str | None = None
    engine_threads: int | None = None
    engine_preview_every: int = 2
    engine_upscaler: str | None = None
    engine_describer: str | None = None


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser(
        "serve",
        help="deploy the worker app on a Ray cluster (RAY_*, ENGINE_* from the environment/.env)",
    )
    serve.add_argument("--address", default=None, help="Ray cluster (default RAY_ADDRESS; none: a local one)")
    serve.add_argument("--replicas", type=int, default=None, help="workers (default RAY_REPLICAS)")
    serve.add_argument("--gpus-per-replica", type=float, default=None, help="default RAY_GPUS_PER_REPLICA")
    serve.add_argument("--model", default=None, help="default model of the workers (default ENGINE_MODEL)")
    serve.add_argument("--device", default=None, help="auto, cpu, cuda (default ENGINE_DEVICE)")
    serve.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    serve.add_argument("--models-dir", type=Path, default=None, help="folder of models users may pick")
    serve.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of a local head node started by this command"
    )


def run(args: argparse.Namespace) -> int:
    from engine.ray.cluster import ClusterUnavailable, connect, deploy, start_local_head

    settings = ServeSettings()
    changes: dict[str, object] = {}
    if args.replicas is not None:
        changes["ray_replicas"] = args.replicas
    if args.gpus_per_replica is not None:
        changes["ray_gpus_per_replica"] = args.gpus_per_replica
    if changes:
        settings = settings.model_copy(update=changes)
    address = args.address or settings.ray_address
    logging.getLogger("ray").setLevel(logging.WARNING)
    try:
        connect(settings, address=address)
        where = address or "the cluster on this machine"
    except ClusterUnavailable:
        if address:
            raise
        print("no Ray cluster running here: starting a local head node (`ray stop` ends it)")
        connect(settings, address=start_local_head(settings, num_cpus=args.num_cpus))
        where = "a new local cluster"
    deploy(
        settings,
        model=args.model or settings.engine_model,
        device=args.device or settings.engine_device,
        threads=args.threads if args.threads is not None else settings.engine_threads,
        preview_every=settings.engine_preview_every,
        upscaler=settings.engine_upscaler,
        models_dir=args.models_dir,
        describer=settings.engine_describer,
    )
    if settings.autoscaling:
        size = f"{settings.ray_min_replicas}–{settings.capacity} replicas (autoscaling)"
    else:
        size = f"{settings.ray_replicas} replica(s)"
    print(
        f"app `{APP_NAME}` running on {where}: {size}, {settings.ray_gpus_per_replica:g} GPU and "
        f"{settings.ray_cpus_per_replica:g} CPU each; start the bot with ENGINE_BACKEND=ray"
    )
    return 0
