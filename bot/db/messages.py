"""The short, specific refusal texts users see (ephemeral)."""

from __future__ import annotations

from datetime import datetime

from bot.db.periods import discord_relative

BLOCKED = "You are blocked from creating images here."


def out_of_credits(action: str, cost: int, remaining: int, next_refill: datetime | None) -> str:
    credits = "credit" if cost == 1 else "credits"
    text = f"Out of credits: {action} costs {cost} {credits} and you have {remaining} left."
    if next_refill is None:
        return f"{text} Your allowance does not refill; ask a server admin for more."
    return f"{text} Next refill {discord_relative(next_refill)}."


def job_cap(active: int, cap: int) -> str:
    jobs = "job" if active == 1 else "jobs"
    limit = "job" if cap == 1 else "jobs"
    return (
        f"You already have {active} {jobs} queued or running (limit {cap} {limit}). "
        "Wait for one to finish or cancel one."
    )


def blocked_word(word: str) -> str:
    return f'Your prompt contains the blocked word "{word}". Nothing was charged.'
