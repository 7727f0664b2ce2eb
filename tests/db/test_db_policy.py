"""Who gets what: defaults, roles (most generous wins), user overrides, unlimited, blocked, grants, costs,
the job cap and direct messages."""

from __future__ import annotations

import pytest

from bot.db import JobStore, QuotaRefused, QuotaService
from tests.db.support import ADMIN, GUILD, Clock, Submit

USER = 11
HELPER, VIP, MUTED = 501, 502, 503


async def test_defaults_out_of_the_box(quota: QuotaService) -> None:
    status = await quota.status(GUILD, USER, [])
    assert (status.allowance, status.remaining, status.period) == (25, 25, "daily")
    tools = {"zoom": 1, "pan": 1, "square": 1, "region": 1}
    assert status.costs == {"imagine": 1, "variation": 1, "upscale": 1, "reroll": 1, "describe": 1, **tools}
    assert not status.blocked and not status.unlimited


async def test_direct_messages_use_the_defaults(quota: QuotaService, submit: Submit) -> None:
    await quota.set_default(GUILD, credits=1, period="daily", actor_id=ADMIN)  # a guild setting, not DMs
    job = await submit(USER, guild=None)
    assert job.guild_id is None and job.cost == 1
    assert (await quota.status(None, USER, [])).remaining == 24
    assert (await quota.status(GUILD, USER, [])).remaining == 1


async def test_most_generous_role_wins_and_replaces_the_default(quota: QuotaService) -> None:
    await quota.set_default(GUILD, credits=10, period="daily", actor_id=ADMIN)
    await quota.set_role(GUILD, HELPER, credits=40, actor_id=ADMIN)
    await quota.set_role(GUILD, MUTED, credits=2, actor_id=ADMIN)

    assert (await quota.status(GUILD, USER, [HELPER, MUTED])).allowance == 40
    assert (await quota.status(GUILD, USER, [MUTED])).allowance == 2
    assert (await quota.status(GUILD, USER, [VIP])).allowance == 10  # a role without an allowance
    await quota.set_role(GUILD, HELPER, credits=None, actor_id=ADMIN)
    assert (await quota.status(GUILD, USER, [HELPER, MUTED])).allowance == 2


async def test_user_override_beats_roles_then_unlimited_then_default(
    quota: QuotaService, submit: Submit
) -> None:
    await quota.set_role(GUILD, HELPER, credits=40, actor_id=ADMIN)
    await quota.set_user(GUILD, USER, 3, actor_id=ADMIN)
    assert (await quota.status(GUILD, USER, [HELPER])).allowance == 3

    await quota.set_user(GUILD, USER, "unlimited", actor_id=ADMIN)
    for _ in range(30):
        await submit(USER, roles=(HELPER,))
    status = await quota.status(GUILD, USER, [HELPER])
    assert status.unlimited and status.remaining is None and status.used == 0

    await quota.set_user(GUILD, USER, "default", actor_id=ADMIN)
    assert (await quota.status(GUILD, USER, [HELPER])).allowance == 40


async def test_blocked_user_is_refused_whatever_else_applies(quota: QuotaService, submit: Submit) -> None:
    await quota.set_user(GUILD, USER, "unlimited", actor_id=ADMIN)
    await quota.block(GUILD, USER, actor_id=ADMIN)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER)
    assert refused.value.reason == "blocked" and "blocked" in refused.value.message
    assert (await quota.status(GUILD, USER, [])).blocked

    await quota.unblock(GUILD, USER, actor_id=ADMIN)
    await submit(USER)
    assert (await quota.status(GUILD, USER, [])).unlimited  # unblocking kept the override


async def test_grants_are_spent_after_the_allowance_and_do_not_expire(
    quota: QuotaService, submit: Submit, clock: Clock
) -> None:
    await quota.set_default(GUILD, credits=2, period="daily", actor_id=ADMIN)
    assert await quota.grant(GUILD, USER, 3, actor_id=ADMIN) == 3

    await submit(USER)
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted, status.remaining) == (1, 3, 4)
    for _ in range(4):
        await submit(USER)
    with pytest.raises(QuotaRefused):
        await submit(USER)
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted, status.remaining) == (2, 0, 0)

    await quota.grant(GUILD, USER, 5, actor_id=ADMIN)
    clock.advance(days=3)
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted, status.remaining) == (0, 5, 7)


