"""The fake server's state and the rules for creating and editing messages, independent of HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any

from .ids import SnowflakeFactory
from .interactions import InteractionRecord
from .model import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    Attachment,
    Channel,
    Guild,
    Message,
    User,
    now,
)
from .uploads import BadRequest, UploadedFile, image_size

log = logging.getLogger(__name__)

Listener = Callable[[str, Any], None]
"""Called synchronously with an event name ("message_create", "message_update", "message_delete",
"interaction_create", "interaction_ack", "commands_update", "gateway") and the object concerned."""

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 80
MAX_FILES = 10


class World:
    def __init__(self) -> None:
        self.ids = SnowflakeFactory()
        self.http_base = ""
        """Set by the server once it listens: `http://127.0.0.1:<port>`."""
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.users: dict[int, User] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()

    # ---- change notification -------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def emit(self, event: str, subject: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, subject)
            except Exception:
                log.exception("listener failed on %s", event)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:  # noqa: ASYNC109
        """Re-check `predicate` after every change until it returns something truthy, which is returned."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout:.1f}s")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    # ---- commands ------------------------------------------------------------------------------------------

    def commands_for(self, guild_id: int | None) -> list[dict[str, Any]]:
        """The commands a user of this guild can see: the guild's own first, then global ones."""
        guild_cmds = self.guild_commands.get(guild_id, []) if guild_id is not None else []
        names = {cmd["name"] for cmd in guild_cmds}
        return [*guild_cmds, *(cmd for cmd in self.global_commands if cmd["name"] not in names)]

    def find_command(self, guild_id: int | None, name: str, *, kind: int = 1) -> dict[str, Any]:
        """A registered command by name; ``kind`` 1 = slash command, 3 = message context menu."""
        for command in self.commands_for(guild_id):
            if command["name"] == name and command.get("type", 1) == kind:
                return command
        known = sorted(cmd["name"] for cmd in self.commands_for(guild_id))
        raise LookupError(f"the bot registered no slash command /{name} (registered: {known})")

    def dm_channel(self, user: User) -> Channel:
        """The direct-message channel between the bot and ``user`` (made on first use)."""
        for channel in self.channels.values():
            if channel.guild is None and channel.recipient is user:
                return channel
        channel = Channel(id=self.ids.next(), guild=None, name=f"dm-{user.name}", recipient=user)
        self.channels[channel.id] = channel
        return channel

    # ---- messages ------------------------------------------------------------------------------------------

    def create_message(
        self,
        channel: Channel,
        author: User,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        visible_to: int | None = None,
        message_type: int = MESSAGE_DEFAULT,
        webhook_id: int | None = None,
        application_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        loading: bool = False,
    ) -> Message:
        flags = int(payload.get("flags") or 0)
        if not flags & FLAG_EPHEMERAL:
            visible_to = None
        if loading:
            flags |= FLAG_LOADING
        else:
            _check_content(payload, files, channel.attachment_size_limit, creating=True)
        message = Message(
            id=self.ids.next(),
            channel=channel,
            author=author,
            type=message_type,
            flags=flags,
            visible_to=visible_to,
            webhook_id=webhook_id,
            application_id=application_id,
            interaction_metadata=interaction_metadata,
        )
        reference = payload.get("message_reference")
        if reference:
            referenced = self.messages.get(int(reference.get("message_id", 0)))
            if referenced is None or referenced.deleted:
                if reference.get("fail_if_not_exists", True):
                    raise BadRequest("Invalid Form Body: message_reference: Unknown message", code=50035)
            else:
                message.reference = referenced
                message.type = MESSAGE_REPLY
        self._apply(message, payload, files, editing=False)
        message.pinged, message.pinged_everyone = _notified(message.content, message.allowed_mentions)
        self.messages[message.id] = message
        self.emit("message_create", message)
        return message

    def edit_message(self, message: Message, payload: dict[str, Any], files: list[UploadedFile]) -> Message:
        if message.deleted:
            raise BadRequest("Unknown Message", code=10008, status=404)
        _check_content(payload, files, message.channel.attachment_size_limit, creating=False)
        message.revisions.append(message.snapshot())
        self._apply(message, payload, files, editing=True)
        message.flags &= ~FLAG_LOADING
        message.edited_at = now()
        self.emit("message_update", message)
        return message

    def delete_message(self, message: Message) -> None:
        if message.deleted:
            raise BadRequest("Unknown Message", code=10008, status=404)
        message.deleted = True
        self.emit("message_delete", message)

    def restore_message(self, message: Message) -> None:
        """Put back a message saved earlier (no events, no checks)."""
        self.messages[message.id] = message
        for attachment in message.attachments:
            self.attachments[attachment.id] = attachment

    def channel_messages(self, channel: Channel, *, viewer: User | None = None) -> list[Message]:
        """Messages of a channel, oldest first; with `viewer`, only those that user can see."""
        return [
            message
            for message in self.messages.values()
            if message.channel is channel
            and not message.deleted
            and (viewer is None or message.visible_for(viewer))
        ]

    def _apply(
        self, message: Message, payload: dict[str, Any], files: list[UploadedFile], *, editing: bool
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        elif "embed" in payload:
            message.embeds = [payload["embed"]] if payload["embed"] else []
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload and editing:
            keep = message.flags & FLAG_EPHEMERAL
            message.flags = (int(payload["flags"] or 0) & ~(FLAG_EPHEMERAL | FLAG_LOADING)) | keep
        described = {str(item.get("id")): item for item in payload.get("attachments") or []}
        new = [self._store_attachment(message, upload, described.get(str(upload.index))) for upload in files]
        if editing and "attachments" in payload and payload["attachments"] is not None:
            kept = [att for att in message.attachments if str(att.id) in described]
            message.attachments = kept + new
        else:
            message.attachments = (message.attachments if editing else []) + new
        _resolve_embed_files(message)

    def upload(self, filename: str, data: bytes, content_type: str) -> Attachment:
        """A file a user attaches to a command option: stored and served like any attachment."""
        attachment_id = self.ids.next()
        size = image_size(data) if content_type.startswith("image/") else None
        attachment = Attachment(
            id=attachment_id,
            filename=filename,
            content=data,
            size=len(data),
            content_type=content_type,
            url=f"{self.http_base}/attachments/0/{attachment_id}/{filename}",
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[attachment_id] = attachment
        return attachment

    def _store_attachment(
        self, message: Message, upload: UploadedFile, meta: dict[str, Any] | None
    ) -> Attachment:
        attachment_id = self.ids.next()
        filename = str((meta or {}).get("filename") or upload.filename)
        size = image_size(upload.data) if upload.content_type.startswith("image/") else None
        attachment = Attachment(
            id=attachment_id,
            filename=filename,
            content=upload.data,
            size=len(upload.data),
            content_type=upload.content_type,
            url=f"{self.http_base}/attachments/{message.channel.id}/{attachment_id}/{filename}",
            description=(meta or {}).get("description"),
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[attachment_id] = attachment
        return attachment


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)\b")


def _notified(content: str, allowed: dict[str, Any] | None) -> tuple[set[int], bool]:
    """Who a new message notifies: the users mentioned in its content as `allowed_mentions` permits
    (without it, every mention; `parse` ["users"] allows all users, a `users` list only those), and whether
    it notifies @everyone/@here."""
    mentioned = {int(found) for found in _USER_MENTION.findall(content)}
    everyone = bool(_EVERYONE.search(content))
    if allowed is None:
        return mentioned, everyone
    parse = set(allowed.get("parse") or [])
    if "users" not in parse:
        mentioned &= {int(user) for user in allowed.get("users") or []}
    return mentioned, everyone and "everyone" in parse


def _resolve_embed_files(message: Message) -> None:
    """Discord replaces `attachment://name` in embed images with the uploaded file's URL."""
    by_name = {attachment.filename: attachment.url for attachment in message.attachments}
    for embed in message.embeds:
        for key in ("image", "thumbnail"):
            url = (embed.get(key) or {}).get("url", "")
            if url.startswith("attachment://") and url[len("attachment://") :] in by_name:
                embed[key] = {**embed[key], "url": by_name[url[len("attachment://") :]]}


def _check_content(
    payload: dict[str, Any], files: list[UploadedFile], attachment_size_limit: int, *, creating: bool
) -> None:
    """Discord's limits on a message body: it refuses what a real bot must not send."""
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        raise BadRequest("Invalid Form Body: content must be a string")
    if content and len(content) > MAX_CONTENT:
        raise BadRequest(f"Invalid Form Body: content must be {MAX_CONTENT} or fewer in length")
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise BadRequest(f"Invalid Form Body: embeds must be {MAX_EMBEDS} or fewer in length")
    for embed in embeds:
        if len(str(embed.get("title") or "")) > 256 or len(str(embed.get("description") or "")) > 4096:
            raise BadRequest("Invalid Form Body: embed title/description too long")
    _check_components(payload.get("components") or [])
    if len(files) > MAX_FILES:
        raise BadRequest(f"Invalid Form Body: at most {MAX_FILES} files per message")
    for upload in files:
        if len(upload.data) > attachment_size_limit:
            raise BadRequest("Request entity too large", code=40005, status=413)
    if creating and not (
        content or embeds or files or payload.get("components") or payload.get("sticker_ids")
    ):
        raise BadRequest("Cannot send an empty message", code=50006)


def _check_components(rows: list[dict[str, Any]]) -> None:
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"Invalid Form Body: components must be {MAX_ROWS} or fewer in length")
    seen: set[str] = set()
    for row in rows:
        if row.get("type") != 1:
            raise BadRequest("Invalid Form Body: top-level components must be action rows (type 1)")
        children = row.get("components") or []
        if not children or len(children) > MAX_ROW_ITEMS:
            raise BadRequest(f"Invalid Form Body: an action row holds 1 to {MAX_ROW_ITEMS} components")
        for child in children:
            if child.get("type") != 2:
                continue
            if len(str(child.get("label") or "")) > MAX_LABEL:
                raise BadRequest(f"Invalid Form Body: button label must be {MAX_LABEL} or fewer in length")
            if child.get("style") == 5:
                if not child.get("url"):
                    raise BadRequest("Invalid Form Body: a link button needs a url")
                continue
            custom_id = child.get("custom_id")
            if not custom_id or len(custom_id) > MAX_CUSTOM_ID:
                raise BadRequest(f"Invalid Form Body: custom_id must be 1 to {MAX_CUSTOM_ID} characters")
            if custom_id in seen:
                raise BadRequest("Invalid Form Body: component custom id cannot be duplicated", code=50035)
            seen.add(custom_id)
            if not (child.get("label") or child.get("emoji")):
                raise BadRequest("Invalid Form Body: a button needs a label or an emoji")
