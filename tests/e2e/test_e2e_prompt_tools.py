"""/settings, Remix and /prefer through the real discord.py client, including after a restart."""

from __future__ import annotations

from bot.sandbox.fake_discord import CallbackType, InteractionRecord, Message
from tests.e2e.harness import World


async def _answer(interaction: InteractionRecord) -> Message:
    await interaction.wait_acked(timeout=5)
    message = interaction.original
    assert message is not None
    return message


async def _job_params(world: World, interaction: InteractionRecord) -> dict[str, object]:
    grid = await world.wait_result(interaction)
    job = await world.job_for(grid)
    assert job.status == "succeeded", job.error
    return job.params


async def test_settings_apply_to_new_prompts_per_user_and_per_server_and_survive_a_restart(
    world: World,
) -> None:
    await world.start_bot()
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    assert panel.ephemeral and "Your settings" in panel.content
    assert [s["custom_id"] for s in panel.selects] == [
        f"ib1:st:u:{f}" for f in ("model", "aspect", "stylize", "chaos")
    ]

    click = await world.fake.select(world.alice, panel, "ib1:st:u:aspect", ["3:2"])
    assert (await click.wait_acked(timeout=5)).type == CallbackType.UPDATE_MESSAGE
    await world.fake.select(world.alice, panel, "ib1:st:u:stylize", ["250"])
    await world.fake.wait_for(lambda: "--stylize 250" in panel.content, 5)
    assert "--ar 3:2" in panel.content

    params = await _job_params(world, await world.imagine(world.alice, "a red circle --seed 3"))
    assert params["aspect"] == [3, 2] and params["stylize"] == 250
    params = await _job_params(world, await world.imagine(world.alice, "a red circle --ar 1:1 --s 50"))
    assert params["aspect"] == [1, 1] and params["stylize"] == 50  # the prompt says otherwise
    assert (await _job_params(world, await world.imagine(world.bob, "a red circle")))["aspect"] == [1, 1]

    # Server defaults: members may not set them, admins may; a member's own setting still wins.
    refused = await _answer(await world.fake.slash(world.bob, world.channel, "settings", server=True))
    assert "Manage Server" in refused.content and not refused.selects
    server = await _answer(await world.fake.slash(world.admin, world.channel, "settings", server=True))
    await world.fake.select(world.admin, server, "ib1:st:s:aspect", ["2:3"])
    await world.fake.wait_for(lambda: "--ar 2:3" in server.content, 5)
    assert (await _job_params(world, await world.imagine(world.bob, "a red circle")))["aspect"] == [2, 3]
    # Permission is checked on every click, not only on /settings: without Manage Server the panel refuses.
    roles = world.admin.roles
    world.fake.set_roles(world.admin, [])
    demoted = await world.fake.select(world.admin, server, "ib1:st:s:chaos", ["100"])
    await demoted.wait_acked(timeout=5)
    assert demoted.original is not None and "Manage Server" in demoted.original.content
    world.fake.set_roles(world.admin, roles)
    assert (await _job_params(world, await world.imagine(world.bob, "a red circle")))["aspect"] == [2, 3]
    assert (await _job_params(world, await world.imagine(world.alice, "a red circle")))["aspect"] == [3, 2]
    assert (await _job_params(world, await world.imagine(world.bob, "a red circle")))["chaos"] == 0

    # After a restart the old panel still works and the settings are still there.
    await world.stop_bot()
    await world.start_bot()
    await world.fake.select(world.alice, panel, "ib1:st:u:chaos", ["25"])
    await world.fake.wait_for(lambda: "--chaos 25" in panel.content, 10)
    params = await _job_params(world, await world.imagine(world.alice, "a red circle"))
    assert (params["aspect"], params["stylize"], params["chaos"]) == ([3, 2], 250, 25)
    await world.fake.click(world.alice, panel, "Reset")
    await world.fake.wait_for(lambda: "--stylize 100" in panel.content, 5)
    assert (await _job_params(world, await world.imagine(world.alice, "a red circle")))["aspect"] == [2, 3]


