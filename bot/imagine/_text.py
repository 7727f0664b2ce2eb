"""The words of a job's message: ``**prompt** - <@user> (state)``, as Midjourney shows them."""

from __future__ import annotations

from bot.queue import RUNNING

MAX_CONTENT = 2000


def _clip(prompt: str, room: int) -> str:
    return prompt if len(prompt) <= room else prompt[: max(room - 1, 0)] + "…"


def headline(
    kind: str, prompt: str, user_id: int, *, tile: int | None = None, strength: str | None = None
) -> str:
    """``**prompt** - <@user>`` with the job's kind spelled out (``Image #2``, ``Variations (Strong) by``)."""
    mention = f"<@{user_id}>"
    if kind == "upscale":
        who = f"Image #{tile} {mention}" if tile else mention
    elif kind == "variation":
        who = f"Variations ({(strength or 'strong').title()}) by {mention}"
    else:
        who = mention
    room = MAX_CONTENT - len(who) - 80  # leaves room for the state in parentheses
    return f"**{_clip(prompt, room)}** - {who}"


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
