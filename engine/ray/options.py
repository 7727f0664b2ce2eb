"""Ray settings, read from the environment and ``.env`` (environment wins), shared by the bot and
``python -m engine serve``: :class:`bot.config.Settings` inherits them, so ``.env.example`` documents them
once. Ray- and torch-free."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "imaginebot"
DEPLOYMENT_NAME = "ImagineWorker"


class RaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    engine_backend: str = Field(default="local", pattern="^(local|ray)$")
    ray_address: str | None = None
    ray_auth_token: SecretStr | None = None
    ray_replicas: int = Field(default=1, ge=1)
    ray_min_replicas: int = Field(default=0, ge=0)
    ray_max_replicas: int = Field(default=0, ge=0)
    ray_target_ongoing_requests: float = Field(default=1.0, gt=0)
    ray_gpus_per_replica: float = Field(default=0.0, ge=0)
    ray_cpus_per_replica: float = Field(default=1.0, ge=0)
    ray_models_per_replica: int = Field(default=2, ge=1)
    ray_health_check_period_s: float = Field(default=1.0, gt=0)
    ray_health_check_timeout_s: float = Field(default=5.0, gt=0)

    @property
    def autoscaling(self) -> bool:
        """Autoscaling is on when ``RAY_MAX_REPLICAS`` is set; ``RAY_REPLICAS`` is then ignored."""
        return self.ray_max_replicas > 0

    @property
    def capacity(self) -> int:
        """Jobs the app can run at once: its replicas, or the autoscaling maximum."""
        return max(self.ray_max_replicas, self.ray_min_replicas, 1) if self.autoscaling else self.ray_replicas

    def deployment_options(self) -> dict[str, Any]:
        """Options for ``serve.deployment``: one job per replica, quick health checks."""
        options: dict[str, Any] = {
            "max_ongoing_requests": 1,
            "ray_actor_options": {
                "num_gpus": self.ray_gpus_per_replica,
                "num_cpus": self.ray_cpus_per_replica,
            },
            "health_check_period_s": self.ray_health_check_period_s,
            "health_check_timeout_s": self.ray_health_check_timeout_s,
            "graceful_shutdown_timeout_s": 10.0,
        }
        if self.autoscaling:
            options["autoscaling_config"] = {
                "min_replicas": self.ray_min_replicas,
                "initial_replicas": max(self.ray_min_replicas, 1),
                "max_replicas": max(self.ray_max_replicas, self.ray_min_replicas, 1),
                "target_ongoing_requests": self.ray_target_ongoing_requests,
            }
        else:
            options["num_replicas"] = self.ray_replicas
        return options


def export_auth_token(settings: RaySettings) -> None:
    """Hand ``RAY_AUTH_TOKEN`` to Ray (it reads only the process environment) before it is imported.

    The token is never logged; with a token configured, token authentication is switched on."""
    if settings.ray_auth_token is not None:
        token = settings.ray_auth_token.get_secret_value().strip()
        if token:
            os.environ["RAY_AUTH_TOKEN"] = token
            os.environ.setdefault("RAY_AUTH_MODE", "token")