async def test_remix_opens_the_prompt_to_edit_before_the_job_starts_even_across_a_restart(
    world: World,
) -> None:
    await world.start_bot()
    panel = await _answer(await world.fake.slash(world.alice, world.channel, "settings"))
    await world.fake.click(world.alice, panel, "Remix mode")
    await world.fake.wait_for(lambda: "Remix on" in panel.content, 5)

    grid = await world.wait_result(await world.imagine(world.alice, "a blue square --ar 3:2 --seed 5"))
    grid_job = await world.job_for(grid)
    quota = await world.quota()
    before = (await quota.status(world.guild.id, world.alice.id)).remaining

    # V2 with Remix: a box with the prompt (no seed), nothing charged until it is submitted.
    opened = await world.fake.click(world.alice, grid, "V2")
    assert (await opened.wait_acked(timeout=5)).type == CallbackType.MODAL
    assert opened.modal is not None
    field = opened.modal["components"][0]["components"][0]
    assert field["value"] == "a blue square --ar 3:2"
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before
    await world.fake.submit_modal(world.alice, opened, {"prompt": "a green square --ar 3:2"})
    variations = await world.wait_reply_result(grid, label="V1")
    job = await world.job_for(variations)
    assert (job.kind, job.parent_job_id, job.parent_tile) == ("variation", grid_job.id, 2)
    assert job.params["prompt"] == "a green square" and job.params["strength"] == "strong"
    assert (await quota.status(world.guild.id, world.alice.id)).remaining == before - 1  # type: ignore[operator]

    # Bob has Remix off: V1 starts at once.
    click = await world.fake.click(world.bob, grid, "V1")
    assert (await click.wait_acked(timeout=5)).type == CallbackType.DEFERRED_UPDATE_MESSAGE
    await world.fake.wait_for_message(
        lambda m: m.reference is grid and m.attachments and f"<@{world.bob.id}>" in m.content, 30
    )

    # 🔄 opened before a restart and submitted after it still starts the edited re-roll; a bad edit is
    # refused with nothing charged.
    reroll = await world.fake.click(world.alice, grid, "🔄")
    await reroll.wait_acked(timeout=5)
    await world.stop_bot()
    await world.start_bot()
    bad = await world.fake.submit_modal(world.alice, reroll, {"prompt": "a red square --chaos 500"})
    await bad.wait_acked(timeout=5)
    await world.fake.wait_for(lambda: any("`--chaos`" in m.content for m in bad.messages), 5)
    await world.fake.submit_modal(world.alice, reroll, {"prompt": "a red square --seed 9"})
    rerolled = await world.fake.wait_for_message(
        lambda m: m.reference is grid and m.attachments and "red square" in m.content,
        30,
        channel=world.channel,
    )
    rerolled_job = await world.job_for(rerolled)
    assert rerolled_job.kind == "reroll" and rerolled_job.params["prompt"] == "a red square"
    assert rerolled_job.params["aspect"] == [1, 1]  # the edited prompt's parameters


async def test_prefer_suffix_and_options_expand_in_every_prompt(world: World) -> None:
    await world.start_bot()
    fake, channel, alice = world.fake, world.channel, world.alice
    saved = await _answer(
        await fake.slash(
            alice, channel, "prefer", "option", "set", name="mine", value="--ar 3:2 --stylize 500"
        )
    )
    assert saved.ephemeral and "`--mine`" in saved.content
    bad = await _answer(
        await fake.slash(alice, channel, "prefer", "option", "set", name="wide", value="--ar 9:1")
    )
    assert "`--ar`" in bad.content and "would not work" in bad.content
    builtin = await _answer(
        await fake.slash(alice, channel, "prefer", "option", "set", name="ar", value="--ar 2:1")
    )
    assert "built-in" in builtin.content
    await _answer(await fake.slash(alice, channel, "prefer", "suffix", text="on a gray background --chaos 5"))

    params = await _job_params(world, await world.imagine(alice, "a red circle --mine --chaos 40"))
    assert params["prompt"] == "a red circle on a gray background"
    assert (params["aspect"], params["stylize"], params["chaos"]) == (
        [3, 2],
        500,
        40,
    )  # the prompt's --chaos wins

    listed = await _answer(await fake.slash(alice, channel, "prefer", "option", "list"))
    assert (
        "`--mine` → \\--ar 3:2 --stylize 500" in listed.content and "on a gray background" in listed.content
    )
    # Bob has neither: his --mine is an unknown parameter, refused with nothing charged.
    refused = await _answer(await world.imagine(world.bob, "a red circle --mine"))
    assert refused.ephemeral and "`--mine`" in refused.content

    await world.stop_bot()
    await world.start_bot()
    params = await _job_params(world, await world.imagine(alice, "a blue square --mine"))
    assert (params["prompt"], params["aspect"], params["chaos"]) == (
        "a blue square on a gray background",
        [3, 2],
        5,
    )
    await _answer(await fake.slash(alice, channel, "prefer", "suffix"))
    await _answer(await fake.slash(alice, channel, "prefer", "option", "unset", name="mine"))
    refused = await _answer(await world.imagine(alice, "a blue square --mine"))
    assert "`--mine`" in refused.content


