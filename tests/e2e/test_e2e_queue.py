"""The job queue seen from Discord: fairness, positions, cancel, and a shutdown that loses no job."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.fake_discord import InteractionRecord, Message
from tests.e2e.harness import GatedEngine, World, real_engine, remove_file


@pytest.fixture
async def gated(world: World) -> AsyncIterator[GatedEngine]:
    engine = GatedEngine(real_engine(world.settings))
    try:
        yield engine
    finally:
        await world.stop_bot()
        await engine.close()


def _answered(interaction: InteractionRecord, text: str) -> Message | None:
    message = interaction.original
    return message if message is not None and text in message.content else None


async def test_two_users_jobs_interleave_fairly_with_positions_shown(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    sent = []
    for user in (world.alice, world.alice, world.alice, world.bob, world.bob):
        interaction = await world.imagine(user, f"a lighthouse by {user.user.name}")
        await interaction.wait_acked(timeout=3)
        sent.append(interaction)
    await world.fake.wait_for(lambda: len(gated.started) == 1 and all(i.original for i in sent), 10)

    def shown(index: int) -> str:
        message = sent[index].original
        return message.content if message is not None else ""

    # alice's first job runs; bob's first job goes before alice's backlog.
    await world.fake.wait_for(
        lambda: (
            "number 3 in the queue" in shown(4)
            and "(Waiting to start)" in shown(3)  # bob's first: next in line
            and "number 2 in the queue" in shown(1)
            and "number 4 in the queue" in shown(2)
        ),  # alice's third: last
        10,
    )
    assert all("Cancel" in sent[i].original.button_labels for i in (1, 2, 3, 4))  # type: ignore[union-attr]

    gated.gate.set()
    results = [await world.wait_result(interaction) for interaction in sent]
    jobs = [await world.job_for(message) for message in results]
    owner = {job.id: job.user_id for job in jobs}
    a, b = world.alice.id, world.bob.id
    assert [owner[job_id] for job_id in gated.started] == [a, b, a, b, a]


async def test_cancel_a_queued_job_by_button_and_the_running_one_by_command(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    quota = await world.quota()
    full = (await quota.status(world.guild.id, world.alice.id)).remaining
    first = await world.imagine(world.alice, "first")
    second = await world.imagine(world.alice, "second")
    waiting: Message = await world.fake.wait_for(
        lambda: second.original if second.original and "Waiting" in second.original.content else None, 10
    )
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == full - 2  # type: ignore[operator]

    # Someone else may not cancel alice's job.
    refused = await world.fake.click(world.bob, waiting, "Cancel")
    await refused.wait_acked(timeout=3)
    assert refused.original is not None and refused.original.ephemeral
    assert refused.original.content.startswith("You have no job #")

    # Discord throttles edits of the job's message for longer than the interaction deadline: the press is
    # still acknowledged in time, and answered once the message shows the cancellation.
    throttled = world.fake.inject_error("PATCH", r"^/webhooks/", 429, retry_after=3.5)
    press = await world.fake.click(world.alice, waiting, "Cancel")
    await press.wait_acked(timeout=3)
    answer = await world.fake.wait_for(lambda: _answered(press, "Cancelled job"), 15)
    assert answer.ephemeral and throttled.hits == 1
    await world.fake.wait_for(lambda: "(Cancelled)" in waiting.content, 10)

    command = await world.fake.slash(world.alice, world.channel, "cancel")
    await command.wait_acked(timeout=3)
    assert (await world.fake.wait_for(lambda: _answered(command, "Cancelling job"), 10)).ephemeral
    cancelled = await world.wait_result(first)
    assert "(Cancelled)" in cancelled.content and not cancelled.attachments

    store = await world.jobs()
    assert await store.user_active_jobs(world.alice.id) == []
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == full


async def test_shutdown_requeues_the_running_job_and_the_next_start_finishes_it(
    world: World, gated: GatedEngine
) -> None:
    await world.start_bot(engine=gated)
    quota = await world.quota()
    full = (await quota.status(world.guild.id, world.alice.id)).remaining
    interaction = await world.imagine(world.alice, "a ship in a bottle --seed 5")
    await world.fake.wait_for(lambda: gated.started, 10)
    original = interaction.original
    assert original is not None

    await world.stop_bot()  # like SIGTERM: the running job is requeued, not lost
    store = await world.jobs()
    [job] = await store.unfinished_jobs()
    assert job.status == "queued" and job.message_id == original.id
    assert "restarting" in original.content

    await world.start_bot()  # a fresh engine; the job resumes and posts to the channel with the bot token
    result = await world.wait_reply_result(original, label="U1")
    assert result.webhook_id is None and result.author.bot
    done = await world.job_for(result)
    assert done.id == job.id and done.status == "succeeded" and done.seeds == [5, 6, 7, 8]
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == full - 1  # type: ignore[operator]


async def test_a_job_that_cannot_resume_is_failed_refunded_and_announced(world: World) -> None:
    await world.start_bot()
    grid = await world.wait_result(await world.imagine(world.alice, "a vase --seed 3"))
    grid_job = await world.job_for(grid)
    await world.stop_bot()

    # Left behind by a crash: an upscale, charged and queued, whose source tile has since been deleted.
    store, quota = await world.jobs(), await world.quota()
    source = await store.get_image(grid_job.id, 4)
    assert source is not None
    orphan = await store.create_job(
        kind="upscale",
        user_id=world.bob.id,
        guild_id=world.guild.id,
        channel_id=world.channel.id,
        role_ids=[],
        prompt="a vase --seed 6",
        params={**grid_job.params, "seed": source.seed, "scale": 2},
        model=None,
        parent_job_id=grid_job.id,
        parent_tile=4,
        max_active=3,
    )
    spent = (await quota.status(world.guild.id, world.bob.id)).remaining
    remove_file(source.path)

    await world.start_bot()
    notice = await world.fake.wait_for_message(
        lambda m: "(Failed: The image this job starts from is no longer available.)" in m.content,
        20,
        channel=world.channel,
    )
    assert f"<@{world.bob.id}>" in notice.content and notice.author.bot
    failed = await store.get_job(orphan.id)
    assert failed is not None and failed.status == "failed"
    assert (await quota.status(world.guild.id, world.bob.id)).remaining == spent + 1  # type: ignore[operator]


async def test_a_full_queue_refuses_ephemerally_and_charges_nothing(world: World, gated: GatedEngine) -> None:
    await world.start_bot(engine=gated, queue_max=1)
    quota = await world.quota()
    running = await world.imagine(world.alice, "running")
    await world.fake.wait_for(lambda: gated.started, 10)
    await (await world.imagine(world.bob, "waiting")).wait_acked(timeout=3)
    before = (await quota.status(world.guild.id, world.admin.id)).remaining
    refused = await world.imagine(world.admin, "one too many")
    await refused.wait_acked(timeout=3)
    assert refused.original is not None and refused.original.ephemeral
    assert "The queue is full" in refused.original.content
    assert (await quota.status(world.guild.id, world.admin.id)).remaining == before
    gated.gate.set()
    await world.wait_result(running)


async def test_servers_take_turns_and_one_server_cannot_fill_the_queue(
    world: World, gated: GatedEngine
) -> None:
    fake = world.fake
    other = fake.add_guild("Other server")
    other_channel = fake.add_channel(other, "art")
    carol = fake.add_member(other, "carol")
    await world.start_bot(engine=gated, dev_guild_id=None, queue_max_per_guild=2)
    first = await world.imagine(world.alice, "alice one")
    await fake.wait_for(lambda: gated.started, 10)  # running: no longer waiting
    second = await world.imagine(world.alice, "alice two")
    third = await world.imagine(world.bob, "bob one")
    await fake.wait_for(lambda: _answered(third, "Waiting"), 10)
    refused = await world.imagine(world.admin, "admin one")  # the server's share (2 waiting) is full
    await refused.wait_acked(timeout=3)
    assert refused.original is not None and refused.original.ephemeral
    assert "share for this server is full" in refused.original.content

    # Another server's first job goes next, ahead of this server's waiting jobs; positions say so.
    theirs = await fake.slash(carol, other_channel, "imagine", prompt="carol one")
    await fake.wait_for(
        lambda: (
            _answered(theirs, "(Waiting to start)")
            and _answered(third, "number 2 in the queue")
            and _answered(second, "number 3 in the queue")
        ),
        10,
    )
    gated.gate.set()
    results = [await world.wait_result(i) for i in (first, second, third, theirs)]
    jobs = [await world.job_for(message) for message in results]
    order = [next(job.prompt for job in jobs if job.id == started) for started in gated.started]
    assert [prompt.split(" --")[0] for prompt in order] == ["alice one", "carol one", "bob one", "alice two"]
