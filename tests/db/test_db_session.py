"""Units of work on the database handle: atomic, off the event loop on SQLite, safe beside async writers."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import Database, JobStore, QuotaService, open_database
from bot.db.errors import DatabaseUrlError
from bot.db.models import Audit
from bot.db.session import async_url
from tests.db.support import ADMIN, GUILD, Submit


def _add_audit(session: Session, details: str, *, fail: bool) -> str:
    now = datetime.now(UTC)
    session.add(
        Audit(guild_id=GUILD, actor_id=ADMIN, action="test", target_id=None, details=details, created_at=now)
    )
    session.flush()
    if fail:
        raise RuntimeError("the unit of work failed")
    return threading.current_thread().name


def _count_audits(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Audit)) or 0)


async def test_a_failing_write_leaves_nothing_and_the_next_write_works(db: Database) -> None:
    with pytest.raises(RuntimeError):
        await db.write(_add_audit, "lost", fail=True)
    assert await db.read(_count_audits) == 0
    await db.write(_add_audit, "kept", fail=False)
    assert await db.read(_count_audits) == 1


async def test_sqlite_writes_run_off_the_event_loop_thread(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL writes run through the async driver on the loop")
    ran_on = await db.write(_add_audit, "where", fail=False)
    assert ran_on != threading.current_thread().name


async def test_job_writes_and_admin_writes_interleave_without_losing_any(
    jobs: JobStore, quota: QuotaService, submit: Submit
) -> None:
    users = range(1, 11)
    created = asyncio.gather(*(submit(user) for user in users for _ in range(3)))
    granted = asyncio.gather(*(quota.grant(GUILD, user, 5, actor_id=ADMIN) for user in users))
    made, balances = await asyncio.gather(created, granted)
    assert len({job.id for job in made}) == 30
    assert balances == [5] * 10
    for user in users:
        status = await quota.status(GUILD, user)
        assert (status.used, status.granted, status.remaining) == (3, 5, 25 - 3 + 5)
        assert len(await jobs.user_active_jobs(user)) == 3


async def test_plain_database_urls_get_the_async_drivers(tmp_path: Path) -> None:
    assert str(async_url("postgres://bot:pw@db:5432/images")) == "postgresql+asyncpg://bot:***@db:5432/images"
    assert async_url("postgresql://bot@db/images").drivername == "postgresql+asyncpg"
    plain = await open_database(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    try:
        assert plain.engine.url.drivername == "sqlite+aiosqlite"
        await plain.write(_add_audit, "works", fail=False)
    finally:
        await plain.close()


@pytest.mark.parametrize(
    "url", ["mysql://bot:hunter2@db/images", "postgresql+psycopg2://bot:hunter2@db/images", "not a url"]
)
async def test_an_unusable_database_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(DatabaseUrlError, match="DATABASE_URL") as error:
        await open_database(url)
    assert "hunter2" not in str(error.value)
