"""Turn what the user typed in the sandbox's prompt box into a slash command the bot registered.

`/imagine a red circle --ar 3:2` gives the whole rest of the line to the command's text option when that is
its only required option (Discord's client does the same once you start typing it); otherwise options are
named the way Discord displays them: `/quota set-user user:@member credits:5`. Subcommand groups and
subcommands come first, as words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.sandbox.fake_discord import Channel, Guild, Member, Role

SUBCOMMAND_TYPES = (1, 2)
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
TRUE_WORDS = {"true", "yes", "y", "on", "1"}
FALSE_WORDS = {"false", "no", "n", "off", "0"}
_MENTION = re.compile(r"^<[@#]&?!?(\d+)>$")


class CommandLineError(ValueError):
    """What the user typed cannot be a command; the message says why, for the page to show."""


@dataclass(frozen=True)
class ParsedCommand:
    path: list[str]
    """The command name followed by any subcommand group / subcommand."""
    options: dict[str, Any]


def parse_command_line(text: str, commands: list[dict[str, Any]], guild: Guild) -> ParsedCommand:
    text = text.strip()
    if not text.startswith("/"):
        raise CommandLineError("Commands start with '/', e.g. /imagine a red circle --ar 3:2")
    words = text[1:].split(maxsplit=1)
    if not words:
        raise CommandLineError(_known(commands))
    name, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    command = next((c for c in commands if c["name"] == name and c.get("type", 1) == 1), None)
    if command is None:
        raise CommandLineError(f"Unknown command /{name}. {_known(commands)}")
    path = [name]
    schema: list[dict[str, Any]] = command.get("options", [])
    while any(opt["type"] in SUBCOMMAND_TYPES for opt in schema):
        subs = [opt for opt in schema if opt["type"] in SUBCOMMAND_TYPES]
        head, _, tail = rest.strip().partition(" ")
        chosen = next((opt for opt in subs if opt["name"] == head.lower()), None)
        if chosen is None:
            names = ", ".join(opt["name"] for opt in subs)
            raise CommandLineError(f"/{' '.join(path)} needs a subcommand: {names}")
        path.append(chosen["name"])
        schema = chosen.get("options", [])
        rest = tail
    options = _parse_options(rest.strip(), schema, guild, "/" + " ".join(path))
    return ParsedCommand(path=path, options=options)


def _known(commands: list[dict[str, Any]]) -> str:
    names = sorted(f"/{c['name']}" for c in commands if c.get("type", 1) == 1)
    return f"Available: {', '.join(names)}" if names else "The bot has not registered any command yet."


def _parse_options(rest: str, schema: list[dict[str, Any]], guild: Guild, where: str) -> dict[str, Any]:
    by_name = {opt["name"]: opt for opt in schema}
    raw: dict[str, str] = {}
    if by_name and rest:
        marker = re.compile(r"(?:^|\s)(" + "|".join(re.escape(n) for n in by_name) + r"):")
        found = list(marker.finditer(rest))
        if found and found[0].start() == 0:
            for index, match in enumerate(found):
                end = found[index + 1].start() if index + 1 < len(found) else len(rest)
                raw[match.group(1)] = rest[match.end() : end].strip()
        else:
            required = [opt for opt in schema if opt.get("required")]
            first_text = next((opt for opt in schema if opt["type"] == STRING), None)
            if first_text is None or len(required) > 1 or (required and required[0] is not first_text):
                usage = " ".join(f"{n}:…" for n in by_name)
                raise CommandLineError(f"Give options as name:value, e.g. {where} {usage}")
            raw[first_text["name"]] = rest
    elif rest:
        raise CommandLineError(f"{where} takes no options")
    missing = [opt["name"] for opt in schema if opt.get("required") and opt["name"] not in raw]
    if missing:
        raise CommandLineError(f"{where} needs: {', '.join(f'{n}:' for n in missing)}")
    return {name: _convert(by_name[name], value, guild) for name, value in raw.items()}


def _convert(option: dict[str, Any], value: str, guild: Guild) -> Any:
    name, kind = option["name"], option["type"]
    if not value:
        raise CommandLineError(f"Option {name}: is empty")
    choices = option.get("choices")
    if choices:
        for choice in choices:
            if value in (str(choice["value"]), choice["name"]):
                return choice["value"]
        allowed = ", ".join(str(choice["name"]) for choice in choices)
        raise CommandLineError(f"Option {name}: must be one of {allowed}")
    if kind == STRING:
        return value
    if kind == INTEGER:
        try:
            return int(value)
        except ValueError:
            raise CommandLineError(f"Option {name}: expects a whole number, not {value!r}") from None
    if kind == NUMBER:
        try:
            return float(value)
        except ValueError:
            raise CommandLineError(f"Option {name}: expects a number, not {value!r}") from None
    if kind == BOOLEAN:
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise CommandLineError(f"Option {name}: expects true or false")
    if kind in (USER, MENTIONABLE):
        member = _find_member(guild, value)
        if member is not None:
            return member
        if kind == USER:
            raise CommandLineError(f"Option {name}: no member {value!r} in this server")
    if kind in (ROLE, MENTIONABLE):
        role = _find_role(guild, value)
        if role is not None:
            return role
        raise CommandLineError(f"Option {name}: no role or member {value!r} in this server")
    if kind == CHANNEL:
        channel = _find_channel(guild, value)
        if channel is not None:
            return channel
        raise CommandLineError(f"Option {name}: no channel {value!r} in this server")
    raise CommandLineError(f"Option {name}: this sandbox cannot enter that kind of value")


def _find_member(guild: Guild, value: str) -> Member | None:
    match = _MENTION.match(value)
    if match:
        return guild.members.get(int(match.group(1)))
    wanted = value.lstrip("@").lower()
    return next((m for m in guild.members.values() if m.user.name.lower() == wanted), None)


def _find_role(guild: Guild, value: str) -> Role | None:
    match = _MENTION.match(value)
    roles = [guild.everyone, *guild.roles]
    if match:
        return next((r for r in roles if r.id == int(match.group(1))), None)
    wanted = value.lstrip("@").lower()
    return next((r for r in roles if r.name.lstrip("@").lower() == wanted), None)


def _find_channel(guild: Guild, value: str) -> Channel | None:
    match = _MENTION.match(value)
    if match:
        return next((c for c in guild.channels if c.id == int(match.group(1))), None)
    wanted = value.lstrip("#").lower()
    return next((c for c in guild.channels if c.name.lower() == wanted), None)
