"""Who may cancel a job: its owner, or a member with Manage Messages / Manage Server in the job's own server,
as the interaction resolves their permissions. Unknown and foreign jobs read the same."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import AsyncMock, MagicMock, create_autospec

import discord
import pytest

from bot.db import JobRecord
from bot.imagine._cog import ImagineCog, may_cancel, no_such_job

OWNER, OTHER = 1, 2
HOME, ELSEWHERE = 100, 200


def _job(guild_id: int | None, *, user_id: int = OWNER) -> JobRecord:
    fields = dict.fromkeys(
        ("message_id", "model", "seeds", "error", "parent_job_id", "parent_tile", "grid_path", "finished_at")
    )
    return JobRecord(
        id=7, kind="imagine", status="queued", user_id=user_id, guild_id=guild_id, channel_id=10,
        prompt="p", params={}, cost=1, created_at=datetime.now(UTC), **fields,
    )  # fmt: skip


def _interaction(user_id: int, guild_id: int | None, permissions: discord.Permissions) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.user = MagicMock(spec=discord.Member, id=user_id)
    # A cached member would say "moderator everywhere": only the interaction's resolved permissions count.
    interaction.user.guild_permissions = discord.Permissions.all()
    interaction.guild_id = guild_id
    interaction.permissions = permissions
    interaction.response = create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = False
    return interaction


MODERATOR = discord.Permissions(manage_messages=True)
NOBODY = discord.Permissions.none()


@pytest.mark.parametrize(
    ("user", "guild", "permissions", "job_guild", "allowed"),
    [
        (OWNER, HOME, NOBODY, HOME, True),  # the owner, here
        (OWNER, ELSEWHERE, NOBODY, HOME, True),  # the owner, from another server
        (OWNER, None, NOBODY, None, True),  # the owner's DM job
        (OTHER, HOME, MODERATOR, HOME, True),  # a moderator of the job's server
        (OTHER, HOME, discord.Permissions(manage_guild=True), HOME, True),
        (OTHER, HOME, NOBODY, HOME, False),  # a member without the permission (the cached one is ignored)
        (OTHER, ELSEWHERE, MODERATOR, HOME, False),  # a moderator of another server
        (OTHER, None, discord.Permissions.all(), HOME, False),  # from a DM
        (OTHER, HOME, discord.Permissions.all(), None, False),  # someone's DM job: only its owner
    ],
)
def test_who_may_cancel(
    user: int, guild: int | None, permissions: discord.Permissions, job_guild: int | None, allowed: bool
) -> None:
    assert may_cancel(_interaction(user, guild, permissions), _job(job_guild)) is allowed


async def test_a_foreign_job_reads_like_an_unknown_one() -> None:
    store = MagicMock()
    store.get_job = AsyncMock(side_effect=lambda job_id: _job(HOME) if job_id == 7 else None)
    runner = MagicMock(store=store)
    runner.cancel = AsyncMock()
    cog = ImagineCog(runner, max_jobs_per_user=2)
    answers = []
    for job_id in (7, 8):
        interaction = _interaction(OTHER, ELSEWHERE, MODERATOR)
        await ImagineCog.cancel.callback(cog, interaction, job_id)  # type: ignore[arg-type]
        answers.append(interaction.response.send_message.await_args.kwargs)
    runner.cancel.assert_not_awaited()
    assert answers[0]["content"] == no_such_job(7) and answers[1]["content"] == no_such_job(8)
    assert all(answer["ephemeral"] for answer in answers)
    assert f"<@{OWNER}>" not in answers[0]["content"]
