"""``/quota``: anyone sees their own credits; members with Manage Server change allowances, costs, blocks and
blocked words. Every answer is ephemeral; every change is audited by :class:`~bot.db.QuotaService`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.db import QuotaService
from bot.db.quota import MAX_CREDITS, MAX_JOB_CAP
from bot.members import role_ids
from bot.quota._format import describe_audit, describe_status, describe_words
from bot.quota._permissions import refusal
from bot.replies import reply

log = logging.getLogger(__name__)

Credits = app_commands.Range[int, 0, MAX_CREDITS]
PeriodName = Literal["daily", "weekly", "monthly", "none"]
ActionName = Literal[
    "imagine", "variation", "upscale", "reroll", "describe", "zoom", "pan", "square", "region"
]
AnyUser = discord.Member | discord.User


class QuotaCog(commands.GroupCog, group_name="quota", group_description="Credits, allowances and limits"):
    """Add with ``await bot.add_cog(QuotaCog(quota))``.

    The group carries no ``default_member_permissions``: Discord allows them only on the top-level command and
    ``/quota show`` is for everyone. Each admin subcommand checks the caller's permissions from the
    interaction before doing anything.
    """

    blocked_words = app_commands.Group(name="blocked-words", description="Words refused in prompts")

    def __init__(self, quota: QuotaService, *, job_cap_limit: int = MAX_JOB_CAP) -> None:
        self.quota = quota
        self.job_cap_limit = min(job_cap_limit, MAX_JOB_CAP)
        super().__init__()

    # ---- helpers ----

    async def _admin(self, interaction: discord.Interaction) -> int | None:
        """The guild id if the caller may change quotas; otherwise answers with the refusal: ``None``."""
        reason = refusal(interaction)
        if reason is not None:
            log.info(
                "quota: refused %s for user %s (not an admin)", _command(interaction), interaction.user.id
            )
            await reply(interaction, reason)
            return None
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        return interaction.guild_id

    async def _apply(self, interaction: discord.Interaction, change: Awaitable[object], done: str) -> None:
        try:
            await change
        except ValueError as error:
            await reply(interaction, f"{error}. Nothing was changed.")
            return
        await reply(interaction, done)

    # ---- everyone ----

    @app_commands.command(
        name="show", description="Your credits, the next refill and the cost of each action"
    )
    @app_commands.describe(user="Admins: whose credits to show")
    async def show(self, interaction: discord.Interaction, user: AnyUser | None = None) -> None:
        if user is not None and user.id != interaction.user.id:
            if await self._admin(interaction) is None:
                return
            target: discord.abc.User = user
        else:
            target = interaction.user
            await interaction.response.defer(ephemeral=True, thinking=True)
        status = await self.quota.status(
            interaction.guild_id, target.id, role_ids(target, interaction.guild_id)
        )
        who = "You" if target.id == interaction.user.id else target.mention
        await reply(interaction, describe_status(status, who=who))

    # ---- admins ----

    @app_commands.command(name="set-default", description="Credits every member gets per period")
    @app_commands.describe(credits="Credits per period", period="When the allowance refills (none = never)")
    async def set_default(
        self, interaction: discord.Interaction, credits: Credits, period: PeriodName
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.set_default(guild, credits=credits, period=period, actor_id=interaction.user.id)
        refill = "never refilled" if period == "none" else f"refilled {period}"
        await self._apply(interaction, change, f"Every member now gets {credits} credits, {refill}.")

    @app_commands.command(name="set-role", description="Credits per period for members with a role")
    @app_commands.describe(
        role="The role", credits="Credits per period (members get their most generous role)"
    )
    async def set_role(self, interaction: discord.Interaction, role: discord.Role, credits: Credits) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.set_role(guild, role.id, credits=credits, actor_id=interaction.user.id)
        await self._apply(interaction, change, f"{role.mention} now gets {credits} credits per period.")

    @app_commands.command(name="clear-role", description="Remove a role's allowance (the default applies)")
    @app_commands.describe(role="The role")
    async def clear_role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.set_role(guild, role.id, credits=None, actor_id=interaction.user.id)
        await self._apply(
            interaction,
            change,
            f"{role.mention} no longer has its own allowance; the server's default applies.",
        )

    @app_commands.command(name="set-user", description="Override one member's allowance")
    @app_commands.describe(
        user="The member", credits="A number of credits, `unlimited`, or `default` to clear"
    )
    async def set_user(self, interaction: discord.Interaction, user: AnyUser, credits: str) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        value = credits.strip().casefold()
        if value in ("unlimited", "default"):
            setting: int | Literal["unlimited", "default"] = value  # type: ignore[assignment]
            done = {"unlimited": f"{user.mention} now has unlimited credits.",
                    "default": f"{user.mention} is back on the server's allowance."}[value]  # fmt: skip
        elif value.isascii() and value.isdigit() and int(value) <= MAX_CREDITS:
            setting = int(value)
            done = f"{user.mention} now gets {setting} credits per period."
        else:
            await reply(
                interaction, f"`credits` is a number from 0 to {MAX_CREDITS}, `unlimited` or `default`."
            )
            return
        await self._apply(
            interaction, self.quota.set_user(guild, user.id, setting, actor_id=interaction.user.id), done
        )

    @app_commands.command(name="grant", description="Give one-off credits that do not expire")
    @app_commands.describe(user="The member", credits="Credits to add")
    async def grant(
        self,
        interaction: discord.Interaction,
        user: AnyUser,
        credits: app_commands.Range[int, 1, MAX_CREDITS],
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        try:
            balance = await self.quota.grant(guild, user.id, credits, actor_id=interaction.user.id)
        except ValueError as error:
            await reply(interaction, f"{error}. Nothing was changed.")
            return
        await reply(interaction, f"Granted {credits} credits to {user.mention} ({balance} granted in total).")

    @app_commands.command(name="reset", description="Clear a member's override and this period's usage")
    @app_commands.describe(user="The member")
    async def reset(self, interaction: discord.Interaction, user: AnyUser) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.reset_user(guild, user.id, actor_id=interaction.user.id)
        await self._apply(
            interaction, change, f"{user.mention} is back on the server's allowance, refilled now."
        )

    @app_commands.command(name="block", description="Stop a member from creating images")
    @app_commands.describe(user="The member")
    async def block(self, interaction: discord.Interaction, user: AnyUser) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.block(guild, user.id, actor_id=interaction.user.id)
        await self._apply(interaction, change, f"{user.mention} is blocked from creating images.")

    @app_commands.command(name="unblock", description="Let a blocked member create images again")
    @app_commands.describe(user="The member")
    async def unblock(self, interaction: discord.Interaction, user: AnyUser) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.unblock(guild, user.id, actor_id=interaction.user.id)
        await self._apply(interaction, change, f"{user.mention} can create images again.")

    @app_commands.command(name="cost", description="Set what an action costs")
    @app_commands.describe(action="The action", credits="Its cost in credits (0 = free)")
    async def cost(
        self, interaction: discord.Interaction, action: ActionName, credits: app_commands.Range[int, 0, 1000]
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        change = self.quota.set_cost(guild, action, credits, actor_id=interaction.user.id)
        await self._apply(interaction, change, f"{action} now costs {credits} credits.")

    @app_commands.command(name="job-cap", description="How many jobs one member may have queued or running")
    @app_commands.describe(jobs="Jobs per member, or `default` for the bot's default")
    async def job_cap(self, interaction: discord.Interaction, jobs: app_commands.Range[str, 1, 10]) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        value = jobs.strip().casefold()
        limit = self.job_cap_limit
        if value == "default":
            change = self.quota.set_job_cap(guild, max_active=None, actor_id=interaction.user.id)
            await self._apply(interaction, change, "Members are back on the bot's default job limit.")
            return
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= limit):
            await reply(
                interaction,
                f"`jobs` is a number from 1 to {limit} (the most this bot allows) or `default`. "
                "Nothing was changed.",
            )
            return
        change = self.quota.set_job_cap(
            guild, max_active=int(value), actor_id=interaction.user.id, limit=limit
        )
        await self._apply(interaction, change, f"Members may now have {int(value)} jobs queued or running.")

    @app_commands.command(name="audit", description="The latest quota changes")
    @app_commands.describe(count="How many entries")
    async def audit(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        await reply(interaction, describe_audit(await self.quota.audit_log(guild, limit=count)))

    @blocked_words.command(name="add", description="Refuse prompts containing a word or phrase")
    @app_commands.describe(
        word="Matched ignoring case, spacing, punctuation, look-alike letters and simple letter swaps",
        anywhere="Also inside other words (gore in bloodgore); default: whole words only",
    )
    async def blocked_words_add(
        self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100], anywhere: bool = False
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        try:
            added = await self.quota.add_blocked_word(
                guild, word, actor_id=interaction.user.id, anywhere=anywhere
            )
        except ValueError as error:
            await reply(interaction, f"{error}. Nothing was changed.")
            return
        how = "anywhere, also inside words" if anywhere else "as a whole word"
        await reply(
            interaction,
            f"Blocked “{word.strip()}” {how}." if added else f"“{word.strip()}” was already blocked {how}.",
        )

    @blocked_words.command(name="remove", description="Allow a blocked word again")
    @app_commands.describe(word="The blocked word")
    async def blocked_words_remove(
        self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]
    ) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        removed = await self.quota.remove_blocked_word(guild, word, actor_id=interaction.user.id)
        await reply(
            interaction, f"Unblocked “{word.strip()}”." if removed else f"“{word.strip()}” was not blocked."
        )

    @blocked_words.command(name="list", description="The blocked words of this server")
    async def blocked_words_list(self, interaction: discord.Interaction) -> None:
        if (guild := await self._admin(interaction)) is None:
            return
        await reply(interaction, describe_words(await self.quota.blocked_words(guild)))


def _command(interaction: discord.Interaction) -> str:
    command = interaction.command
    return f"/{command.qualified_name}" if command is not None else "/quota"
