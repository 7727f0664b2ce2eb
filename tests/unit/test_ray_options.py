"""The Ray settings turn into Serve deployment options (no Ray needed): one job per replica, quick health
checks, fixed replicas or autoscaling, and the capacity the bot's queue uses."""

from __future__ import annotations

import os

import pytest

from engine.ray.options import RaySettings, export_auth_token


def settings(**values: object) -> RaySettings:
    return RaySettings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_fixed_replicas_one_job_each_with_gpus_and_quick_health_checks() -> None:
    chosen = settings(ray_replicas=3, ray_gpus_per_replica=1, ray_cpus_per_replica=2)
    options = chosen.deployment_options()
    assert options["num_replicas"] == 3 and "autoscaling_config" not in options
    assert options["max_ongoing_requests"] == 1
    assert options["ray_actor_options"] == {"num_gpus": 1, "num_cpus": 2}
    assert options["health_check_period_s"] == 1.0 and options["health_check_timeout_s"] == 5.0
    assert chosen.capacity == 3 and not chosen.autoscaling


def test_autoscaling_between_min_and_max_and_the_queue_fills_up_to_the_maximum() -> None:
    chosen = settings(ray_replicas=9, ray_min_replicas=1, ray_max_replicas=4, ray_target_ongoing_requests=0.8)
    options = chosen.deployment_options()
    assert "num_replicas" not in options
    assert options["autoscaling_config"] == {
        "min_replicas": 1,
        "initial_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 0.8,
    }
    # Serve scales up on requests waiting at its handles: the bot sends up to the maximum at once.
    assert chosen.capacity == 4


def test_the_auth_token_is_handed_to_ray_through_the_environment_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    chosen = settings(ray_auth_token="s3cret-token")
    assert "s3cret-token" not in repr(chosen) and "s3cret-token" not in str(chosen.model_dump())
    export_auth_token(chosen)
    assert os.environ["RAY_AUTH_TOKEN"] == "s3cret-token" and os.environ["RAY_AUTH_MODE"] == "token"


def test_the_ray_backend_without_ray_installed_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from engine.errors import InvalidSetting
    from engine.factory import create_engine

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(InvalidSetting, match=r"\[ray\]"):
        create_engine(model=None, device=None, threads=None, preview_every=0, backend="ray")
