"""Telling the owner of a private job that failed where its ephemeral message could no longer reach them.

A private job lives only in its interaction's ephemeral message. When the result cannot go there (the
15-minute token has run out, Discord refused the post, or the bot restarted and the interaction is gone), the
job is failed and refunded, and its owner gets a direct message saying so. If the DM cannot be delivered
(DMs closed: 403, code 50007) one line is logged and nothing more: never a public fallback.
"""

from __future__ import annotations

import logging

import aiohttp
import discord

from bot.db import JobRecord
from bot.imagine import _text

log = logging.getLogger(__name__)

EXPIRED = "finished after Discord's 15-minute window, so it could not be shown privately"
REFUSED = "finished, but Discord refused to show it privately"
RESTARTED = "was interrupted by a bot restart, so it could not be shown privately"
_PROMPT_ROOM = 300


def message(job: JobRecord, what: str, server: str | None) -> str:
    """``Your private job #N (**prompt**) in <server> <what>; nothing was charged. Run it again …``."""
    prompt = job.prompt if len(job.prompt) <= _PROMPT_ROOM else job.prompt[: _PROMPT_ROOM - 1] + "…"
    where = f" in {_text.echo(server)}" if server else ""
    seed = job.params.get("seed")
    if not isinstance(seed, int) and job.seeds:
        seed = job.seeds[0]
    again = "Run it again"
    if job.kind == "imagine" and isinstance(seed, int):
        again += f" with `--seed {seed}`"
    return (
        f"Your private job #{job.id} (**{_text.echo(prompt)}**){where} {what}; nothing was charged. {again}."
    )


async def tell_owner(client: discord.Client, job: JobRecord, what: str) -> bool:
    """DM ``job``'s owner why their private job failed; says whether it was delivered. Never raises."""
    guild = client.get_guild(job.guild_id) if job.guild_id is not None else None
    content = message(job, what, guild.name if guild is not None else None)
    try:
        user = client.get_user(job.user_id) or await client.fetch_user(job.user_id)
        await user.send(content, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as error:
        log.warning(
            "job %s: could not DM its owner (HTTP %s, code %s); not posted publicly",
            job.id,
            error.status,
            error.code,
        )
        return False
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("job %s: could not DM its owner (%r); not posted publicly", job.id, error)
        return False
    return True
