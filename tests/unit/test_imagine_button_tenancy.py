"""Buttons name jobs by number in their custom_id: a press uses a job only in the server the job was made in
(in DMs only the presser's own). Another server's job reads as not available, whatever its state, and nothing
is made from it or charged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest.mock import AsyncMock, MagicMock, create_autospec

import discord
import pytest

from bot.db import JobRecord
from bot.imagine._cog import NOT_AVAILABLE, ImagineCog, in_tenant

OWNER, OTHER = 1, 2
HOME, ELSEWHERE = 100, 200
GRID, UPSCALED = 7, 8


def _job(job_id: int, guild_id: int | None, *, status: str = "succeeded", **extra: Any) -> JobRecord:
    fields: dict[str, Any] = dict.fromkeys(
        ("message_id", "model", "seeds", "error", "parent_job_id", "parent_tile", "grid_path", "finished_at")
    )
    fields.update(extra)
    return JobRecord(
        id=job_id, kind="imagine", status=status, user_id=OWNER, guild_id=guild_id, channel_id=10,
        prompt="a secret garden", params={"prompt": "a secret garden", "seed": 3}, cost=1,
        created_at=datetime.now(UTC), **fields,
    )  # fmt: skip


def _interaction(user_id: int, guild_id: int | None) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.user = MagicMock(spec=discord.Member, id=user_id)
    interaction.guild_id = guild_id
    interaction.response = create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = False
    return interaction


def _cog(job_guild: int | None, *, status: str = "succeeded") -> ImagineCog:
    jobs = {
        GRID: _job(GRID, job_guild, status=status),
        UPSCALED: _job(UPSCALED, job_guild, parent_job_id=GRID, parent_tile=2),
    }
    store = MagicMock()
    store.get_job = AsyncMock(side_effect=jobs.get)
    store.get_image = AsyncMock(return_value=MagicMock(path="/data/secret.png", seed=5))
    runner = MagicMock(store=store)
    runner.settings.allow_dms = True
    cog = ImagineCog(runner, max_jobs_per_user=2)
    cog._accept = AsyncMock()  # type: ignore[method-assign]
    return cog


PRESSES = [
    pytest.param(lambda cog, i: cog.upscale(i, GRID, 2), id="U2"),
    pytest.param(lambda cog, i: cog.vary_tile(i, GRID, 3, "strong"), id="V3"),
    pytest.param(lambda cog, i: cog.reroll(i, GRID), id="reroll"),
    pytest.param(lambda cog, i: cog.vary_upscale(i, UPSCALED, "subtle"), id="vary"),
]


@pytest.mark.parametrize("press", PRESSES)
@pytest.mark.parametrize(
    ("user", "guild", "job_guild", "status"),
    [
        (OTHER, ELSEWHERE, HOME, "succeeded"),  # another server's finished job
        (OTHER, ELSEWHERE, HOME, "running"),  # ... or unfinished one: not "not finished yet"
        (OWNER, ELSEWHERE, HOME, "succeeded"),  # even its owner, from another server
        (OTHER, None, HOME, "succeeded"),  # a server's job from a DM
        (OTHER, HOME, None, "succeeded"),  # someone's DM job from a server
        (OTHER, None, None, "succeeded"),  # someone else's DM job from one's own DMs
    ],
)
async def test_a_job_of_another_tenant_reads_as_not_available(
    press: Any, user: int, guild: int | None, job_guild: int | None, status: str
) -> None:
    cog = _cog(job_guild, status=status)
    interaction = _interaction(user, guild)
    await press(cog, interaction)
    cog._accept.assert_not_awaited()  # type: ignore[attr-defined]
    sent = interaction.response.send_message.await_args.kwargs
    assert sent["content"] == NOT_AVAILABLE and sent["ephemeral"] is True
    assert "secret" not in sent["content"]


@pytest.mark.parametrize("press", PRESSES)
@pytest.mark.parametrize(("user", "guild", "job_guild"), [(OTHER, HOME, HOME), (OWNER, None, None)])
async def test_a_job_of_the_same_tenant_is_used(
    press: Any, user: int, guild: int | None, job_guild: int | None
) -> None:
    cog = _cog(job_guild)
    await press(cog, _interaction(user, guild))
    cog._accept.assert_awaited_once()  # type: ignore[attr-defined]


def test_in_tenant() -> None:
    assert in_tenant(_interaction(OTHER, HOME), _job(GRID, HOME))
    assert not in_tenant(_interaction(OTHER, ELSEWHERE), _job(GRID, HOME))
    assert in_tenant(_interaction(OWNER, None), _job(GRID, None))
    assert not in_tenant(_interaction(OTHER, None), _job(GRID, None))


@pytest.mark.parametrize("press", PRESSES[1:])  # V, 🔄 and Vary open a Remix box with the job's prompt
async def test_remix_never_opens_with_another_servers_prompt(
    press: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = AsyncMock()
    monkeypatch.setattr("bot.prompts.open_remix", opened)
    cog = _cog(HOME)
    cog.tools = MagicMock(remix=AsyncMock(return_value=True))
    interaction = _interaction(OTHER, ELSEWHERE)
    await press(cog, interaction)
    opened.assert_not_awaited()
    cog._accept.assert_not_awaited()  # type: ignore[attr-defined]
    assert interaction.response.send_message.await_args.kwargs["content"] == NOT_AVAILABLE

    await press(cog, _interaction(OTHER, HOME))  # in the job's own server the box opens with its prompt
    opened.assert_awaited_once()
    assert "a secret garden" in opened.await_args.args[-1]


async def test_a_description_of_another_server_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.describe import _cog as describe

    store = MagicMock()
    store.get_job = AsyncMock(side_effect={GRID: _job(GRID, HOME)}.get)
    preferences = MagicMock(description=AsyncMock(return_value="a secret garden"))
    cog = describe.DescribeCog(
        store=store, preferences=preferences, engine=MagicMock(), max_jobs_per_user=2, tree=MagicMock()
    )
    imagine = MagicMock(tools=None, start=AsyncMock())
    for guild, started in ((ELSEWHERE, False), (HOME, True)):
        interaction = _interaction(OTHER, guild)
        interaction.client = MagicMock()
        interaction.client.get_cog.return_value = imagine
        await cog.imagine_prompt(interaction, GRID, 1)
        assert imagine.start.await_count == int(started)
        if not started:
            sent = interaction.response.send_message.await_args.kwargs
            assert sent["content"] == describe.NOT_AVAILABLE and sent["ephemeral"] is True


async def test_a_prompt_started_from_a_dm_button_is_refused_when_dms_are_off() -> None:
    from bot.imagine._cog import USE_A_SERVER

    cog = _cog(None)
    cog.runner.settings.allow_dms = False
    interaction = _interaction(OWNER, None)
    await cog.start(interaction, "a red circle")  # a describe button, a Remix box or "Draw it anyway"
    cog._accept.assert_not_awaited()  # type: ignore[attr-defined]
    assert interaction.response.send_message.await_args.kwargs["content"] == USE_A_SERVER
