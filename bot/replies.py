"""The one way the bot talks back, whatever state the interaction is in.

- :func:`reply` — a one-off answer (refusals, /info, confirmations): not yet answered → respond; answered →
  follow-up. If that fails (token expired, webhook failing, network), a private (ephemeral) answer is logged
  and dropped: it is never posted where others can read it. Only a public answer falls back to a channel
  message posted with the bot token.
- :class:`StatusMessage` — the public message a job lives in (waiting → progress → result): edited through the
  interaction webhook while its token is valid, through the bot token afterwards, and if the final edit cannot
  be delivered the result is posted to the channel as a new message replying to it. A *private* one
  (``/settings`` private replies) is ephemeral and lives only through the interaction's token: when that is
  gone nothing is posted (the caller fails and refunds the job), never a public fallback.

Attachments are ``(filename, bytes)`` pairs so a failed attempt can be retried with fresh ``discord.File``s.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
from collections.abc import Sequence

import aiohttp
import discord

log = logging.getLogger(__name__)

Attachment = tuple[str, bytes]

TOKEN_MARGIN = datetime.timedelta(seconds=60)
"""Stop using an interaction token this long before Discord's 15-minute expiry (uploads take time)."""

_DEAD_TOKEN_CODES = {10015, 50027}  # Unknown Webhook, Invalid Webhook Token


def token_usable(interaction: discord.Interaction | None) -> bool:
    """Whether ``interaction``'s token is still good for follow-ups and edits."""
    if interaction is None:
        return False
    return discord.utils.utcnow() < interaction.expires_at - TOKEN_MARGIN


def only_user(user_id: int | None) -> discord.AllowedMentions:
    """Mentions allowed in a message that echoes user text: ``user_id`` alone (or nobody)."""
    users: list[discord.abc.Snowflake] | bool = [discord.Object(user_id)] if user_id is not None else False
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


def _files(attachments: Sequence[Attachment]) -> list[discord.File]:
    return [discord.File(io.BytesIO(data), filename=name) for name, data in attachments]


def _finished(view: discord.ui.View | None) -> discord.ui.View | None:
    """Views here hold only DynamicItems, dispatched by custom_id; a stopped view is not kept in memory."""
    if view is not None and not view.is_finished():
        view.stop()
    return view


def _describe(error: discord.HTTPException) -> str:
    return f"HTTP {error.status} (code {error.code})"


