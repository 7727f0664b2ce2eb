"""Database fixtures: every test gets a fresh real database — a SQLite file in tmp_path, and a new PostgreSQL
database when ``TEST_POSTGRES_URL`` is set (``tests/db/start_postgres.sh`` starts a throwaway server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.db import Database, JobRecord, JobStore, QuotaService, open_database
from tests.db.support import CHANNEL, GUILD, Clock, Submit

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))  # a Tuesday


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_pg_database(base: str) -> str:
    import asyncpg

    url = make_url(base)
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(_plain_dsn(base))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(base: str, target: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(target).database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                POSTGRES_URL is None,
                reason="TEST_POSTGRES_URL not set (start one with tests/db/start_postgres.sh)",
            ),
        ),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty database (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'imaginebot.sqlite3'}"
        return
    assert POSTGRES_URL is not None
    url = await _create_pg_database(POSTGRES_URL)
    try:
        yield url
    finally:
        await _drop_pg_database(POSTGRES_URL, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def jobs(db: Database, clock: Clock) -> JobStore:
    return JobStore(db, now=clock)


@pytest.fixture
def quota(db: Database, clock: Clock) -> QuotaService:
    return QuotaService(db, now=clock)


@pytest.fixture
def submit(jobs: JobStore) -> Submit:
    """``await submit(user, kind=..., prompt=..., roles=..., guild=..., max_active=...)`` → JobRecord."""

    async def create(
        user_id: int,
        *,
        kind: str = "imagine",
        prompt: str = "a lighthouse at dusk",
        roles: tuple[int, ...] = (),
        guild: int | None = GUILD,
        max_active: int = 1000,
    ) -> JobRecord:
        return await jobs.create_job(
            kind=kind,
            user_id=user_id,
            guild_id=guild,
            channel_id=CHANNEL,
            role_ids=roles,
            prompt=prompt,
            params={"ar": "1:1"},
            model=None,
            max_active=max_active,
        )

    return create
