"""The database handle: an async engine, its sessionmakers, a writer thread for SQLite, and per-connection
SQLite settings."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from bot.db import migrate
from bot.db.errors import DatabaseUrlError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "imaginebot_immediate"
P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Session, P], T]


class Database:
    """Holds the engine and two sessionmakers; one session per unit of work, never shared between tasks.

    ``session()`` is for work that writes: on SQLite its transaction starts with ``BEGIN IMMEDIATE``, so
    writers queue on ``busy_timeout`` instead of failing when a read lock cannot be upgraded.
    ``reader()`` is for reads, which WAL lets run alongside the writer.

    ``write(work, …)`` runs a synchronous unit of work as one transaction. On a SQLite file it runs whole on
    the database's one writer thread (the stdlib driver on the same file): the async driver hands every
    cursor call to its own thread and back (27 hand-offs to create a job), and each hand-off waits for the
    GIL while the engine renders; and writers then queue in order in the process instead of polling SQLite's
    busy lock. Elsewhere it runs through an async session (``run_sync``).
    """

    def __init__(self, engine: AsyncEngine, sync_engine: Engine | None = None) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        writer = engine.execution_options(**{_IMMEDIATE: True}) if self.is_sqlite else engine
        self._writer = async_sessionmaker(writer, expire_on_commit=False)
        self._reader = async_sessionmaker(engine, expire_on_commit=False)
        self._sync_engine = sync_engine
        self._sync_writer: sessionmaker[Session] | None = None
        self._thread: ThreadPoolExecutor | None = None
        if sync_engine is not None:
            self._sync_writer = sessionmaker(
                sync_engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
            )
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imaginebot-db-writer")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(session, *args, **kwargs)`` in one write transaction: committed when it returns, rolled back
        if it raises. On SQLite the caller's cancellation does not stop a transaction already handed over."""
        if self._thread is None:
            async with self.session() as session:
                return await session.run_sync(work, *args, **kwargs)
        call = functools.partial(self._write_here, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def _write_here(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        assert self._sync_writer is not None
        with self._sync_writer() as session, session.begin():
            return work(session, *args, **kwargs)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(session, *args, **kwargs)`` in a read transaction."""
        async with self.reader() as session:
            return await session.run_sync(work, *args, **kwargs)

    async def close(self) -> None:
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.to_thread(thread.shutdown, wait=True)
        if self._sync_engine is not None:
            await asyncio.to_thread(self._sync_engine.dispose)
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


def _sqlite_file_engine(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine (stdlib ``sqlite3``) on the same SQLite file, with the same per-connection
    settings; ``None`` for other databases and for in-memory SQLite (a second engine would see another
    database)."""
    url = engine.url
    if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if "mode=memory" in str(url):
        return None
    sync_engine = create_sync_engine(make_url(url).set(drivername="sqlite+pysqlite"), pool_size=1)
    event.listen(sync_engine, "connect", _sqlite_connect)
    event.listen(sync_engine, "begin", _sqlite_begin)
    return sync_engine


_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def async_url(url: str) -> URL:
    """``url`` with the async driver the bot uses: plain ``sqlite://…`` and ``postgresql://…`` (or
    ``postgres://…``) URLs, as admins usually write them, get ``aiosqlite`` / ``asyncpg``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(
            "DATABASE_URL is not a database URL; expected sqlite+aiosqlite:///path or "
            "postgresql+asyncpg://user:password@host/name."
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    wanted = _ASYNC_DRIVERS.get(backend)
    if wanted is None or driver not in ("", wanted):
        raise DatabaseUrlError(
            f"DATABASE_URL uses {parsed.drivername!r}; the bot supports SQLite (sqlite+aiosqlite) and "
            "PostgreSQL (postgresql+asyncpg)."
        )
    return parsed.set(drivername=f"{backend}+{wanted}")


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


async def open_database(url: str, *, revision: str = "head") -> Database:
    """Open the database at ``url`` and migrate its schema to ``revision`` (default: the latest).

    Raises :class:`DatabaseUrlError` for a URL naming another database or driver."""
    engine = create_engine(async_url(url))
    try:
        before, after = await migrate.upgrade(engine, revision)
    except BaseException:
        await engine.dispose()
        raise
    if before == after:
        log.info("database ready (%s, schema %s)", engine.dialect.name, after)
    else:
        upgraded = f"created at {after}" if before is None else f"upgraded from {before} to {after}"
        log.info("database ready (%s, schema %s)", engine.dialect.name, upgraded)
    return Database(engine, _sqlite_file_engine(engine))
