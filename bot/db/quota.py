"""Quota status for users and the admin operations behind ``/quota``; every admin change writes an audit row
in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db import ledger
from bot.db.jobs import Clock, utcnow
from bot.db.ledger import UsageKey, insert_for
from bot.db.models import (
    ActionCost,
    Audit,
    BlockedWord,
    CreditGrant,
    GuildSettings,
    RoleAllowance,
    Usage,
    UserOverride,
)
from bot.db.periods import Period, next_refill, period_start
from bot.db.policy import (
    DEFAULT_ALLOWANCE,
    DEFAULT_PERIOD,
    DM_GUILD,
    Policy,
    guild_key,
    load_blocked_words,
    load_guild_config,
    load_policy,
)
from bot.db.records import ACTIONS, AuditEntry, QuotaStatus
from bot.db.session import Database
from bot.db.words import ANYWHERE, first_blocked, normalize_word

MAX_CREDITS = 1_000_000
MAX_JOB_CAP = 100
MAX_WORD_LENGTH = 100
UserSetting = int | Literal["unlimited", "default"]


class QuotaService:
    def __init__(self, db: Database, *, now: Clock = utcnow) -> None:
        self._db = db
        self._now = now

    # ---- reads ----

    async def status(self, guild_id: int | None, user_id: int, role_ids: Sequence[int] = ()) -> QuotaStatus:
        now = self._now()
        guild = guild_key(guild_id)
        policy, used, granted = await self._db.read(_balance, guild, user_id, list(role_ids), now)
        remaining = None if policy.limit is None else max(0, policy.limit - used) + granted
        return QuotaStatus(
            remaining=remaining,
            allowance=policy.limit,
            used=used,
            granted=granted,
            period=policy.period.value,
            next_refill=next_refill(policy.period, now),
            blocked=policy.blocked,
            costs=dict(policy.costs),
            max_active=policy.max_active,
        )

    async def blocked_word_in(self, guild_id: int | None, text: str) -> str | None:
        words = await self._db.read(load_blocked_words, guild_key(guild_id))
        return first_blocked(text, words)

    async def blocked_words(self, guild_id: int) -> list[str]:
        """The words as written, ``(anywhere)`` after those that also match inside words."""
        words = await self._db.read(load_blocked_words, guild_id)
        shown = [f"{word} (anywhere)" if key.startswith(ANYWHERE) else word for key, word in words.items()]
        return sorted(shown, key=str.casefold)

    async def audit_log(self, guild_id: int, *, limit: int = 10) -> list[AuditEntry]:
        """The latest admin changes, newest first."""
        async with self._db.reader() as session:
            rows = await session.scalars(
                select(Audit).where(Audit.guild_id == guild_id).order_by(Audit.id.desc()).limit(limit)
            )
            return [
                AuditEntry(a.id, a.guild_id, a.actor_id, a.action, a.target_id, a.details, a.created_at)
                for a in rows
            ]

    # ---- the bot owner's rules for direct messages ----

    async def configure_dms(
        self, *, credits: int, period: Period | str, blocked_words: Sequence[str]
    ) -> None:
        """Make direct messages (guild ``0``) follow ``DM_CREDITS`` per ``DM_PERIOD`` and
        ``DM_BLOCKED_WORDS``: written at every start, so the settings are the one source (nobody can change
        them from Discord)."""
        _check_credits(credits)
        period = Period(period)
        now = self._now()
        words: dict[str, str] = {}
        for word in blocked_words:
            word = " ".join(word.split())
            normalized = normalize_word(word)
            if not normalized or len(word) > MAX_WORD_LENGTH:
                raise ValueError(
                    f"DM_BLOCKED_WORDS: {word!r} needs letters and at most {MAX_WORD_LENGTH} characters"
                )
            words.setdefault(normalized, word)
        async with self._db.session() as session:
            await _upsert(
                session,
                GuildSettings,
                {"guild_id": DM_GUILD},
                {"allowance": credits, "period": period.value, "max_active": None, "updated_at": now},
            )
            await session.execute(delete(BlockedWord).where(BlockedWord.guild_id == DM_GUILD))
            for normalized, word in words.items():
                session.add(
                    BlockedWord(
                        guild_id=DM_GUILD, normalized=normalized, word=word, added_by=0, created_at=now
                    )
                )

    # ---- admin changes ----

    async def set_default(self, guild_id: int, *, credits: int, period: Period | str, actor_id: int) -> None:
        _check_credits(credits)
        period = Period(period)
        now = self._now()
        async with self._db.session() as session:
            await _upsert(
                session,
                GuildSettings,
                {"guild_id": guild_id},
                {"allowance": credits, "period": period.value, "updated_at": now},
                extra={"max_active": None},
            )
            await self._audit(
                session, guild_id, actor_id, "set-default", None, f"{credits} credits {period.value}"
            )

    async def set_job_cap(
        self, guild_id: int, *, max_active: int | None, actor_id: int, limit: int = MAX_JOB_CAP
    ) -> None:
        """``max_active`` ``None`` returns the server to the bot's default; ``limit`` is what the deployment
        allows (``MAX_JOBS_PER_USER_GLOBAL`` and the server's share of the queue)."""
        if max_active is not None and not 1 <= max_active <= min(limit, MAX_JOB_CAP):
            raise ValueError(f"the job cap must be between 1 and {min(limit, MAX_JOB_CAP)}")
        now = self._now()
        async with self._db.session() as session:
            await _upsert(
                session,
                GuildSettings,
                {"guild_id": guild_id},
                {"max_active": max_active, "updated_at": now},
                extra={"allowance": DEFAULT_ALLOWANCE, "period": DEFAULT_PERIOD.value},
            )
            await self._audit(session, guild_id, actor_id, "job-cap", None, f"{max_active or 'default'}")

    async def set_role(self, guild_id: int, role_id: int, *, credits: int | None, actor_id: int) -> None:
        """``credits`` ``None`` removes the role's allowance."""
        async with self._db.session() as session:
            if credits is None:
                await session.execute(
                    delete(RoleAllowance).where(
                        RoleAllowance.guild_id == guild_id, RoleAllowance.role_id == role_id
                    )
                )
                await self._audit(session, guild_id, actor_id, "clear-role", role_id, "removed")
                return
            _check_credits(credits)
            await _upsert(
                session, RoleAllowance, {"guild_id": guild_id, "role_id": role_id}, {"credits": credits}
            )
            await self._audit(session, guild_id, actor_id, "set-role", role_id, f"{credits} credits")

    async def set_user(self, guild_id: int, user_id: int, value: UserSetting, *, actor_id: int) -> None:
        """A number replaces the user's allowance, ``"unlimited"`` lifts it, ``"default"`` removes the
        override (roles/default apply again). Blocking is separate and survives both."""
        if value == "unlimited":
            changes: dict[str, Any] = {"credits": None, "unlimited": True}
        elif value == "default":
            changes = {"credits": None, "unlimited": False}
        elif isinstance(value, int):
            _check_credits(value)
            changes = {"credits": value, "unlimited": False}
        else:
            raise ValueError("expected a number of credits, 'unlimited' or 'default'")
        async with self._db.session() as session:
            await _upsert(
                session,
                UserOverride,
                {"guild_id": guild_id, "user_id": user_id},
                changes,
                extra={"blocked": False},
            )
            await self._audit(session, guild_id, actor_id, "set-user", user_id, str(value))

    async def grant(self, guild_id: int, user_id: int, credits: int, *, actor_id: int) -> int:
        """Add one-off credits (spent after the allowance, never expire); returns the new granted balance."""
        if not 1 <= credits <= MAX_CREDITS:
            raise ValueError(f"grant between 1 and {MAX_CREDITS} credits")
        async with self._db.session() as session:
            stmt = insert_for(session, CreditGrant).values(
                guild_id=guild_id, user_id=user_id, balance=credits, granted_total=credits
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["guild_id", "user_id"],
                set_={
                    "balance": CreditGrant.balance + credits,
                    "granted_total": CreditGrant.granted_total + credits,
                },
            ).returning(CreditGrant.balance)
            balance = int((await session.execute(stmt)).scalar_one())
            await self._audit(
                session, guild_id, actor_id, "grant", user_id, f"+{credits} (balance {balance})"
            )
            return balance

    async def reset_user(self, guild_id: int, user_id: int, *, actor_id: int) -> None:
        """Back to the server's allowance (a credits/unlimited override is removed), refilled for the
        current period. A block and granted credits are kept: ``unblock`` and spending handle those."""
        now = self._now()
        async with self._db.session() as session:
            config = await session.run_sync(load_guild_config, guild_id)
            await session.execute(
                update(UserOverride)
                .where(UserOverride.guild_id == guild_id, UserOverride.user_id == user_id)
                .values(credits=None, unlimited=False)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(Usage)
                .where(
                    Usage.guild_id == guild_id,
                    Usage.user_id == user_id,
                    Usage.period_start == period_start(config.period, now),
                )
                .values(used=0)
                .execution_options(synchronize_session=False)
            )
            await self._audit(session, guild_id, actor_id, "reset", user_id, "override and usage cleared")

    async def block(self, guild_id: int, user_id: int, *, actor_id: int) -> None:
        await self._set_blocked(guild_id, user_id, True, actor_id)

    async def unblock(self, guild_id: int, user_id: int, *, actor_id: int) -> None:
        await self._set_blocked(guild_id, user_id, False, actor_id)

    async def _set_blocked(self, guild_id: int, user_id: int, blocked: bool, actor_id: int) -> None:
        async with self._db.session() as session:
            await _upsert(
                session,
                UserOverride,
                {"guild_id": guild_id, "user_id": user_id},
                {"blocked": blocked},
                extra={"credits": None, "unlimited": False},
            )
            await self._audit(session, guild_id, actor_id, "block" if blocked else "unblock", user_id, "")

    async def set_cost(self, guild_id: int, action: str, credits: int, *, actor_id: int) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        if not 0 <= credits <= 1000:
            raise ValueError("a cost is between 0 and 1000 credits")
        async with self._db.session() as session:
            await _upsert(session, ActionCost, {"guild_id": guild_id, "action": action}, {"credits": credits})
            await self._audit(session, guild_id, actor_id, "cost", None, f"{action} = {credits}")

    async def add_blocked_word(
        self, guild_id: int, word: str, *, actor_id: int, anywhere: bool = False
    ) -> bool:
        """Block ``word``; ``anywhere`` also inside other words (``bloodgore`` for ``gore``). Returns
        ``False`` if the word (in normalized form) was already blocked the same way; adding it again with the
        other ``anywhere`` changes how it matches."""
        word = " ".join("".join(ch for ch in word if ch.isprintable()).split())
        normalized = normalize_word(word)
        if not normalized or len(word) > MAX_WORD_LENGTH:
            raise ValueError(f"a blocked word needs letters and at most {MAX_WORD_LENGTH} characters")
        async with self._db.session() as session:
            statement = insert_for(session, BlockedWord).values(
                guild_id=guild_id,
                normalized=normalized,
                word=word,
                anywhere=anywhere,
                added_by=actor_id,
                created_at=self._now(),
            )
            result = await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[BlockedWord.guild_id, BlockedWord.normalized],
                    set_={"anywhere": statement.excluded.anywhere},
                    where=BlockedWord.anywhere != statement.excluded.anywhere,
                ).returning(BlockedWord.normalized)
            )
            if result.first() is None:
                return False
            details = f"{word} (anywhere)" if anywhere else word
            await self._audit(session, guild_id, actor_id, "blocked-words add", None, details)
            return True

    async def remove_blocked_word(self, guild_id: int, word: str, *, actor_id: int) -> bool:
        normalized = normalize_word(word)
        async with self._db.session() as session:
            result = await session.execute(
                delete(BlockedWord)
                .where(BlockedWord.guild_id == guild_id, BlockedWord.normalized == normalized)
                .returning(BlockedWord.word)
            )
            removed = result.scalar_one_or_none()
            if removed is None:
                return False
            await self._audit(session, guild_id, actor_id, "blocked-words remove", None, removed)
            return True

    async def _audit(
        self,
        session: AsyncSession,
        guild_id: int,
        actor_id: int,
        action: str,
        target_id: int | None,
        details: str,
    ) -> None:
        session.add(
            Audit(
                guild_id=guild_id,
                actor_id=actor_id,
                action=action,
                target_id=target_id,
                details=details,
                created_at=self._now(),
            )
        )


def _balance(
    session: Session, guild_id: int, user_id: int, role_ids: list[int], now: datetime
) -> tuple[Policy, int, int]:
    policy = load_policy(session, guild_id, user_id, role_ids)
    used = ledger.used_in_period(session, UsageKey(guild_id, user_id, policy.period_start(now)))
    return policy, used, ledger.grant_balance(session, guild_id, user_id)


def _check_credits(credits: int) -> None:
    if not 0 <= credits <= MAX_CREDITS:
        raise ValueError(f"credits must be between 0 and {MAX_CREDITS}")


async def _upsert(
    session: AsyncSession,
    model: type[Any],
    key: dict[str, Any],
    changes: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """INSERT key+changes(+extra defaults for a new row) ON CONFLICT (key) DO UPDATE SET changes."""
    stmt = insert_for(session, model).values(**key, **changes, **(extra or {}))
    await session.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=changes))
