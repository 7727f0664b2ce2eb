"""Settings read once at start-up from the environment and `.env` (environment wins)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from engine.ray.options import RaySettings

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


class Settings(RaySettings):
    """All configuration of the bot. Nothing reads the environment anywhere else (``ENGINE_BACKEND`` and
    ``RAY_*`` come from :class:`engine.ray.options.RaySettings`, shared with ``engine serve``)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    discord_token: SecretStr | None = Field(default=None, description="Bot token; unset = local sandbox")
    data_dir: Path = Path("./data")
    database_url: str | None = None
    engine_model: str | None = None
    engine_device: str | None = None
    engine_threads: int | None = None
    engine_preview_every: int = 2
    engine_upscaler: str | None = None
    engine_describer: str | None = None
    engine_dtype: str | None = None
    engine_offload: str | None = None
    engine_vae_tiling: str | None = None
    engine_compile: str | None = None
    engine_quantize: str | None = None
    engine_models_loaded: int = Field(default=2, ge=1)
    engine_preview_decoder: str | None = None
    dev_guild_id: int | None = None
    discord_api_base: str = DISCORD_API_BASE
    discord_gateway_url: str = DISCORD_GATEWAY_URL
    queue_max: int = Field(default=50, ge=1)
    queue_max_per_guild: int = Field(default=20, ge=1)
    max_jobs_per_user: int = Field(default=2, ge=1)
    max_jobs_per_user_global: int = Field(default=4, ge=1)
    allow_dms: bool = False
    dm_credits: int = Field(default=10, ge=0, le=1_000_000)
    dm_period: Literal["daily", "weekly", "monthly", "none"] = "daily"
    dm_blocked_words: str = ""
    max_prompts_per_command: int = Field(default=16, ge=1, le=100)
    progress_interval_s: float = 2.5
    sandbox_port: int = 8765
    log_level: str = "INFO"

    @property
    def job_cap_limit(self) -> int:
        """The most jobs per member a server admin may allow (``/quota job-cap``): no more than one user may
        have in all servers, nor than one server may have waiting."""
        return min(self.max_jobs_per_user_global, self.queue_max_per_guild, self.queue_max)

    @property
    def dm_blocked_word_list(self) -> list[str]:
        """``DM_BLOCKED_WORDS``, comma-separated, as a list (blanks dropped)."""
        return [word.strip() for word in self.dm_blocked_words.split(",") if word.strip()]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'imaginebot.sqlite3').resolve()}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"
