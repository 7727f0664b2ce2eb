"""The /quota cog on a real database with discord.py objects spec'd from the real classes: who may do what,
what they are told, and that a refused call changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import create_autospec

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from sqlalchemy import text

from bot.db import Database, JobStore, QuotaRefused, QuotaService
from bot.quota import QuotaCog
from bot.quota._permissions import NOT_ADMIN, NOT_IN_GUILD
from tests.db.support import ADMIN, GUILD, Submit

MEMBER = 31
TARGET = 32
ROLE = 555
TABLES = ("guild_settings", "action_costs", "role_allowances", "user_overrides", "credit_grants", "usage",
          "reservations", "blocked_words", "audit", "jobs")  # fmt: skip


class Replies:
    """What the interaction answered: (kind, content, ephemeral) in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, bool]] = []

    @property
    def texts(self) -> list[str]:
        return [content for kind, content, _ in self.calls if kind != "defer" and content is not None]


def make_user(user_id: int, *, roles: tuple[int, ...] = ()) -> Any:
    user = create_autospec(discord.Member, instance=True)
    user.id = user_id
    user.mention = f"<@{user_id}>"
    role_objects = []
    for role_id in roles:
        role = create_autospec(discord.Role, instance=True)
        role.id = role_id
        role_objects.append(role)
    user.roles = role_objects
    user._roles = list(roles)  # what discord.py keeps from the interaction payload
    return user


def make_role(role_id: int) -> Any:
    role = create_autospec(discord.Role, instance=True)
    role.id = role_id
    role.mention = f"<@&{role_id}>"
    return role


def make_interaction(
    user_id: int,
    *,
    permissions: discord.Permissions,
    guild_id: int | None = GUILD,
    roles: tuple[int, ...] = (),
) -> tuple[Any, Replies]:
    replies = Replies()
    interaction = create_autospec(discord.Interaction, instance=True)
    interaction.user = make_user(user_id, roles=roles)
    interaction.guild_id = guild_id
    interaction.permissions = permissions
    interaction.expires_at = discord.utils.utcnow() + timedelta(minutes=15)
    interaction.command = None
    response = create_autospec(discord.InteractionResponse, instance=True)
    state = {"done": False}
    response.is_done.side_effect = lambda: state["done"]

    async def send_message(content: str | None = None, *, ephemeral: bool = False, **_: Any) -> None:
        assert not state["done"], "answered twice"
        state["done"] = True
        replies.calls.append(("send_message", content, ephemeral))

    async def defer(*, ephemeral: bool = False, thinking: bool = False) -> None:
        assert not state["done"], "answered twice"
        state["done"] = True
        replies.calls.append(("defer", None, ephemeral))

    async def followup_send(content: str | None = None, *, ephemeral: bool = False, **_: Any) -> None:
        assert state["done"], "follow-up before the response"
        replies.calls.append(("followup", content, ephemeral))

    response.send_message.side_effect = send_message
    response.defer.side_effect = defer
    interaction.response = response
    followup = create_autospec(discord.Webhook, instance=True)
    followup.send.side_effect = followup_send
    interaction.followup = followup
    return interaction, replies


ADMIN_PERMS = discord.Permissions(manage_guild=True)
MEMBER_PERMS = discord.Permissions(send_messages=True, use_application_commands=True, attach_files=True)


@pytest.fixture
def cog(quota: QuotaService) -> QuotaCog:
    return QuotaCog(quota)


def admin_commands(cog: QuotaCog) -> list[app_commands.Command[Any, ..., Any]]:
    return [
        c
        for c in cog.walk_app_commands()
        if isinstance(c, app_commands.Command) and c.qualified_name != "quota show"
    ]


def sample_arguments(command: app_commands.Command[Any, ..., Any]) -> dict[str, Any]:
    """Valid arguments for every parameter, as Discord would resolve them."""
    arguments: dict[str, Any] = {}
    for parameter in command.parameters:
        if parameter.choices:
            arguments[parameter.name] = parameter.choices[0].value
        elif parameter.type is discord.AppCommandOptionType.integer:
            arguments[parameter.name] = max(int(parameter.min_value or 0), 3)
        elif parameter.type is discord.AppCommandOptionType.string:
            arguments[parameter.name] = "3" if parameter.name in ("credits", "jobs") else "gore"
        elif parameter.type is discord.AppCommandOptionType.user:
            arguments[parameter.name] = make_user(TARGET)
        elif parameter.type is discord.AppCommandOptionType.role:
            arguments[parameter.name] = make_role(ROLE)
        elif parameter.type is discord.AppCommandOptionType.boolean:
            arguments[parameter.name] = True
        else:
            raise AssertionError(f"no sample for {command.qualified_name} {parameter.name}")
    return arguments


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    async with db.reader() as session:
        return {
            t: [tuple(r) for r in (await session.execute(text(f"SELECT * FROM {t}"))).all()] for t in TABLES
        }


