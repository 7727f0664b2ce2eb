"""Who may change quotas: members whose permissions in the interaction include Manage Server or Administrator.

Discord's ``default_member_permissions`` exists only on top-level commands and server admins can override it,
so it is a hint; this check, made on every admin call, is what protects the settings.
"""

from __future__ import annotations

import discord

NOT_ADMIN = "Only members with the Manage Server permission can change quotas. Nothing was changed."
NOT_IN_GUILD = "Quotas are set per server; use this command in a server."


def refusal(interaction: discord.Interaction) -> str | None:
    """``None`` if the caller may change this server's quotas, else the reason shown to them."""
    if interaction.guild_id is None:
        return NOT_IN_GUILD
    permissions = interaction.permissions
    if permissions.manage_guild or permissions.administrator:
        return None
    return NOT_ADMIN
