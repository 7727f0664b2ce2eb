"""A job's message: throttled latest-state edits, and where replies go once the interaction token is gone."""

from __future__ import annotations

import asyncio
import datetime
import itertools
from unittest.mock import AsyncMock, MagicMock, create_autospec

import discord

from bot.imagine._pusher import StatePusher
from bot.replies import StatusMessage, token_usable


class RecordingStatus:
    """Stands in for StatusMessage.show; records what was shown and when."""

    def __init__(self, delay: float = 0.0) -> None:
        self.shown: list[tuple[float, str]] = []
        self.delay = delay

    async def show(self, content: str, **_: object) -> bool:
        await asyncio.sleep(self.delay)
        self.shown.append((asyncio.get_running_loop().time(), content))
        return True


async def test_pusher_edits_at_most_once_per_interval_and_keeps_the_latest_state() -> None:
    status = RecordingStatus()
    pusher = StatePusher(status, interval_s=0.1)  # type: ignore[arg-type]
    for step in range(30):
        pusher.push(f"{step}%")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)
    await pusher.close()
    times = [at for at, _ in status.shown]
    assert status.shown[0][1] == "0%"  # the first state goes out at once
    assert status.shown[-1][1] == "29%"  # the newest state is not lost
    assert len(status.shown) <= 5
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(times))


async def test_pusher_close_waits_for_the_edit_in_flight_and_drops_the_rest() -> None:
    status = RecordingStatus(delay=0.1)
    pusher = StatePusher(status, interval_s=0.01)  # type: ignore[arg-type]
    pusher.push("first")
    await asyncio.sleep(0.02)  # "first" is being sent
    pusher.push("stale")
    await pusher.close()
    pusher.push("after close")
    await asyncio.sleep(0.05)
    assert [content for _, content in status.shown] == ["first"]


def _interaction(*, expired: bool) -> MagicMock:
    interaction = create_autospec(discord.Interaction, instance=True)
    now = discord.utils.utcnow()
    interaction.expires_at = now + (
        datetime.timedelta(minutes=-1) if expired else datetime.timedelta(minutes=10)
    )
    interaction.id = 1
    return interaction


def _client(posted_id: int = 555) -> MagicMock:
    client = create_autospec(discord.Client, instance=True)
    channel = client.get_partial_messageable.return_value
    channel.send = AsyncMock(return_value=MagicMock(id=posted_id))
    channel.get_partial_message.return_value.edit = AsyncMock()
    return client


async def test_a_live_token_edits_the_original_response() -> None:
    interaction = _interaction(expired=False)
    interaction.edit_original_response.return_value = MagicMock(id=10)
    client = _client()
    status = StatusMessage(client, 99, interaction=interaction)
    assert token_usable(interaction)
    assert await status.finish("done", attachments=[("grid.jpg", b"x")])
    interaction.edit_original_response.assert_awaited_once()
    client.get_partial_messageable.return_value.send.assert_not_called()
    assert status.message_id == 10


async def test_after_expiry_progress_edits_use_the_bot_token_and_the_result_is_a_new_reply() -> None:
    interaction = _interaction(expired=False)
    interaction.edit_original_response.return_value = MagicMock(id=10)
    client = _client(posted_id=777)
    status = StatusMessage(client, 99, interaction=interaction)
    assert await status.show("(Waiting to start)")
    interaction.expires_at = discord.utils.utcnow() - datetime.timedelta(seconds=1)

    assert await status.show("(50%)")
    channel = client.get_partial_messageable.return_value
    channel.get_partial_message.assert_called_with(10)
    channel.get_partial_message.return_value.edit.assert_awaited_once()

    assert await status.finish("done", attachments=[("grid.jpg", b"x")])
    interaction.edit_original_response.assert_awaited_once()  # only the first state went through the token
    sent = channel.send.await_args.kwargs
    assert sent["content"] == "done" and sent["reference"].message_id == 10
    assert [f.filename for f in sent["files"]] == ["grid.jpg"]
    assert status.message_id == 777


async def test_a_webhook_error_falls_back_to_the_channel() -> None:
    interaction = _interaction(expired=False)
    response = MagicMock(status=401, reason="Unauthorized")
    interaction.edit_original_response.side_effect = discord.HTTPException(
        response, {"code": 50027, "message": "Invalid Webhook Token"}
    )
    client = _client(posted_id=888)
    status = StatusMessage(client, 99, interaction=interaction, reply_to=5)
    assert await status.finish("result")
    assert client.get_partial_messageable.return_value.send.await_args.kwargs["reference"].message_id == 5
    assert status.message_id == 888 and status.interaction is None
