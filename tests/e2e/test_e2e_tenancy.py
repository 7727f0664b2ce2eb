"""Servers are tenants, seen from Discord: a job is cancelled only by its owner or a moderator of its own
server, DMs follow their own rules, echoed prompts never ping or hide links, private answers stay private."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from bot.imagine._cog import NO_ACTIVE_JOBS, USE_A_SERVER, no_such_job
from bot.sandbox.fake_discord import (
    FLAG_EPHEMERAL,
    MANAGE_MESSAGES,
    CallbackType,
    InteractionRecord,
    Message,
)
from tests.e2e.harness import GatedEngine, World, real_engine


@pytest.fixture
async def gated(world: World) -> AsyncIterator[GatedEngine]:
    engine = GatedEngine(real_engine(world.settings))
    try:
        yield engine
    finally:
        await world.stop_bot()
        await engine.close()


async def _answer(world: World, interaction: InteractionRecord) -> Message:
    """The bot's (ephemeral) answer to ``interaction``."""

    def answered() -> Message | None:
        for message in interaction.messages:
            if message.content and not message.loading:
                return message
        return None

    message: Message = await world.fake.wait_for(answered, 10)
    return message


async def test_only_the_owner_or_a_moderator_of_the_jobs_own_server_can_cancel_it(
    world: World, gated: GatedEngine
) -> None:
    fake = world.fake
    other = fake.add_guild("Other server")
    other_channel = fake.add_channel(other, "general")
    mods = fake.add_role(other, "Mods", permissions=MANAGE_MESSAGES)
    foreign_mod = fake.add_member(other, world.bob.user, roles=[mods])  # bob moderates the other server
    # A member whose only right to manage messages is a channel overwrite (carried by the interaction).
    overwrite_mod = fake.add_member(world.guild, "carol", permissions=MANAGE_MESSAGES)
    await world.start_bot(engine=gated, dev_guild_id=None)  # global commands: usable in both servers

    first = await world.imagine(world.alice, "a red kite")
    await fake.wait_for(lambda: gated.started, 30)  # the first job runs (held by the gate) before the second
    second = await world.imagine(world.alice, "a blue kite")
    await fake.wait_for(lambda: second.original and "Waiting" in second.original.content, 30)
    store = await world.jobs()
    job_ids = [job.id for job in await store.user_active_jobs(world.alice.id)]
    assert len(job_ids) == 2 and gated.started == job_ids[:1]
    unknown = max(job_ids) + 1000

    answers = []
    for user, channel, job in (
        (foreign_mod, other_channel, job_ids[1]),  # a moderator of another server
        (world.bob, world.channel, job_ids[1]),  # a member of the job's server without the permission
        (world.bob, world.channel, unknown),  # a job that does not exist
    ):
        refused = await fake.slash(user, channel, "cancel", job=job)
        answer = await _answer(world, refused)
        assert answer.ephemeral and answer.visible_for(user)
        answers.append(answer.content.replace(f"#{job}", "#N"))
    assert answers[0] == answers[1] == answers[2] == no_such_job(0).replace("#0", "#N")
    assert all(str(world.alice.id) not in text for text in answers)  # the owner is never revealed
    assert len(await store.user_active_jobs(world.alice.id)) == 2

    # bob has no job in the other server: /cancel there does not reach alice's (or his own elsewhere).
    bare = await fake.slash(foreign_mod, other_channel, "cancel")
    assert (await _answer(world, bare)).content == NO_ACTIVE_JOBS

    # The overwrite counts: carol cancels alice's waiting job in this server.
    allowed = await fake.slash(overwrite_mod, world.channel, "cancel", job=job_ids[1])
    assert "Cancelled job" in (await _answer(world, allowed)).content
    await fake.wait_for(lambda: "(Cancelled)" in second.original.content, 30)  # type: ignore[union-attr]

    # The owner cancels their own running job from the other server, by number.
    fake.add_member(other, world.alice.user)
    own = await fake.slash(world.alice.user, other_channel, "cancel", job=job_ids[0])
    assert "Cancelling job" in (await _answer(world, own)).content
    assert "(Cancelled)" in (await world.wait_result(first)).content
    assert await store.user_active_jobs(world.alice.id) == []


def _live_mentions(text: str) -> set[int]:
    return {int(found) for found in re.findall(r"<@!?(\d+)>", text)}


