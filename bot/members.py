"""Who a member is for quotas: their role ids, read the same way by every command and button."""

from __future__ import annotations

import discord


def role_ids(user: discord.abc.User, guild_id: int | None) -> list[int]:
    """The member's role ids from the interaction payload (no role cache needed), plus the server's
    ``@everyone`` role, whose id is the server's: an allowance an admin sets for ``@everyone`` applies to
    every member. None outside a server."""
    if guild_id is None:
        return []
    return [guild_id, *(int(role_id) for role_id in getattr(user, "_roles", ()))]
