"""The database handle: an async engine, its sessionmakers, and per-connection SQLite settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from bot.db import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "imaginebot_immediate"


class Database:
    """Holds the engine and two sessionmakers; one session per unit of work, never shared between tasks.

    ``session()`` is for work that writes: on SQLite its transaction starts with ``BEGIN IMMEDIATE``, so
    writers queue on ``busy_timeout`` instead of failing when a read lock cannot be upgraded.
    ``reader()`` is for reads, which WAL lets run alongside the writer.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        writer = engine.execution_options(**{_IMMEDIATE: True}) if self.is_sqlite else engine
        self._writer = async_sessionmaker(writer, expire_on_commit=False)
        self._reader = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (the driver's own implicit BEGIN is deferred-only).
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


async def open_database(url: str, *, revision: str = "head") -> Database:
    """Open the database at ``url`` and migrate its schema to ``revision`` (default: the latest)."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine, revision)
    except BaseException:
        await engine.dispose()
        raise
    log.info("database ready (%s, schema %s)", engine.dialect.name, revision)
    return Database(engine)
