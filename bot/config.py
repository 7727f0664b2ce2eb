"""Settings read once at start-up from the environment and `.env` (environment wins)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


class Settings(BaseSettings):
    """All configuration of the bot. Nothing reads the environment anywhere else."""

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
    dev_guild_id: int | None = None
    discord_api_base: str = DISCORD_API_BASE
    discord_gateway_url: str = DISCORD_GATEWAY_URL
    queue_max: int = 50
    max_jobs_per_user: int = 2
    progress_interval_s: float = 2.5
    sandbox_port: int = 8765
    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'imaginebot.sqlite3').resolve()}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"
