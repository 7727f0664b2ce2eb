"""The words of a job's message: ``**prompt** - <@user> (state)``, as Midjourney shows them.

A prompt is the user's text shown to everyone in the channel, so it is echoed inert (:func:`echo`): no
mention pings or renders as one, no markdown applies, no link is live or disguised. The only live mention
is the job owner's, and the messages carrying it allow exactly that one (:mod:`bot.replies`).
"""

from __future__ import annotations

import re

import discord

from bot.queue import RUNNING

MAX_CONTENT = 2000
_ZWSP = "\u200b"
_MENTION = re.compile(
    r"<(?=[@#/]|a?:\w+:\d)"
)  # <@user> <@!user> <@&role> <#channel> </command:id> <:emoji:id>
_BROADCAST = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_SCHEME = re.compile(r"(?<=[a-z0-9])://", re.IGNORECASE)


def echo(text: str) -> str:
    """``text`` as it may be echoed: backslashes and markdown escaped, mentions (users, roles, channels,
    ``@everyone``/``@here``) broken with a zero-width space, and ``scheme://`` no longer a link."""
    text = discord.utils.escape_markdown(text, ignore_links=False)
    text = _MENTION.sub("<" + _ZWSP, text)
    text = _BROADCAST.sub("@" + _ZWSP, text)
    return _SCHEME.sub(":" + _ZWSP + "//", text)


def _clip(prompt: str, room: int) -> str:
    return prompt if len(prompt) <= room else prompt[: max(room - 1, 0)] + "…"


_TOOL_NAMES = {"zoom": "Zoom Out", "square": "Make Square", "region": "Variations (Region)"}


def headline(
    kind: str,
    prompt: str,
    user_id: int,
    *,
    tile: int | None = None,
    strength: str | None = None,
    tool: str | None = None,
) -> str:
    r"""``**prompt** - <@user>`` with the job's kind spelled out (``Image #2``, ``Variations (Strong) by``,
    ``Upscaled (Subtle) by``, ``Zoom Out by``, ``Pan Left by``; ``tool`` is the upscale mode or pan
    direction); the prompt is :func:`echo`\ ed."""
    mention = f"<@{user_id}>"
    if kind == "upscale" and tool in ("subtle", "creative"):
        who = f"Upscaled ({tool.title()}) by {mention}"
    elif kind == "upscale":
        who = f"Image #{tile} {mention}" if tile else mention
    elif kind == "pan":
        who = f"Pan {(tool or '').title()} by {mention}"
    elif kind in _TOOL_NAMES:
        who = f"{_TOOL_NAMES[kind]} by {mention}"
    elif kind == "variation":
        who = f"Variations ({(strength or 'strong').title()}) by {mention}"
    else:
        who = mention
    room = MAX_CONTENT - len(who) - 80  # leaves room for the state in parentheses
    return f"**{_clip(echo(prompt), room)}** - {who}"


def waiting(head: str, position: int) -> str:
    if position <= RUNNING or position == 1:
        return f"{head} (Waiting to start)"
    return f"{head} (Waiting to start, number {position} in the queue)"


def progress(head: str, fraction: float) -> str:
    percent = max(0, min(99, int(fraction * 100)))  # 100% is the result itself
    return f"{head} ({percent}%)"


def failed(head: str, reason: str) -> str:
    return f"{head} (Failed: {reason})"


def cancelled(head: str) -> str:
    return f"{head} (Cancelled)"


def resumed(head: str) -> str:
    return f"{head} (Resumed after a restart; waiting to start)"


def interrupted(head: str) -> str:
    return f"{head} (Paused: the bot is restarting; this job will resume)"
