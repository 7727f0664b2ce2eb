"""Interactions the fake server sends to the bot, and what the bot answered.

`InteractionRecord` is what `FakeDiscord.slash` and `FakeDiscord.click` return: it remembers when the
interaction was sent, when and how the bot acknowledged it, its original response message and its follow-ups.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .model import ALL_PERMISSIONS, Attachment, Channel, Member, Message, Role, User

TOKEN_LIFETIME_S = 15 * 60
ACK_DEADLINE_S = 3.0


class CallbackType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


@dataclass(frozen=True)
class Callback:
    """One interaction callback the bot made: its type, its `data`, and when (monotonic seconds)."""

    type: CallbackType
    data: dict[str, Any]
    at: float


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    """2 = application command, 3 = message component, 5 = modal submit."""
    user: User
    member: Member | None
    """``None`` in a direct message."""
    channel: Channel
    data: dict[str, Any]
    message: Message | None = None
    """For a component interaction: the message whose button was clicked."""
    created_at: float = field(default_factory=time.monotonic)
    token_expires_at: float = 0.0
    callbacks: list[Callback] = field(default_factory=list)
    original: Message | None = None
    """The response message (the 'thinking…' message after a defer), or the clicked message after an
    update."""
    followups: list[Message] = field(default_factory=list)
    ephemeral: bool = False
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    modal: dict[str, Any] | None = None
    """The modal the bot answered with (callback type 9), for `FakeDiscord.submit_modal`."""

    def __post_init__(self) -> None:
        if not self.token_expires_at:
            self.token_expires_at = self.created_at + TOKEN_LIFETIME_S

    @property
    def name(self) -> str:
        """The command name (with subcommands) or the button's custom_id."""
        if self.type == 3:
            return str(self.data.get("custom_id", ""))
        parts = [str(self.data.get("name", ""))]
        options = self.data.get("options", [])
        while options and options[0].get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
            parts.append(str(options[0]["name"]))
            options = options[0].get("options", [])
        return " ".join(parts)

    @property
    def ack(self) -> Callback | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from sending the interaction to the bot's first callback."""
        return None if self.ack is None else self.ack.at - self.created_at

    @property
    def token_expired(self) -> bool:
        return time.monotonic() >= self.token_expires_at

    def expire_token(self) -> None:
        """Make the interaction token invalid now, as if 15 minutes had passed."""
        self.token_expires_at = time.monotonic()

    @property
    def messages(self) -> list[Message]:
        """The original response (if any) followed by the follow-ups."""
        return ([self.original] if self.original is not None else []) + list(self.followups)

    def payload(self, *, application_id: int, bot_permissions: int) -> dict[str, Any]:
        """The INTERACTION_CREATE data, as Discord sends it for a guild interaction or (without a guild)
        one in the bot's direct messages."""
        guild = self.channel.guild
        channel = self.channel.payload()
        data: dict[str, Any] = {
            "id": str(self.id),
            "application_id": str(application_id),
            "type": self.type,
            "data": self.data,
            "channel_id": str(self.channel.id),
            "channel": channel,
            "token": self.token,
            "version": 1,
            "app_permissions": str(bot_permissions),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": self.channel.attachment_size_limit,
        }
        if guild is None or self.member is None:
            data["user"] = self.user.payload()
            data["context"] = 1  # BOT_DM
            data["authorizing_integration_owners"] = {"0": "0"}
        else:
            channel["permissions"] = str(self.member.permissions)
            data.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                member=self.member.payload(with_permissions=True),
                guild_locale="en-US",
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        if self.message is not None:
            data["message"] = self.message.payload()
        return data

    async def wait_acked(self, timeout: float = 10.0) -> Callback:  # noqa: ASYNC109
        await asyncio.wait_for(self.acked.wait(), timeout)
        assert self.ack is not None
        return self.ack


def _in_range(option: dict[str, Any], value: float) -> float:
    """Discord's client does not send a number outside the option's min_value / max_value."""
    low, high = option.get("min_value"), option.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"option {option['name']!r} must be between {low} and {high}")
    return value


