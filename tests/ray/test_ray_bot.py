"""The bot end to end with ``ENGINE_BACKEND=ray``: real discord.py against FakeDiscord, a real SQLite file,
the worker app with two replicas on the local Ray cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.sandbox.fake_discord import MANAGE_GUILD, FakeDiscord
from engine.ray.options import RaySettings
from tests.e2e.harness import ErrorLog, World
from tests.ray.conftest import needs_ray, replaced_after_kill

pytestmark = [needs_ray, pytest.mark.timeout(240)]


@pytest.fixture
def error_log() -> AsyncIterator[ErrorLog]:
    import logging

    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler  # type: ignore[misc]
    finally:
        root.removeHandler(handler)
    unexpected = handler.unexpected()
    assert not unexpected, "errors were logged:\n" + "\n".join(unexpected)


@pytest.fixture
async def world(tmp_path: Path, ray_app: RaySettings, error_log: ErrorLog) -> AsyncIterator[World]:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Test server")
        channel = fake.add_channel(guild, "imagine")
        admins = fake.add_role(guild, "Admins", permissions=MANAGE_GUILD)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            discord_token=fake.token,
            data_dir=tmp_path / "data",
            engine_backend="ray",
            engine_preview_every=2,
            dev_guild_id=guild.id,
            discord_api_base=fake.rest_base,
            discord_gateway_url=fake.gateway_url,
            progress_interval_s=0.2,
            max_jobs_per_user=3,
        )
        state = World(
            fake,
            guild,
            channel,
            fake.add_member(guild, "admin", roles=[admins]),
            fake.add_member(guild, "alice"),
            fake.add_member(guild, "bob"),
            settings,
        )
        try:
            yield state
        finally:
            await state.close()
            assert not fake.server_errors, fake.server_errors


def results(world: World) -> list[Any]:
    return [m for m in world.fake.messages(world.channel) if m.attachments and "U1" in m.button_labels]


async def test_imagine_runs_on_the_ray_workers_and_info_shows_them(world: World) -> None:
    await world.start_bot()  # ENGINE_BACKEND=ray: the bot builds its RayEngine and joins the cluster
    interaction = await world.imagine(world.alice, "a red circle --seed 7")
    message = await world.wait_result(interaction, timeout=90)
    assert message.attachments and "U1" in message.button_labels
    job = await world.job_for(message)
    assert job.status == "succeeded" and job.model == "tiny"
    info = await world.fake.slash(world.alice, world.channel, "info")
    await info.wait_acked(timeout=5)
    shown = await world.fake.wait_for(
        lambda: info.original if info.original is not None and not info.original.loading else None, 10
    )
    text = shown.content
    assert "**Model:** tiny" in text and "**Workers:** 0 busy of 2" in text


async def test_two_users_jobs_run_at_once_on_the_two_workers(world: World) -> None:
    from engine.factory import create_engine

    engine: Any = create_engine(
        model=None, device=None, threads=None, preview_every=2, backend="ray", ray_settings=world.settings
    )
    together: list[set[str]] = []
    engine.on_started = lambda job_id, started: together.append(set(engine.replicas.values()))
    try:
        await world.start_bot(engine=engine)
        first = await world.imagine(world.alice, "a red circle --seed 1")
        second = await world.imagine(world.bob, "a green cross --seed 2")
        for interaction in (first, second):
            message = await world.wait_result(interaction, timeout=90)
            assert message.attachments and "U1" in message.button_labels, message.content
        assert any(len(replicas) == 2 for replicas in together), together  # both running, on two replicas
        assert len(results(world)) == 2
    finally:
        await world.stop_bot()
        await engine.close()


async def test_a_worker_killed_mid_job_is_retried_and_delivered_once_charged_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import re

    import ray

    from engine.factory import create_engine

    engine: Any = create_engine(
        model=None, device=None, threads=None, preview_every=2, backend="ray", ray_settings=world.settings
    )
    try:
        await world.start_bot(engine=engine)
        quota = await world.quota()
        before = (await quota.status(world.guild.id, world.alice.id)).remaining
        interaction = await world.imagine(world.alice, "a blue square --seed 11")
        await world.fake.wait_for(lambda: engine.replicas, 60)
        (job_id, victim), *_ = engine.replicas.items()
        # Mid-job: the job's message shows progress (of 30 steps), so the kill lands while it renders.
        rendering = re.compile(r"\([1-9]\d?%\)")
        await world.fake.wait_for(
            lambda: interaction.original is not None and rendering.search(interaction.original.content), 60
        )
        with caplog.at_level(logging.WARNING, logger="bot.imagine._runner"):
            ray.kill(ray.get_actor(victim, namespace="serve"))
            await world.fake.wait_for(lambda: "worker was lost; running it again" in caplog.text, 60)
        message = await world.wait_result(interaction, timeout=90)
        assert message.attachments and "U1" in message.button_labels, message.content
        job = await world.job_for(message)
        assert str(job.id) == job_id and job.status == "succeeded"
        assert len(results(world)) == 1  # delivered once
        assert (await quota.status(world.guild.id, world.alice.id)).remaining == before - 1  # type: ignore[operator]
        await replaced_after_kill()
    finally:
        await world.stop_bot()
        await engine.close()