async def test_permutations_and_repeat_list_the_set_then_charge_exactly_per_job_or_refuse_it_whole(
    world: World,
) -> None:
    await world.start_bot()
    fake, alice = world.fake, world.alice
    quota, store = await world.quota(), await world.jobs()
    await quota.set_user(world.guild.id, alice.id, 3, actor_id=world.admin.id)

    listing = await _answer(await world.imagine(alice, "a {red, blue} circle --repeat 2 --seed 40"))
    assert listing.ephemeral and "**4 jobs**" in listing.content
    assert listing.content.count("a red circle") == 2 and listing.content.count("a blue circle") == 2
    assert listing.button_labels == ["Run all 4"]
    assert (await quota.status(world.guild.id, alice.id)).remaining == 3  # listing charges nothing

    # Three credits do not cover four jobs: the whole set is refused, nothing charged, no job created.
    refused = await fake.click(alice, listing, "Run all 4")
    await refused.wait_acked(timeout=5)
    await fake.wait_for(lambda: any("whole set was refused" in m.content for m in refused.messages), 10)
    assert (await quota.status(world.guild.id, alice.id)).remaining == 3
    assert await store.user_active_jobs(alice.id) == []

    # With credits for all: four grids, exactly four credits.
    await quota.set_user(world.guild.id, alice.id, 10, actor_id=world.admin.id)
    listing = await _answer(await world.imagine(alice, "a {red, blue} circle --repeat 2 --seed 40"))
    run = await fake.click(alice, listing, "Run all 4")
    await run.wait_acked(timeout=5)
    grids = await fake.wait_for(
        lambda: (
            found
            if len(
                found := [
                    m
                    for m in fake.messages(world.channel)
                    if m.attachments and "U1" in m.button_labels and "circle" in m.content
                ]
            )
            == 4
            else None
        ),
        60,
    )
    jobs = [await world.job_for(grid) for grid in grids]
    assert sorted(job.params["prompt"] for job in jobs) == ["a blue circle"] * 2 + ["a red circle"] * 2
    assert sorted(job.params["seed"] for job in jobs) == [40, 40, 44, 44]
    assert all(job.status == "succeeded" and job.cost == 1 for job in jobs)
    assert (await quota.status(world.guild.id, alice.id)).remaining == 6

    too_many = await _answer(await world.imagine(alice, "{a,b} {c,d} {e,f} {g,h} {i,j}"))
    assert "at most 16" in too_many.content

    # Multi-prompts: bad weights are refused before anything is charged; good ones render.
    remaining = (await quota.status(world.guild.id, alice.id)).remaining
    weights = await _answer(await world.imagine(alice, "a red circle::-1 a blue square::1"))
    assert weights.ephemeral and "add up to more than 0" in weights.content
    assert (await quota.status(world.guild.id, alice.id)).remaining == remaining
    params = await _job_params(world, await world.imagine(alice, "a red circle::2 a blue square --no green"))
    assert (params["prompt"], params["negative_prompt"]) == ("a red circle::2 a blue square", "green")
