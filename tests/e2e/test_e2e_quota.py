"""Quotas through Discord: out of credits is refused before any work, and only admins change settings."""

from __future__ import annotations

import pytest

from bot.imagine._cog import REFUSED_PUBLICLY
from bot.sandbox.fake_discord import CallbackType, InteractionRecord, Message
from tests.e2e.harness import GatedEngine, World, real_engine


async def test_out_of_credits_refuses_commands_and_buttons_ephemerally(world: World) -> None:
    await world.start_bot()
    admin = await world.fake.slash(world.admin, world.channel, "quota set-default", credits=1, period="daily")
    await admin.wait_acked(timeout=3)
    await world.fake.wait_for(lambda: admin.messages and "1 credits" in admin.messages[-1].content, 10)

    grid = await world.wait_result(await world.imagine(world.alice, "the only picture"))
    quota = await world.quota()
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == 0

    refused = await world.imagine(world.alice, "one more")
    ack = await refused.wait_acked(timeout=3)
    assert ack.type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE  # refused before deferring: ephemeral
    assert refused.original is not None and refused.original.ephemeral
    assert "Out of credits" in refused.original.content and "refill" in refused.original.content

    # A button press is refused too (an ephemeral follow-up); the grid stays as it was.
    press = await world.fake.click(world.alice, grid, "U1")
    await press.wait_acked(timeout=3)
    followup = await world.fake.wait_for(lambda: press.followups and press.followups[0], 10)
    assert followup.ephemeral and "Out of credits" in followup.content
    assert followup.visible_for(world.alice) and not followup.visible_for(world.bob)

    store = await world.jobs()
    assert await store.user_active_jobs(world.alice.id) == []
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == 0
    assert [m for m in world.fake.messages(world.channel) if m.reference is grid] == []


async def test_a_non_admin_cannot_change_the_default_allowance(world: World) -> None:
    await world.start_bot()
    quota = await world.quota()
    before = await quota.status(world.guild.id, world.alice.id)
    attempt = await world.fake.slash(
        world.alice, world.channel, "quota set-default", credits=1000, period="daily"
    )
    await attempt.wait_acked(timeout=3)
    answer = await world.fake.wait_for(lambda: attempt.messages and attempt.messages[-1], 10)
    await world.fake.wait_for(lambda: not answer.loading, 10)
    assert answer.ephemeral and "Manage Server" in answer.content
    after = await quota.status(world.guild.id, world.alice.id)
    assert (after.allowance, after.remaining) == (before.allowance, before.remaining)
    assert await quota.audit_log(world.guild.id) == []


async def test_the_per_user_job_cap_refuses_before_charging(world: World) -> None:
    engine = GatedEngine(real_engine(world.settings))
    try:
        await world.start_bot(engine=engine, max_jobs_per_user=2)
        quota = await world.quota()
        for prompt in ("one", "two"):
            await (await world.imagine(world.alice, prompt)).wait_acked(timeout=3)
        spent = (await quota.status(world.guild.id, world.alice.id)).remaining
        third = await world.imagine(world.alice, "three")
        await third.wait_acked(timeout=3)
        assert third.original is not None and third.original.ephemeral
        assert "limit 2 jobs" in third.original.content
        assert (await quota.status(world.guild.id, world.alice.id)).remaining == spent
        other = await world.imagine(world.bob, "bob is not affected")
        await other.wait_acked(timeout=3)
        assert other.original is not None and not other.original.ephemeral
        engine.gate.set()
        await world.wait_result(other)
    finally:
        await world.stop_bot()
        await engine.close()


async def test_a_refusal_after_a_slow_check_is_still_ephemeral(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the database were slow: the bot acknowledges publicly before it knows the answer.
    monkeypatch.setattr("bot.imagine._cog.ACK_BUDGET_S", 0.0)
    await world.start_bot()
    quota = await world.quota()
    await quota.set_user(world.guild.id, world.alice.id, 0, actor_id=world.admin.id)
    interaction = await world.imagine(world.alice, "nothing left")
    ack = await interaction.wait_acked(timeout=3)
    assert ack.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    refusal = await world.fake.wait_for(lambda: interaction.followups and interaction.followups[-1], 10)
    assert refusal.ephemeral and "Out of credits" in refusal.content
    assert refusal.visible_for(world.alice) and not refusal.visible_for(world.bob)
    assert [
        m for m in world.fake.messages(world.channel, viewer=world.bob) if "nothing left" in m.content
    ] == []
    assert interaction.original is None or interaction.original.deleted

    accepted = await world.imagine(world.bob, "bob still gets a grid")
    assert "U1" in (await world.wait_result(accepted)).button_labels


@pytest.mark.parametrize("edit_fails", [False, True])
async def test_a_refusal_after_a_slow_check_stays_private_when_the_thinking_message_cannot_be_deleted(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, edit_fails: bool
) -> None:
    # Discord turns the first follow-up after a public deferral into the public "thinking" message: with that
    # message still there, the refusal must not be that follow-up.
    monkeypatch.setattr("bot.imagine._cog.ACK_BUDGET_S", 0.0)
    await world.start_bot()
    quota = await world.quota()
    await quota.set_user(world.guild.id, world.alice.id, 0, actor_id=world.admin.id)
    world.fake.inject_error("DELETE", r"^/webhooks/.*/messages/@original", 403)
    if edit_fails:
        world.fake.inject_error("PATCH", r"^/webhooks/.*/messages/@original", 403)
    interaction = await world.imagine(world.alice, "nothing left")
    await interaction.wait_acked(timeout=3)
    if edit_fails:  # nowhere private to say it: not said at all
        await world.fake.wait_for(lambda: "a refusal was not sent" in caplog.text, 10)
        assert interaction.followups == []
    else:
        refusal = await world.fake.wait_for(lambda: interaction.followups and interaction.followups[-1], 10)
        assert refusal.ephemeral and "Out of credits" in refusal.content
        assert interaction.original is not None and interaction.original.content == REFUSED_PUBLICLY
    public = [m.content for m in world.fake.messages(world.channel, viewer=world.bob)]
    assert not any("Out of credits" in text for text in public)
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == 0
    assert await (await world.jobs()).user_active_jobs(world.alice.id) == []


async def test_an_allowance_for_everyone_counts_the_same_in_quota_show_imagine_and_info(world: World) -> None:
    await world.start_bot()
    admin = await world.fake.slash(
        world.admin, world.channel, "quota set-role", role=world.guild.everyone, credits=1
    )
    await world.fake.wait_for(lambda: admin.messages and "1 credits" in admin.messages[-1].content, 10)

    shown = await world.fake.slash(world.alice, world.channel, "quota show")
    answer = await world.fake.wait_for(lambda: _answer(shown, "credits left"), 10)
    assert "**1** credits left" in answer.content

    await world.wait_result(await world.imagine(world.alice, "the only picture"))
    refused = await world.imagine(world.alice, "one more")
    await refused.wait_acked(timeout=3)
    assert refused.original is not None and "Out of credits" in refused.original.content

    info = await world.fake.slash(world.alice, world.channel, "info")
    assert "**Credits:** 0 left" in (await world.fake.wait_for(lambda: _answer(info, "Credits"), 10)).content


def _answer(interaction: InteractionRecord, text: str) -> Message | None:
    return next((m for m in reversed(interaction.messages) if text in m.content), None)