async def test_an_echoed_prompt_pings_nobody_and_shows_no_live_link(world: World) -> None:
    await world.start_bot()
    bob = world.bob.id
    prompt = f"a portrait of <@{bob}> @everyone [free nitro](https://evil.example/claim) **loud**"
    grid = await world.wait_result(await world.imagine(world.alice, prompt))
    await world.job_for(grid)  # recorded as finished (a press before that is refused until the outbox lands)
    upscale = await world.fake.click(world.alice, grid, "U1")  # posted later as a new channel message
    await upscale.wait_acked(timeout=3)
    posted = await world.wait_reply_result(grid, label="Vary (Strong)")

    messages = world.fake.messages(world.channel)
    assert grid in messages and posted in messages
    for message in messages:
        assert bob not in message.pinged and not message.pinged_everyone
        for text in [message.content, *(revision.content for revision in message.revisions)]:
            assert bob not in _live_mentions(text) and "@everyone" not in text
            assert "https://" not in text and re.search(r"(?<!\\)\[free nitro\]\(", text) is None
    assert "\\[free nitro]" in grid.content and "\\*\\*loud\\*\\*" in grid.content
    assert posted.pinged == {world.alice.id}  # the owner's own mention still notifies them


async def test_private_answers_never_fall_back_to_a_public_message(world: World) -> None:
    await world.start_bot()
    quota = await world.quota()
    await quota.add_blocked_word(world.guild.id, "moonbeam", actor_id=world.admin.id)
    # Discord refuses the follow-up that carries the private answer.
    failing = world.fake.inject_error("POST", r"^/webhooks/", 404)
    listing = await world.fake.slash(world.admin, world.channel, "quota blocked-words list")
    await listing.wait_acked(timeout=3)
    await world.fake.wait_for(lambda: failing.hits >= 1, 10)
    await asyncio.sleep(1.0)  # the old fallback posted to the channel right after the failure
    public = [m for m in world.fake.messages(world.channel, viewer=world.bob) if "moonbeam" in m.content]
    assert public == []

    # /info is private from its first answer, and names the model without its folder path.
    info = await world.fake.slash(world.alice, world.channel, "info")
    ack = await info.wait_acked(timeout=3)
    assert ack.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert int(ack.data.get("flags") or 0) & FLAG_EPHEMERAL
    answer = await _answer(world, info)
    assert answer.ephemeral and "**Model:** model" in answer.content
    assert str(world.settings.engine_model) not in answer.content


async def test_direct_messages_are_off_by_default_and_follow_the_owners_rules_when_on(world: World) -> None:
    fake = world.fake
    dm = fake.open_dm(world.alice)
    await world.start_bot(dev_guild_id=None)  # global commands: the only ones that exist in DMs
    refused = await fake.slash(world.alice.user, dm, "imagine", prompt="a quiet harbour")
    answer = await _answer(world, refused)
    assert answer.ephemeral and answer.content == USE_A_SERVER
    store = await world.jobs()
    assert await store.user_active_jobs(world.alice.id) == []

    await world.stop_bot()
    await world.start_bot(allow_dms=True, dm_credits=1, dm_period="weekly", dm_blocked_words="moon, tide")
    blocked = await fake.slash(world.alice.user, dm, "imagine", prompt="a full Moon")
    assert "blocked" in (await _answer(world, blocked)).content.lower()
    grid = await world.wait_result(await fake.slash(world.alice.user, dm, "imagine", prompt="a red sun"))
    assert grid.channel is dm and "U1" in grid.button_labels
    job = await world.job_for(grid)
    assert job.guild_id is None and job.status == "succeeded"
    out = await fake.slash(world.alice.user, dm, "imagine", prompt="another sun")
    assert "Out of credits" in (await _answer(world, out)).content  # DM_CREDITS, not a server's allowance
    quota = await world.quota()
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == 25  # servers are untouched

    # DMs switched off again: the old grid's buttons answer the same way and charge nothing.
    await world.stop_bot()
    await world.start_bot(allow_dms=False)
    press = await fake.click(world.alice.user, grid, "U1")
    assert (await _answer(world, press)).content == USE_A_SERVER
    await asyncio.sleep(0.5)
    assert [m for m in fake.messages(dm) if m.reference is grid] == []
