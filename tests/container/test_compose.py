"""compose.yaml: the bot built from this Dockerfile, PostgreSQL it waits for, and volumes for both."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import Settings

from .dockerfile import ROOT, Dockerfile


def test_compose_runs_the_bot_on_postgres_with_its_data_in_a_volume(tmp_path: Path) -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert bot["build"] == "." and bot["env_file"] == ".env"
    assert bot["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "imaginebot-data:/data" in bot["volumes"] and bot["environment"]["DATA_DIR"] == "/data"
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert set(compose["volumes"]) == {"imaginebot-data", "postgres-data"}
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    # The URL the bot gets names the db service with the database's own user, password and name.
    url = bot["environment"]["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-imaginebot}", "imaginebot")
    env = db["environment"]
    assert url == (f"postgresql+asyncpg://{env['POSTGRES_USER']}:imaginebot@db:5432/{env['POSTGRES_DB']}")
    settings = Settings(_env_file=None, database_url=url, data_dir=Path("/data"))  # type: ignore[call-arg]
    assert settings.resolved_database_url == url

    # A GPU reservation is there to uncomment, not active (it would fail on hosts without one).
    assert "deploy" not in bot and "#           capabilities: [gpu]" in text


def test_the_image_keeps_data_in_the_volume_whatever_data_dir_says() -> None:
    dockerfile = Dockerfile.read()
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'VOLUME ["/data"]' in text and "DATA_DIR=/data" in text
    assert dockerfile.workdir == "/app" and "ln -s /data /app/data" in text  # DATA_DIR=./data from .env
    assert "USER imaginebot" in text