async def test_a_cost_larger_than_the_rest_of_the_allowance_is_split_and_refunded_to_both(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=2, period="daily", actor_id=ADMIN)
    await quota.set_cost(GUILD, "upscale", 3, actor_id=ADMIN)
    await quota.grant(GUILD, USER, 2, actor_id=ADMIN)
    await submit(USER)  # imagine: 1 of the allowance left

    upscale = await submit(USER, kind="upscale")
    assert upscale.cost == 3
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted) == (2, 0)

    assert await jobs.mark_failed(upscale.id, "engine failure")
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted) == (1, 2)


async def test_refused_when_allowance_and_grants_together_fall_short_charges_nothing(
    quota: QuotaService, submit: Submit
) -> None:
    await quota.set_default(GUILD, credits=1, period="daily", actor_id=ADMIN)
    await quota.set_cost(GUILD, "variation", 4, actor_id=ADMIN)
    await quota.grant(GUILD, USER, 2, actor_id=ADMIN)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER, kind="variation")
    assert "variation costs 4 credits and you have 3 left" in refused.value.message
    status = await quota.status(GUILD, USER, [])
    assert (status.used, status.granted) == (0, 2)


async def test_free_actions_and_costs(quota: QuotaService, submit: Submit) -> None:
    await quota.set_default(GUILD, credits=1, period="daily", actor_id=ADMIN)
    await quota.set_cost(GUILD, "reroll", 0, actor_id=ADMIN)
    await submit(USER)
    rerolled = await submit(USER, kind="reroll")
    assert rerolled.cost == 0
    assert (await quota.status(GUILD, USER, [])).costs["reroll"] == 0
    with pytest.raises(ValueError):
        await quota.set_cost(GUILD, "teleport", 1, actor_id=ADMIN)


async def test_job_cap_counts_queued_and_running_jobs(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    first = await submit(USER, max_active=2)
    await submit(USER, max_active=2)
    await jobs.mark_running(first.id)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER, max_active=2)
    assert refused.value.reason == "job_cap"
    assert refused.value.message.startswith("You already have 2 jobs queued or running (limit 2 jobs).")
    assert (await quota.status(GUILD, USER, [])).used == 2  # the refusal charged nothing

    await jobs.mark_succeeded(first.id, images=[], grid_path=None, seeds=[1, 2, 3, 4], model="m")
    await submit(USER, max_active=2)
    await submit(USER + 1, max_active=2)  # other users are not affected

    await quota.set_job_cap(GUILD, max_active=3, actor_id=ADMIN)  # the guild's cap beats the bot default
    await submit(USER, max_active=2)
    assert len(await jobs.user_active_jobs(USER)) == 3


async def test_direct_messages_follow_the_bot_owners_settings(quota: QuotaService, submit: Submit) -> None:
    await quota.configure_dms(credits=2, period="weekly", blocked_words=["gore", " Blood  bath ", "GORE"])
    status = await quota.status(None, USER)
    assert (status.allowance, status.period, status.remaining) == (2, "weekly", 2)
    assert await quota.blocked_word_in(None, "a bloodbath at dawn") is not None
    assert await quota.blocked_word_in(GUILD, "a bloodbath at dawn") is None  # servers keep their own words
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER, guild=None, prompt="so much gore")
    assert refused.value.reason == "blocked_word"
    await submit(USER, guild=None)
    await submit(USER, guild=None)
    with pytest.raises(QuotaRefused) as refused:
        await submit(USER, guild=None)
    assert refused.value.reason != "blocked_word"  # out of DM credits
    assert (await quota.status(GUILD, USER)).remaining == 25  # a server's allowance is untouched

    # The next start applies changed settings: the words are replaced, not added to.
    await quota.configure_dms(credits=5, period="daily", blocked_words=[])
    assert await quota.blocked_word_in(None, "so much gore") is None
    assert (await quota.status(None, USER)).allowance == 5
    with pytest.raises(ValueError, match="DM_BLOCKED_WORDS"):
        await quota.configure_dms(credits=5, period="daily", blocked_words=["..."])