async def reply(
    interaction: discord.Interaction,
    content: str,
    *,
    ephemeral: bool = True,
    attachments: Sequence[Attachment] = (),
    view: discord.ui.View | None = None,
) -> None:
    """Answer ``interaction`` once, however far it has got; never raises for Discord errors.

    Private answers (``ephemeral``, the default) hold what only the caller may see (prompts, credits, audit
    entries, blocked words): when Discord cannot take them they are dropped, never posted publicly."""
    kwargs: dict = {
        "content": content,
        "files": _files(attachments),
        "ephemeral": ephemeral,
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if view is not None:
        kwargs["view"] = _finished(view)
    failure = "the interaction token has expired"
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(**kwargs)
            return
        if token_usable(interaction):
            await interaction.followup.send(**kwargs)
            return
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
        failure = _describe(error) if isinstance(error, discord.HTTPException) else repr(error)
    if ephemeral:
        log.warning(
            "interaction %s: a private reply could not be delivered (%s); dropped, not posted publicly",
            interaction.id,
            failure,
        )
        return
    log.warning("interaction %s: reply failed (%s); posting to the channel", interaction.id, failure)
    await _post_to_channel(
        interaction.client, interaction.channel_id, content, attachments=attachments, view=view
    )


async def _post_to_channel(
    client: discord.Client,
    channel_id: int | None,
    content: str,
    *,
    attachments: Sequence[Attachment] = (),
    view: discord.ui.View | None = None,
    reply_to: int | None = None,
    allowed_mentions: discord.AllowedMentions | None = None,
) -> discord.Message | None:
    if channel_id is None:
        log.error("cannot post to the channel: the interaction has no channel")
        return None
    channel = client.get_partial_messageable(channel_id)
    kwargs: dict = {
        "content": content,
        "files": _files(attachments),
        "allowed_mentions": allowed_mentions or discord.AllowedMentions.none(),
    }
    if view is not None:
        kwargs["view"] = _finished(view)
    if reply_to is not None:
        kwargs["reference"] = discord.MessageReference(
            message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False
        )
    try:
        return await channel.send(**kwargs)
    except discord.HTTPException as error:
        log.error("channel %s: posting with the bot token failed (%s)", channel_id, _describe(error))
        return None


class StatusMessage:
    """The public message of one job.

    With an ``interaction`` that has been deferred (thinking), the message is the interaction's original
    response. Without one (buttons, jobs recovered at start-up), the first :meth:`show` posts a new channel
    message with the bot token, replying to ``reply_to`` when given. Once the token has expired, progress
    edits go through the bot token and the final state is posted as a new message replying to the old one
    (a new message notifies the user; an edit would not).
    """

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        *,
        interaction: discord.Interaction | None = None,
        reply_to: int | None = None,
        message_id: int | None = None,
        owner_id: int | None = None,
        private: bool = False,
        followup: bool = False,
    ) -> None:
        """``private``: an ephemeral message through ``interaction`` only: its original response (deferred
        ephemerally), or with ``followup`` a new ephemeral follow-up (buttons, the later jobs of a set)."""
        self.client = client
        self.private = private
        self.followup = followup
        # The message echoes a user's prompt: it may notify only the job's owner (never @everyone, a role,
        # or someone named in the prompt).
        self.allowed_mentions = only_user(owner_id)
        self.channel_id = channel_id
        self.interaction = interaction
        self.reply_to = reply_to
        self.message_id = message_id
        self._made_by_interaction = False
        self.token_dead = False
        """A private message could not be reached because the interaction's token had expired (or Discord
        called it invalid), rather than Discord refusing the post."""
        self._lock = asyncio.Lock()

    @property
    def via_interaction(self) -> bool:
        return self.interaction is not None and token_usable(self.interaction)

    async def show(
        self,
        content: str,
        *,
        attachments: Sequence[Attachment] = (),
        view: discord.ui.View | None = None,
    ) -> bool:
        """Show an intermediate state (waiting, position, progress); best effort, says if it worked."""
        return await self._put(content, attachments, view, final=False)

    async def finish(
        self,
        content: str,
        *,
        attachments: Sequence[Attachment] = (),
        view: discord.ui.View | None = None,
    ) -> bool:
        """Show the final state; if the message cannot be edited, post it to the channel as a new message."""
        return await self._put(content, attachments, view, final=True)

    async def _put(
        self, content: str, attachments: Sequence[Attachment], view: discord.ui.View | None, *, final: bool
    ) -> bool:
        # One operation at a time: a result must not race the post that creates the message it edits.
        async with self._lock:
            return await self._put_now(content, attachments, view, final=final)

    async def _put_now(
        self, content: str, attachments: Sequence[Attachment], view: discord.ui.View | None, *, final: bool
    ) -> bool:
        if self.private:
            return await self._put_private(content, attachments, view)
        if self.via_interaction and await self._edit_original(content, attachments, view):
            return True
        if self.message_id is not None and not (final and self._made_by_interaction):
            if await self._edit_with_bot_token(content, attachments, view):
                return True
            if not final:
                return False
        elif not final:
            return False  # no message to edit yet (token gone before it existed): wait for the final state
        # Final state that cannot go into the existing message (token expired, webhook or edit failing):
        # a new channel message, replying to the job's message, posted with the bot token.
        previous = self.message_id
        message = await _post_to_channel(
            self.client,
            self.channel_id,
            content,
            attachments=attachments,
            view=view,
            reply_to=previous or self.reply_to,
            allowed_mentions=self.allowed_mentions,
        )
        if message is None:
            return False
        self.message_id, self._made_by_interaction = message.id, False
        return True

    async def _put_private(
        self, content: str, attachments: Sequence[Attachment], view: discord.ui.View | None
    ) -> bool:
        """Through the interaction's webhook or not at all: an ephemeral message cannot be made or edited with
        the bot token, and a private job must never fall back to a public message."""
        interaction = self.interaction
        if interaction is None or not token_usable(interaction):
            self.token_dead = True
            return False
        if not self.followup:
            return await self._edit_original(content, attachments, view, keep_interaction=True)
        kwargs: dict = {
            "content": content,
            "attachments": _files(attachments),
            "view": _finished(view),
            "allowed_mentions": self.allowed_mentions,
        }
        try:
            if self.message_id is None:
                files = kwargs.pop("attachments")
                message = await interaction.followup.send(**kwargs, files=files, ephemeral=True, wait=True)
                self.message_id = message.id
            else:
                await interaction.followup.edit_message(self.message_id, **kwargs)
        except discord.HTTPException as error:
            log.warning("interaction %s: private follow-up failed (%s)", interaction.id, _describe(error))
            self.token_dead = self.token_dead or error.code in _DEAD_TOKEN_CODES
            return False
        return True

    async def _edit_original(
        self,
        content: str,
        attachments: Sequence[Attachment],
        view: discord.ui.View | None,
        *,
        keep_interaction: bool = False,
    ) -> bool:
        assert self.interaction is not None
        try:
            message = await self.interaction.edit_original_response(
                content=content,
                attachments=_files(attachments),
                view=_finished(view),
                allowed_mentions=self.allowed_mentions,
            )
        except discord.HTTPException as error:
            log.warning(
                "interaction %s: editing the original response failed (%s)%s",
                self.interaction.id,
                _describe(error),
                "" if keep_interaction else "; using the bot token",
            )
            self.token_dead = self.token_dead or error.code in _DEAD_TOKEN_CODES
            if not keep_interaction:
                self.interaction = None
            return False
        self.message_id, self._made_by_interaction = message.id, True
        return True

    async def _edit_with_bot_token(
        self, content: str, attachments: Sequence[Attachment], view: discord.ui.View | None
    ) -> bool:
        assert self.message_id is not None
        message = self.client.get_partial_messageable(self.channel_id).get_partial_message(self.message_id)
        try:
            await message.edit(
                content=content,
                attachments=_files(attachments),
                view=_finished(view),
                allowed_mentions=self.allowed_mentions,
            )
        except discord.HTTPException as error:
            log.warning("message %s: edit with the bot token failed (%s)", self.message_id, _describe(error))
            return False
        return True
