"""The whole app as Discord sees it: registered commands and /info."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import GatedEngine, World, real_engine


async def test_commands_and_subcommands_have_unique_names() -> None:
    import discord
    from discord.ext import commands

    from bot.imagine import ImagineCog
    from bot.info import InfoCog
    from bot.quota import QuotaCog

    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.add_cog(ImagineCog(None, 1))  # type: ignore[arg-type]
    await bot.add_cog(InfoCog(store=None, quota=None, queue=None, engine=None))  # type: ignore[arg-type]
    await bot.add_cog(QuotaCog(None))  # type: ignore[arg-type]
    top = bot.tree.get_commands()
    names = [command.name for command in top]
    assert {"imagine", "cancel", "info", "quota"} <= set(names)
    assert [name for name, count in Counter(names).items() if count > 1] == []
    for command in top:
        children = [child.name for child in getattr(command, "commands", [])]
        assert len(children) == len(set(children)), command.name
    quota = next(command for command in top if command.name == "quota")
    assert "set-default" in [child.name for child in quota.commands]  # type: ignore[attr-defined]


@pytest.fixture
async def gated(world: World) -> AsyncIterator[GatedEngine]:
    engine = GatedEngine(real_engine(world.settings))
    try:
        yield engine
    finally:
        await world.stop_bot()
        await engine.close()


async def test_registered_commands_are_unique(world: World) -> None:
    await world.start_bot()
    names = [command["name"] for command in world.fake.commands(world.guild)]
    assert len(names) == len(set(names)), names


async def test_info_shows_jobs_credits_costs_and_the_model(world: World, gated: GatedEngine) -> None:
    await world.start_bot(engine=gated)
    for prompt in ("a running job", "a waiting job"):
        await (await world.imagine(world.alice, prompt)).wait_acked(timeout=3)
    await world.fake.wait_for(lambda: gated.started, 10)
    info = await world.fake.slash(world.alice, world.channel, "info")
    await info.wait_acked(timeout=3)
    message = await world.fake.wait_for(
        lambda: info.original if info.original is not None and not info.original.loading else None, 10
    )
    assert message.ephemeral
    text = message.content
    assert "imagine (running): a running job" in text
    assert "imagine (queued, number 1): a waiting job" in text
    assert "**Credits:** 23 left" in text and "next refill <t:" in text
    assert "**Costs:** imagine 1, variation 1, upscale 1, reroll 1" in text
    assert "**Model:** model\n" in text  # the folder's name, never its path
    assert str(world.settings.engine_model) not in text
    gated.gate.set()
