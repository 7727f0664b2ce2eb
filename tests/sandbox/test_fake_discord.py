"""The real discord.py client against FakeDiscord, over sockets."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest
from PIL import Image

from bot.sandbox.fake_discord import FLAG_EPHEMERAL, MANAGE_GUILD, CallbackType, FakeDiscord

from .conftest import Server
from .drawbot import png, running


async def test_connect_and_sync_commands(server: Server) -> None:
    fake = server.fake
    async with running(server.fake, server.guild.id) as bot:
        assert bot.user is not None and bot.user.id == fake.bot_user.id
        guild = bot.get_guild(server.guild.id)
        assert guild is not None and guild.get_channel(server.channel.id) is not None
        # Without the members intent Discord sends only the bot's own member.
        assert [m.name for m in guild.members] == ["imaginebot"] and guild.me.guild_permissions.attach_files
        assert {r.name for r in guild.roles} == {"@everyone", "imaginebot", "Admins"}
        names = [cmd["name"] for cmd in fake.commands(server.guild)]
        assert sorted(names) == ["draw", "quota", "silent"]
        assert {cmd.name for cmd in bot.synced} == {"draw", "quota", "silent"}
        draw = next(cmd for cmd in fake.commands(server.guild) if cmd["name"] == "draw")
        assert [(o["name"], o["type"], o.get("required", False)) for o in draw["options"]] == [
            ("prompt", 3, True),
            ("size", 4, False),
        ]
        assert fake.gateway.counters.identifies == 1


async def test_slash_defer_followup_file_edit_and_buttons(server: Server) -> None:
    fake, channel = server.fake, server.channel
    async with running(server.fake, server.guild.id):
        interaction = await fake.slash(server.member, channel, "draw", prompt="a red square", size=24)
        ack = await interaction.wait_acked(timeout=3)
        assert ack.type is CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        assert interaction.ack_latency is not None and interaction.ack_latency < 3

        message = await fake.wait_for_message(
            lambda m: m.content.endswith(server.member.user.mention), timeout=10
        )
        assert message is interaction.original and not message.loading and not message.ephemeral
        # The first follow-up replaced the "thinking" message, then the edit changed its text.
        assert [r.content for r in message.revisions] == ["", "**a red square** (50%)"]
        assert message.revisions[0].flags & (1 << 7)
        (attachment,) = message.attachments
        assert (attachment.width, attachment.height) == (24, 24)
        async with aiohttp.ClientSession() as http, http.get(attachment.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            served = await response.read()
        assert served == attachment.data
        assert Image.open(io.BytesIO(served)).getpixel((0, 0)) == (255, 0, 0)
        assert message.button_labels == ["Again 1", "Done"]

        click = await fake.click(server.admin, message, "Again 1")
        note = await fake.wait_for(lambda: click.original, timeout=5)
        assert note.content == "again 1 for admin"
        assert note.flags & FLAG_EPHEMERAL
        assert note.visible_for(server.admin) and not note.visible_for(server.member)
        assert note not in fake.messages(channel, viewer=server.member)

        done = await fake.click(server.member, message, "done:1")
        await done.wait_acked(timeout=3)
        assert done.ack is not None and done.ack.type is CallbackType.UPDATE_MESSAGE
        assert message.content == "finished by member" and message.components == []
        assert message.attachments == [attachment]


async def test_subcommands_and_permissions_reach_the_bot(server: Server) -> None:
    fake = server.fake
    async with running(server.fake, server.guild.id):
        refused = await fake.slash(server.member, server.channel, "quota set", user=server.admin, amount=5)
        await refused.wait_acked(timeout=3)
        assert refused.original is not None and refused.original.content == "You need Manage Server."
        assert refused.ephemeral
        granted = await fake.slash(server.admin, server.channel, "quota set", user=server.member, amount=5)
        await granted.wait_acked(timeout=3)
        assert granted.original is not None and granted.original.content == "member now has 5 credits"
        assert server.admin.permissions & MANAGE_GUILD and not server.member.permissions & MANAGE_GUILD
        with pytest.raises(LookupError, match="no option"):
            await fake.slash(server.admin, server.channel, "quota set", user=server.member, credits=5)
        with pytest.raises(LookupError, match="needs a subcommand"):
            await fake.slash(server.admin, server.channel, "quota", amount=5)


async def test_rate_limit_and_server_error_are_retried(server: Server) -> None:
    fake = server.fake
    limited = fake.inject_error("POST", r"^/webhooks/\d+/", 429, retry_after=0.3)
    broken = fake.inject_error("PATCH", r"/messages/@original$", 500)
    async with running(server.fake, server.guild.id) as bot:
        interaction = await fake.slash(server.admin, server.channel, "draw", prompt="retry me")
        message = await fake.wait_for_message(lambda m: m.content.startswith("**retry me** - "), timeout=15)
        assert message is interaction.original
    assert (limited.hits, broken.hits) == (1, 1)
    assert bot.followup_errors == []
    statuses = [(r.method, r.status) for r in fake.requests if r.path.startswith("/webhooks/")]
    assert statuses == [("POST", 429), ("POST", 200), ("PATCH", 500), ("PATCH", 200)]
    post_429, post_200 = (r for r in fake.requests if r.path.startswith("/webhooks/") and r.method == "POST")
    assert post_200.at - post_429.at >= 0.3


async def test_gateway_drop_resumes_and_replays_missed_interactions(server: Server) -> None:
    fake = server.fake
    async with running(server.fake, server.guild.id) as bot:
        await fake.drop_gateway()
        # Sent while the bot is away: it must arrive when the bot resumes.
        interaction = await fake.slash(server.admin, server.channel, "draw", prompt="after the drop")
        await fake.wait_for(lambda: fake.gateway.counters.resumes == 1 and fake.gateway_connected, timeout=15)
        await fake.wait_for_message(lambda m: m.content.startswith("**after the drop** - "), timeout=10)
        assert interaction.ack is not None
        assert fake.gateway.counters.identifies == 1
        assert bot.is_ready()

        await fake.drop_gateway(resumable=False)
        await fake.wait_for(
            lambda: fake.gateway.counters.identifies == 2 and fake.gateway_connected, timeout=20
        )
        again = await fake.slash(server.member, server.channel, "draw", prompt="new session")
        await fake.wait_for_message(lambda m: m.content.startswith("**new session** - "), timeout=10)
        assert again.original is not None and not again.original.loading


async def test_expired_token_refuses_followups(server: Server) -> None:
    fake = server.fake
    async with running(server.fake, server.guild.id) as bot:
        bot.draw_delay = 0.5
        interaction = await fake.slash(server.admin, server.channel, "draw", prompt="too late")
        await interaction.wait_acked(timeout=3)
        interaction.expire_token()
        late = await fake.wait_for_message(lambda m: m.content.endswith("(late)"), timeout=10)
        assert late.webhook_id is None and late.author.id == fake.bot_user.id
        (error,) = bot.followup_errors
        assert (error.status, error.code) == (401, 50027)
        assert interaction.original is not None and interaction.original.loading


async def test_acknowledging_after_the_deadline_fails() -> None:
    async with FakeDiscord(ack_deadline=0.2) as fake:
        guild = fake.add_guild("g")
        channel = fake.add_channel(guild, "c")
        alice = fake.add_member(guild, "alice")
        fake.gateway.current = object()  # type: ignore[assignment]  # pretend a bot is connected
        fake.world.global_commands = [
            {"id": "1", "name": "ping", "description": "p", "type": 1, "options": []},
        ]
        record = await fake.slash(alice, channel, "ping")
        await asyncio.sleep(0.3)
        url = f"{fake.rest_base}/interactions/{record.id}/{record.token}/callback?with_response=1"
        async with aiohttp.ClientSession() as http, http.post(url, json={"type": 5}) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 10062
        assert record.ack is None


async def test_discord_limits_are_enforced(server: Server) -> None:
    async with running(server.fake, server.guild.id) as bot:
        channel = bot.get_channel(server.channel.id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert too_long.value.status == 400
        server.guild.attachment_size_limit = 1000
        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send(file=discord.File(io.BytesIO(b"\0" * 1001), filename="big.bin"))
        assert too_big.value.status == 413
        sent = await channel.send("hello")
        reply = await channel.send("a reply", reference=sent)
        stored = server.fake.world.messages[reply.id]
        assert stored.reference is not None and stored.reference.id == sent.id
        assert reply.reference is not None and reply.reference.message_id == sent.id
        fetched = await channel.fetch_message(sent.id)
        assert fetched.content == "hello"


async def test_message_edits_keep_or_replace_attachments(server: Server) -> None:
    async with running(server.fake, server.guild.id) as bot:
        channel = bot.get_channel(server.channel.id)
        assert isinstance(channel, discord.TextChannel)

        def file(name: str, color: str) -> discord.File:
            return discord.File(io.BytesIO(png(8, 8, color)), filename=name)

        sent = await channel.send("preview", file=file("a.png", "red"))
        stored = server.fake.world.messages[sent.id]
        assert [a.filename for a in stored.attachments] == ["a.png"]
        edited = await sent.edit(content="progress", attachments=[file("b.png", "green")])
        assert [a.filename for a in stored.attachments] == ["b.png"] and stored.content == "progress"
        kept = await edited.edit(attachments=[edited.attachments[0], file("c.png", "blue")])
        assert [a.filename for a in stored.attachments] == ["b.png", "c.png"]
        assert [a.filename for a in kept.attachments] == ["b.png", "c.png"]
        await kept.edit(content="text only")
        assert len(stored.attachments) == 2
        await kept.edit(attachments=[])
        assert stored.attachments == []
        assert [r.content for r in stored.revisions] == ["preview", "progress", "progress", "text only"]
        assert Image.open(io.BytesIO(stored.revisions[2].attachments[1].data)).getpixel((0, 0)) == (0, 0, 255)
        embedded = await channel.send(
            embed=discord.Embed(title="grid").set_image(url="attachment://e.png"), file=file("e.png", "red")
        )
        (image,) = server.fake.world.messages[embedded.id].attachments
        assert embedded.embeds[0].image.url == image.url and image.url.startswith(server.fake.http_base)
