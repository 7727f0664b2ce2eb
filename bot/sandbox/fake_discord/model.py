"""The fake server's world: guilds, roles, channels, users, members, messages and attachments.

Every object knows how to render itself as the JSON payload Discord's API v10 would send for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_DEFAULT = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
)

# Message flags and types.
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20

DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024


def iso(moment: datetime) -> str:
    return moment.isoformat()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    dms_closed: bool = False
    """The user accepts no direct messages from the bot: posting in their DM channel is refused (50007)."""

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Member:
    """A user in a guild. `extra_permissions` act like a member-specific channel overwrite."""

    user: User
    guild: Guild
    roles: list[Role] = field(default_factory=list)
    extra_permissions: int = 0
    joined_at: datetime = field(default_factory=now)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def permissions(self) -> int:
        """Total permissions, as Discord computes them for `member.permissions` in an interaction."""
        if self.guild.owner_id == self.user.id:
            return ALL_PERMISSIONS
        total = self.guild.everyone.permissions | self.extra_permissions
        for role in self.roles:
            total |= role.permissions
        return ALL_PERMISSIONS if total & ADMINISTRATOR else total

    def payload(self, *, with_permissions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "nick": None,
            "avatar": None,
            "roles": [str(role.id) for role in self.roles],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data


@dataclass
class Channel:
    """A guild text channel, or (``guild`` ``None``) the direct-message channel between the bot and
    ``recipient``."""

    id: int
    guild: Guild | None
    name: str
    position: int = 0
    topic: str | None = None
    recipient: User | None = None

    @property
    def guild_id(self) -> int | None:
        return self.guild.id if self.guild is not None else None

    @property
    def attachment_size_limit(self) -> int:
        return self.guild.attachment_size_limit if self.guild is not None else DEFAULT_ATTACHMENT_LIMIT

    def payload(self) -> dict[str, Any]:
        if self.guild is None:
            return {
                "id": str(self.id),
                "type": 1,
                "recipients": [self.recipient.payload()] if self.recipient is not None else [],
                "last_message_id": None,
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": 0,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": self.topic,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    everyone: Role
    roles: list[Role] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT
    created_at: datetime = field(default_factory=now)

    def member(self, user: User | int) -> Member:
        user_id = user if isinstance(user, int) else user.id
        try:
            return self.members[user_id]
        except KeyError:
            raise LookupError(f"user {user_id} is not a member of guild {self.name!r}") from None

    def role_named(self, name: str) -> Role:
        for role in [self.everyone, *self.roles]:
            if role.name == name:
                return role
        raise LookupError(f"no role named {name!r} in guild {self.name!r}")

    def channel_named(self, name: str) -> Channel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise LookupError(f"no channel named {name!r} in guild {self.name!r}")

    def payload(self, *, members: bool = True, bot_id: int | None = None) -> dict[str, Any]:
        """The GUILD_CREATE payload: the whole guild with channels and roles; every member, or (as Discord
        does without the members intent) only the bot's own member."""
        listed = [m for m in self.members.values() if members or m.user.id == bot_id]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.payload() for role in [self.everyone, *self.roles]],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "joined_at": iso(self.created_at),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [member.payload() for member in listed],
            "channels": [channel.payload() for channel in self.channels],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class Attachment:
    """An uploaded file: its bytes in memory (`content`) or, once written out, in a file (`path`)."""

    id: int
    filename: str
    content_type: str
    url: str
    size: int
    description: str | None = None
    width: int | None = None
    height: int | None = None
    content: bytes | None = None
    path: Path | None = None

    @property
    def data(self) -> bytes:
        """The file's bytes (read from `path` if no longer held in memory)."""
        if self.content is not None:
            return self.content
        if self.path is None:
            raise FileNotFoundError(f"attachment {self.id} has no content")
        return self.path.read_bytes()

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.width is not None and self.height is not None:
            data["width"] = self.width
            data["height"] = self.height
        return data


@dataclass(frozen=True)
class MessageRevision:
    """One past state of a message (kept on every edit, so tests can follow progress updates)."""

    content: str
    embeds: list[dict[str, Any]]
    attachments: list[Attachment]
    components: list[dict[str, Any]]
    flags: int
    at: float


@dataclass
class Message:
    id: int
    channel: Channel
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    type: int = MESSAGE_DEFAULT
    visible_to: int | None = None
    """For an ephemeral message: the only user who can see it."""
    reference: Message | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=now)
    edited_at: datetime | None = None
    revisions: list[MessageRevision] = field(default_factory=list)
    deleted: bool = False
    created_monotonic: float = field(default_factory=time.monotonic)
    allowed_mentions: dict[str, Any] | None = None
    """The `allowed_mentions` of the latest create or edit (`None` if the bot sent none)."""
    pinged: set[int] = field(default_factory=set)
    """Users this message notified when it was created (as Discord decides from the content and
    `allowed_mentions`; edits never notify)."""
    pinged_everyone: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while an interaction deferred with 'thinking' has not been edited yet."""
        return bool(self.flags & FLAG_LOADING)

    def visible_for(self, user: User | Member | int) -> bool:
        user_id = user if isinstance(user, int) else user.id
        return self.visible_to is None or self.visible_to == user_id

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button on the message, row by row."""
        found: list[dict[str, Any]] = []
        for row in self.components:
            for child in row.get("components", []):
                if child.get("type") == 2:
                    found.append(child)
        return found

    @property
    def selects(self) -> list[dict[str, Any]]:
        """Every select menu on the message, row by row."""
        return [
            child
            for row in self.components
            for child in row.get("components", [])
            if child.get("type") in (3, 5, 6, 7, 8)
        ]

    @property
    def button_labels(self) -> list[str]:
        return [
            str(button.get("label") or button.get("emoji", {}).get("name", "")) for button in self.buttons
        ]

    def button(self, label: str) -> dict[str, Any]:
        """The button with this label (or emoji), for `FakeDiscord.click`."""
        for button in self.buttons:
            if button.get("label") == label or button.get("emoji", {}).get("name") == label:
                return button
        raise LookupError(f"no button {label!r} on message {self.id} (buttons: {self.button_labels})")

    def snapshot(self) -> MessageRevision:
        return MessageRevision(
            content=self.content,
            embeds=list(self.embeds),
            attachments=list(self.attachments),
            components=list(self.components),
            flags=self.flags,
            at=time.monotonic(),
        )

    def payload(self, *, with_reference: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at) if self.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [attachment.payload() for attachment in self.attachments],
            "embeds": self.embeds,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
            "components": self.components,
        }
        if self.channel.guild is not None:
            data["guild_id"] = str(self.channel.guild.id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.reference is not None:
            data["message_reference"] = {
                "type": 0,
                "message_id": str(self.reference.id),
                "channel_id": str(self.reference.channel.id),
            }
            if self.reference.channel.guild is not None:
                data["message_reference"]["guild_id"] = str(self.reference.channel.guild.id)
            if with_reference:
                data["referenced_message"] = self.reference.payload(with_reference=False)
        return data


@dataclass
class BotApplication:
    """The bot's application: its id, its bot user and the token the bot must present."""

    id: int
    user: User
    token: str

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.user.payload(),
            "team": None,
            "flags": 0,
            "bot": self.user.payload(),
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "integration_types_config": {"0": {}},
        }