async def call(
    cog: QuotaCog, command: app_commands.Command[Any, ..., Any], interaction: Any, **kw: Any
) -> None:
    await command.callback(cog, interaction, **kw)  # type: ignore[arg-type]


def test_commands_match_the_documented_set(cog: QuotaCog) -> None:
    names = {c.qualified_name for c in cog.walk_app_commands() if isinstance(c, app_commands.Command)}
    assert names == {
        "quota show", "quota set-default", "quota set-role", "quota clear-role", "quota set-user",
        "quota grant", "quota reset",
        "quota block", "quota unblock", "quota cost", "quota job-cap", "quota audit",
        "quota blocked-words add", "quota blocked-words remove", "quota blocked-words list",
    }  # fmt: skip


async def test_the_group_registers_with_discord_py(cog: QuotaCog) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.add_cog(cog)
    group = bot.tree.get_command("quota")
    assert isinstance(group, app_commands.Group)
    payload = group.to_dict(bot.tree)
    options = {option["name"]: option for option in payload["options"]}
    assert [c["value"] for c in options["set-default"]["options"][1]["choices"]] == [
        "daily", "weekly", "monthly", "none"
    ]  # fmt: skip
    assert options["show"]["options"][0]["required"] is False
    assert {o["name"] for o in options["blocked-words"]["options"]} == {"add", "remove", "list"}


async def test_non_admins_are_refused_by_every_admin_command_and_nothing_changes(
    cog: QuotaCog, db: Database
) -> None:
    before = await snapshot(db)
    checked = admin_commands(cog)
    assert len(checked) == 14
    for command in checked:
        interaction, replies = make_interaction(MEMBER, permissions=MEMBER_PERMS)
        await call(cog, command, interaction, **sample_arguments(command))
        assert replies.calls == [("send_message", NOT_ADMIN, True)], command.qualified_name
    assert await snapshot(db) == before


async def test_admin_commands_in_direct_messages_are_refused(cog: QuotaCog, db: Database) -> None:
    before = await snapshot(db)
    for command in admin_commands(cog):
        interaction, replies = make_interaction(ADMIN, permissions=discord.Permissions.all(), guild_id=None)
        await call(cog, command, interaction, **sample_arguments(command))
        assert replies.calls == [("send_message", NOT_IN_GUILD, True)], command.qualified_name
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    "permissions", [discord.Permissions(manage_guild=True), discord.Permissions(administrator=True)]
)
async def test_admins_run_every_command_ephemerally_and_changes_are_audited(
    cog: QuotaCog, quota: QuotaService, permissions: discord.Permissions
) -> None:
    for command in admin_commands(cog):
        interaction, replies = make_interaction(ADMIN, permissions=permissions)
        await call(cog, command, interaction, **sample_arguments(command))
        assert replies.calls[0] == ("defer", None, True), command.qualified_name
        assert len(replies.texts) == 1 and all(ephemeral for _, _, ephemeral in replies.calls)
        assert NOT_ADMIN not in replies.texts[0] and "Nothing was changed" not in replies.texts[0], (
            replies.texts
        )
    actions = [entry.action for entry in await quota.audit_log(GUILD, limit=50)]
    assert sorted(actions) == sorted([
        "set-default", "set-role", "clear-role", "set-user", "grant", "reset", "block", "unblock", "cost",
        "job-cap", "blocked-words add", "blocked-words remove",
    ])  # fmt: skip


async def test_anyone_sees_their_own_credits_but_only_admins_see_others(
    cog: QuotaCog, quota: QuotaService, submit: Submit
) -> None:
    await quota.set_role(GUILD, ROLE, credits=40, actor_id=ADMIN)
    await submit(MEMBER, roles=(ROLE,))
    interaction, replies = make_interaction(MEMBER, permissions=MEMBER_PERMS, roles=(ROLE,))
    await call(cog, cog.show, interaction)
    assert replies.calls[0] == ("defer", None, True)
    assert replies.texts[0].startswith("You: **39** credits left (39 of 40 daily)")
    assert "<t:" in replies.texts[0] and "imagine 1" in replies.texts[0]

    interaction, replies = make_interaction(MEMBER, permissions=MEMBER_PERMS)
    await call(cog, cog.show, interaction, user=make_user(TARGET))
    assert replies.calls == [("send_message", NOT_ADMIN, True)]

    await quota.grant(GUILD, TARGET, 4, actor_id=ADMIN)
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.show, interaction, user=make_user(TARGET))
    assert replies.texts == ["<@32>: **29** credits left (25 of 25 daily + 4 granted).\n"
                             + replies.texts[0].split("\n", 1)[1]]  # fmt: skip