def _option_value(option: dict[str, Any], value: Any, resolved: dict[str, dict[str, Any]]) -> Any:
    kind = OptionType(option["type"])
    name = option["name"]
    if kind is OptionType.STRING:
        if not isinstance(value, str):
            raise TypeError(f"option {name!r} takes a string, not {value!r}")
        low, high = option.get("min_length", 0), option.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise ValueError(f"option {name!r} takes {low} to {high} characters")
        return value
    if kind is OptionType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"option {name!r} takes an integer, not {value!r}")
        return _in_range(option, value)
    if kind is OptionType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"option {name!r} takes a number, not {value!r}")
        return _in_range(option, value)
    if kind is OptionType.BOOLEAN:
        if not isinstance(value, bool):
            raise TypeError(f"option {name!r} takes a boolean, not {value!r}")
        return value
    if kind in (OptionType.USER, OptionType.MENTIONABLE) and isinstance(value, Member):
        resolved.setdefault("users", {})[str(value.user.id)] = value.user.payload()
        member = value.payload(with_permissions=True)
        member.pop("user")
        resolved.setdefault("members", {})[str(value.user.id)] = member
        return str(value.user.id)
    if kind in (OptionType.ROLE, OptionType.MENTIONABLE) and isinstance(value, Role):
        resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        return str(value.id)
    if kind is OptionType.CHANNEL and isinstance(value, Channel):
        channel = value.payload()
        channel["permissions"] = str(ALL_PERMISSIONS)
        resolved.setdefault("channels", {})[str(value.id)] = channel
        return str(value.id)
    if kind is OptionType.ATTACHMENT and isinstance(value, Attachment):
        resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
        return str(value.id)
    raise TypeError(f"option {name!r} of type {kind.name} cannot take {value!r}")


def build_command_data(
    command: dict[str, Any], path: list[str], values: dict[str, Any], guild_id: int | None
) -> dict[str, Any]:
    """The `data` of an APPLICATION_COMMAND interaction, checked against the command the bot registered.

    `path` names the subcommand group / subcommand under `command`; `values` maps option names to Python
    values (str, int, float, bool, or a Member / Role / Channel / Attachment of the fake server).
    """
    resolved: dict[str, dict[str, Any]] = {}
    schema: list[dict[str, Any]] = command.get("options", [])
    trail: list[str] = [command["name"]]
    leaf_holder: list[dict[str, Any]] = []
    top_options: list[dict[str, Any]] = leaf_holder
    for part in path:
        sub = next(
            (
                opt
                for opt in schema
                if opt["name"] == part
                and opt["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            known = [o["name"] for o in schema if o["type"] in (1, 2)]
            raise LookupError(f"/{' '.join(trail)} has no subcommand {part!r} (known: {known})")
        trail.append(part)
        node: dict[str, Any] = {"name": part, "type": sub["type"], "options": []}
        leaf_holder.append(node)
        leaf_holder = node["options"]
        schema = sub.get("options", [])
    if any(opt["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP) for opt in schema):
        known = [o["name"] for o in schema]
        raise LookupError(f"/{' '.join(trail)} needs a subcommand (one of {known})")

    by_name = {opt["name"]: opt for opt in schema}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise LookupError(f"/{' '.join(trail)} has no option(s) {unknown} (options: {sorted(by_name)})")
    for opt in schema:
        if opt.get("required") and opt["name"] not in values:
            raise ValueError(f"/{' '.join(trail)} requires option {opt['name']!r}")
    for opt in schema:
        if opt["name"] in values:
            value = _option_value(opt, values[opt["name"]], resolved)
            choices = opt.get("choices")
            if choices and value not in [choice["value"] for choice in choices]:
                raise ValueError(f"option {opt['name']!r} must be one of {[c['value'] for c in choices]}")
            leaf_holder.append({"name": opt["name"], "type": opt["type"], "value": value})

    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": top_options,
    }
    if resolved:
        data["resolved"] = resolved
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data
