"""User text echoed to a channel is inert (no pings, no markdown, no live links); private replies that
Discord cannot take are dropped, never posted publicly; a model is never named by its folder path."""

from __future__ import annotations

import datetime
from unittest.mock import AsyncMock, MagicMock, create_autospec

import aiohttp
import discord
import pytest

from bot.imagine._text import echo, headline
from bot.replies import StatusMessage, reply
from engine.names import display_name

PROMPT = "a cat <@123> <@!45> <@&67> <#89> @everyone @here [free nitro](https://evil.example/x) **big**"


def test_echo_neutralises_mentions_markdown_and_links() -> None:
    text = echo(PROMPT)
    for live in ("<@123>", "<@!45>", "<@&67>", "<#89>", "@everyone", "@here", "https://"):
        assert live not in text
    assert "\\[free nitro](" in text  # shown as typed, not a disguised link
    assert "**" not in text and "\\*\\*big\\*\\*" in text
    assert text.replace("\u200b", "").replace("\\", "") == PROMPT.replace("\\", "")  # the words stay
    assert echo("a lighthouse at dusk --ar 3:2") == "a lighthouse at dusk --ar 3:2"
    assert echo("ends with \\") == "ends with \\\\"  # cannot escape the closing ** of the headline


def test_headline_keeps_only_the_owners_mention_live() -> None:
    head = headline("imagine", PROMPT, 42)
    assert head.endswith(" - <@42>") and head.count("<@") == 1 and head.startswith("**a cat")


def _interaction(*, answered: bool, expired: bool = False) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.id = 1
    interaction.channel_id = 99
    interaction.expires_at = discord.utils.utcnow() + datetime.timedelta(minutes=-1 if expired else 10)
    interaction.response = create_autospec(discord.InteractionResponse, instance=True)
    interaction.response.is_done.return_value = answered
    interaction.followup = create_autospec(discord.Webhook, instance=True)
    interaction.client = create_autospec(discord.Client, instance=True)
    interaction.client.get_partial_messageable.return_value.send = AsyncMock()
    return interaction


def _http_error(status: int) -> discord.HTTPException:
    return discord.HTTPException(MagicMock(status=status, reason="x"), {"message": "no", "code": 10015})


@pytest.mark.parametrize(
    ("answered", "expired", "failure"),
    [
        (False, False, _http_error(404)),  # the response fails
        (True, False, _http_error(404)),  # the follow-up fails
        (True, False, aiohttp.ClientOSError("connection reset")),  # a network error, not an HTTPException
        (True, True, None),  # the token has expired
    ],
)
async def test_a_private_reply_that_fails_is_dropped_not_posted(
    answered: bool, expired: bool, failure: Exception | None, caplog: pytest.LogCaptureFixture
) -> None:
    interaction = _interaction(answered=answered, expired=expired)
    interaction.response.send_message.side_effect = failure
    interaction.followup.send.side_effect = failure
    await reply(interaction, "Blocked words: secret")
    interaction.client.get_partial_messageable.return_value.send.assert_not_awaited()
    assert "not posted publicly" in caplog.text and "secret" not in caplog.text


async def test_a_public_reply_that_fails_goes_to_the_channel_without_pings() -> None:
    interaction = _interaction(answered=True)
    interaction.followup.send.side_effect = _http_error(404)
    await reply(interaction, "everyone may see this", ephemeral=False)
    sent = interaction.client.get_partial_messageable.return_value.send.await_args.kwargs
    assert sent["content"] == "everyone may see this"
    assert sent["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()


async def test_a_replys_mentions_are_never_allowed() -> None:
    interaction = _interaction(answered=False)
    await reply(interaction, "<@5> granted")
    sent = interaction.response.send_message.await_args.kwargs
    assert sent["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()


async def test_a_jobs_message_may_notify_only_its_owner() -> None:
    client = create_autospec(discord.Client, instance=True)
    channel = client.get_partial_messageable.return_value
    channel.send = AsyncMock(return_value=MagicMock(id=7))
    channel.get_partial_message.return_value.edit = AsyncMock()
    status = StatusMessage(client, 99, owner_id=42)
    assert await status.finish(headline("imagine", PROMPT, 42))  # posted: no message yet
    assert await status.finish("again")  # edited with the bot token
    for call in (channel.send, channel.get_partial_message.return_value.edit):
        allowed = call.await_args.kwargs["allowed_mentions"].to_dict()
        assert allowed == {"parse": [], "users": [42]}  # no @everyone, roles or replied user


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("/srv/models/sdxl-turbo", "sdxl-turbo"),
        ("/srv/models/sdxl-turbo/", "sdxl-turbo"),
        ("~/models/my model", "my model"),
        ("./models/a/b", "b"),
        ("C:\\Users\\me\\models\\sd15", "sd15"),
        ("stabilityai/sdxl-turbo", "stabilityai/sdxl-turbo"),
        ("default", "default"),
    ],
)
def test_a_model_is_shown_by_its_folder_name_or_hub_id(configured: str, shown: str) -> None:
    assert display_name(configured) == shown
