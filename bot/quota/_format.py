"""How quota state reads in Discord: short lines, timestamps each client shows in its own time zone."""

from __future__ import annotations

from collections.abc import Sequence

from bot.db import AuditEntry, QuotaStatus
from bot.db.periods import discord_relative

ACTION_NAMES = {"imagine": "imagine", "variation": "variation", "upscale": "upscale", "reroll": "re-roll"}


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


def describe_audit(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "No quota changes yet."
    lines = ["Latest quota changes:"]
    for entry in entries:
        target = (
            f" <@{entry.target_id}>" if entry.target_id is not None and entry.action != "set-role" else ""
        )
        if entry.action == "set-role" and entry.target_id is not None:
            target = f" <@&{entry.target_id}>"
        details = f": {entry.details}" if entry.details else ""
        lines.append(
            f"{discord_relative(entry.created_at)} <@{entry.actor_id}> {entry.action}{target}{details}"
        )
    return "\n".join(lines)
