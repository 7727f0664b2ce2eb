"""Reservations per second on a SQLite file: one user reserving back to back vs 50 users reserving at once.

A reservation is the whole ``JobStore.create_job`` transaction that a button press or ``/imagine`` costs:
policy and blocked-word checks, the job-cap count, the conditional UPDATE of the ledger, the job and
reservation rows.

    .venv/bin/python bench/quota_bench.py [--reservations 600] [--users 50] [--postgres URL]

``--postgres postgresql+asyncpg://…`` (e.g. from ``tests/db/start_postgres.sh``) measures PostgreSQL as well;
each run uses its own guild id, so an existing database is only added to.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.db import JobStore, QuotaService, open_database


async def _reserve(jobs: JobStore, guild: int, user_id: int, count: int, latencies: list[float]) -> None:
    for i in range(count):
        started = time.perf_counter()
        await jobs.create_job(
            kind="imagine",
            user_id=user_id,
            guild_id=guild,
            channel_id=2,
            role_ids=[3, 4],
            prompt=f"a lighthouse at dusk, number {i} --ar 3:2",
            params={"ar": "3:2"},
            model=None,
            max_active=1_000_000,
        )
        latencies.append(time.perf_counter() - started)


async def run(url: str, users: int, total: int) -> tuple[float, float]:
    """Returns (reservations per second, median latency in ms)."""
    guild = random.randrange(1, 2**62)
    db = await open_database(url)
    try:
        quota = QuotaService(db)
        await quota.set_default(guild, credits=1_000_000, period="daily", actor_id=0)
        await quota.add_blocked_word(guild, "gore", actor_id=0)
        jobs = JobStore(db)
        await _reserve(jobs, guild, 10_000, 20, [])  # warm-up: pool connections, statement caches
        latencies: list[float] = []
        per_user = total // users
        started = time.perf_counter()
        await asyncio.gather(
            *(_reserve(jobs, guild, 100 + user, per_user, latencies) for user in range(users))
        )
        elapsed = time.perf_counter() - started
        status = [await quota.status(guild, 100 + user, []) for user in range(users)]
        assert all(s.used == per_user for s in status), "a reservation went missing"
        return per_user * users / elapsed, statistics.median(latencies) * 1000
    finally:
        await db.close()


async def report(name: str, url_for: Callable[[int], str], users: int, total: int) -> None:
    one, one_ms = await run(url_for(1), 1, total)
    many, many_ms = await run(url_for(users), users, total)
    print(f"{name}, {total} reservations (create_job: checks + conditional UPDATE + job row)")
    print(f"  1 user, back to back:      {one:8.1f} reservations/s  (median {one_ms:.1f} ms each)")
    print(f"  {users} users, concurrently:  {many:8.1f} reservations/s  (median {many_ms:.1f} ms each)")
    print(f"  ratio {users} users / 1 user:   {many / one:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reservations", type=int, default=600)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--postgres", metavar="URL", help="also measure this PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        await report(
            "SQLite",
            lambda users: f"sqlite+aiosqlite:///{directory / f'bench-{users}.sqlite3'}",
            args.users,
            args.reservations,
        )
    if args.postgres:
        await report("PostgreSQL", lambda _users: args.postgres, args.users, args.reservations)


if __name__ == "__main__":
    asyncio.run(main())