async def test_set_user_parses_its_value_and_refuses_nonsense(cog: QuotaCog, quota: QuotaService) -> None:
    for value, expected in (("unlimited", None), (" 12 ", 12), ("DEFAULT", 25)):
        interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
        await call(cog, cog.set_user, interaction, user=make_user(TARGET), credits=value)
        assert (await quota.status(GUILD, TARGET, [])).allowance == expected, replies.texts
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.set_user, interaction, user=make_user(TARGET), credits="lots")
    assert replies.texts == ["`credits` is a number from 0 to 1000000, `unlimited` or `default`."]
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.set_user, interaction, user=make_user(TARGET), credits="5²")
    assert replies.texts[0].startswith("`credits` is a number")
    assert len(await quota.audit_log(GUILD)) == 3


async def test_a_roles_allowance_and_the_job_cap_can_be_cleared(quota: QuotaService) -> None:
    cog = QuotaCog(quota, job_cap_limit=4)  # what the deployment allows
    role = make_role(ROLE)
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.set_role, interaction, role=role, credits=0)
    assert (await quota.status(GUILD, TARGET, [ROLE])).allowance == 0  # 0 replaces the default
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.clear_role, interaction, role=role)
    assert "default applies" in replies.texts[0]
    assert (await quota.status(GUILD, TARGET, [ROLE])).allowance == 25  # the default again

    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.job_cap, interaction, jobs="100")  # more than the deployment allows
    assert replies.texts == ["`jobs` is a number from 1 to 4 (the most this bot allows) or `default`. "
                             "Nothing was changed."]  # fmt: skip
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.job_cap, interaction, jobs="4")
    assert (await quota.status(GUILD, TARGET)).max_active == 4
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.job_cap, interaction, jobs="Default")
    assert (await quota.status(GUILD, TARGET)).max_active is None
    with pytest.raises(ValueError, match="between 1 and 4"):
        await quota.set_job_cap(GUILD, max_active=5, actor_id=ADMIN, limit=4)

    audit = [(e.action, e.details) for e in await quota.audit_log(GUILD)]
    assert audit == [("job-cap", "default"), ("job-cap", "4"), ("clear-role", "removed"),
                     ("set-role", "0 credits")]  # fmt: skip


async def test_blocked_words_from_the_cog_refuse_prompts(
    cog: QuotaCog, quota: QuotaService, jobs: JobStore, submit: Submit
) -> None:
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.blocked_words_add, interaction, word="Sp1der")
    assert replies.texts == ["Blocked “Sp1der” as a whole word."]
    with pytest.raises(QuotaRefused):
        await submit(MEMBER, prompt="a big s p i d e r")
    await submit(MEMBER, prompt="a bigspider")
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.blocked_words_add, interaction, word="spider", anywhere=True)
    assert replies.texts == ["Blocked “spider” anywhere, also inside words."]
    with pytest.raises(QuotaRefused):
        await submit(MEMBER, prompt="a bigspider")

    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.blocked_words_add, interaction, word="...")
    assert replies.texts[0].endswith("Nothing was changed.")
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.blocked_words_list, interaction)
    assert replies.texts == ["Blocked words: “Sp1der (anywhere)”"]


async def test_audit_lists_latest_changes_with_who_and_when(cog: QuotaCog, quota: QuotaService) -> None:
    await quota.block(GUILD, TARGET, actor_id=ADMIN)
    await quota.set_role(GUILD, ROLE, credits=5, actor_id=ADMIN)
    interaction, replies = make_interaction(ADMIN, permissions=ADMIN_PERMS)
    await call(cog, cog.audit, interaction, count=5)
    lines = replies.texts[0].splitlines()
    assert lines[0] == "Latest quota changes:"
    assert lines[1].endswith("<@9> set-role <@&555>: 5 credits") and lines[1].startswith("<t:")
    assert lines[2].endswith("<@9> block <@32>")


def test_long_audit_logs_and_word_lists_fit_one_message() -> None:
    from datetime import UTC, datetime

    from bot.db import AuditEntry
    from bot.quota._format import describe_audit, describe_words

    when = datetime(2026, 3, 10, tzinfo=UTC)
    entries = [AuditEntry(i, GUILD, ADMIN, "blocked-words add", None, "w" * 100, when) for i in range(25)]
    text = describe_audit(entries)
    assert len(text) <= 2000 and text.count("\n") == len(text.splitlines()) - 1
    assert all(line.endswith("w" * 100) for line in text.splitlines()[1:])  # whole lines only
    assert 10 < len(text.splitlines()) - 1 < 25

    words = [f"word{i:03d}" + "x" * 90 for i in range(40)]
    listed = describe_words(words)
    assert len(listed) <= 2000 and listed.endswith("more") and listed.startswith("Blocked words: “word000")
    assert describe_words(["a", "b"]) == "Blocked words: “a”, “b”"
