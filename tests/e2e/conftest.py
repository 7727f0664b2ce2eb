"""End-to-end fixtures: the bot against FakeDiscord, a real SQLite file, the real engine on a tiny model."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.sandbox.fake_discord import MANAGE_GUILD, FakeDiscord
from tests.e2e.harness import ErrorLog, World


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from engine.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def many_steps_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with 24 denoising steps by default: a job long enough to show several progress edits."""
    folder = tmp_path_factory.mktemp("many-steps") / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "imaginebot.json").read_text())
    (folder / "imaginebot.json").write_text(json.dumps({**config, "default_steps": 24}))
    return folder


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(min(previous, logging.INFO))
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    unexpected = handler.unexpected()
    assert not unexpected, "errors were logged:\n" + "\n".join(unexpected)


@pytest.fixture
async def world(tmp_path: Path, tiny_model: Path, error_log: ErrorLog) -> AsyncIterator[World]:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Test server")
        channel = fake.add_channel(guild, "imagine")
        admins = fake.add_role(guild, "Admins", permissions=MANAGE_GUILD)
        admin = fake.add_member(guild, "admin", roles=[admins])
        alice = fake.add_member(guild, "alice")
        bob = fake.add_member(guild, "bob")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            discord_token=fake.token,
            data_dir=tmp_path / "data",
            engine_model=str(tiny_model),
            engine_device="cpu",
            engine_threads=1,
            engine_preview_every=1,
            dev_guild_id=guild.id,
            discord_api_base=fake.rest_base,
            discord_gateway_url=fake.gateway_url,
            progress_interval_s=0.2,
            max_jobs_per_user=3,
        )
        state = World(fake, guild, channel, admin, alice, bob, settings)
        try:
            yield state
        finally:
            await state.close()
            assert not fake.server_errors, fake.server_errors
