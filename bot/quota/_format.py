"""How quota state reads in Discord: short lines, timestamps each client shows in its own time zone."""

from __future__ import annotations

from collections.abc import Sequence

from bot.db import AuditEntry, QuotaStatus
from bot.db.periods import discord_relative

ACTION_NAMES = {
    "imagine": "imagine",
    "variation": "variation",
    "upscale": "upscale",
    "reroll": "re-roll",
    "zoom": "zoom out",
    "pan": "pan",
    "square": "make square",
    "region": "vary (region)",
}


def describe_status(status: QuotaStatus, *, who: str) -> str:
    """``who`` is "You" or a mention."""
    if status.blocked:
        head = f"{who}: blocked from creating images here."
    elif status.remaining is None:
        head = f"{who}: unlimited credits."
    else:
        head = f"{who}: **{status.remaining}** credits left"
        parts = []
        if status.allowance is not None:
            period = "no refill" if status.period == "none" else status.period
            parts.append(
                f"{status.allowance - min(status.used, status.allowance)} of {status.allowance} {period}"
            )
        if status.granted:
            parts.append(f"{status.granted} granted")
        head += f" ({' + '.join(parts)})." if parts else "."
    lines = [head]
    if status.next_refill is not None and status.remaining is not None and not status.blocked:
        lines.append(f"Next refill {discord_relative(status.next_refill)}.")
    costs = " · ".join(f"{ACTION_NAMES.get(a, a)} {c}" for a, c in status.costs.items())
    lines.append(f"Costs: {costs}.")
    if status.max_active is not None:
        lines.append(f"At most {status.max_active} jobs queued or running per member.")
    return "\n".join(lines)


MESSAGE_LIMIT = 2000  # Discord's limit on a message's content


def describe_audit(entries: Sequence[AuditEntry], *, limit: int = MESSAGE_LIMIT) -> str:
    """Newest first, one line each, as many whole lines as fit in one Discord message."""
    if not entries:
        return "No quota changes yet."
    lines = ["Latest quota changes:"]
    size = len(lines[0])
    for entry in entries:
        if entry.target_id is None:
            target = ""
        elif entry.action == "set-role":
            target = f" <@&{entry.target_id}>"
        else:
            target = f" <@{entry.target_id}>"
        details = f": {entry.details}" if entry.details else ""
        line = f"{discord_relative(entry.created_at)} <@{entry.actor_id}> {entry.action}{target}{details}"
        if size + 1 + len(line) > limit:
            break
        lines.append(line)
        size += 1 + len(line)
    return "\n".join(lines)


def describe_words(words: Sequence[str], *, limit: int = MESSAGE_LIMIT) -> str:
    if not words:
        return "No blocked words."
    text = "Blocked words: "
    for shown, word in enumerate(words):
        item = f"“{word}”" if shown == 0 else f", “{word}”"
        if len(text) + len(item) + len(f" and {len(words)} more") > limit:
            return f"{text} and {len(words) - shown} more"
        text += item
    return text
