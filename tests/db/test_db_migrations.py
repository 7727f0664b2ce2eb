"""The schema is Alembic's: the models match the latest revision, and upgrading keeps every job and image."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from bot.db import ImageRow, JobStore, QuotaService, open_database
from bot.db.migrate import current_revision
from bot.db.models import Base
from bot.db.session import create_engine
from tests.db.support import ADMIN, GUILD, Clock


async def test_models_match_the_latest_migration(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        assert await current_revision(db.engine) == "0007"

        def diff(connection: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with db.engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await db.close()


async def test_upgrade_from_the_first_revision_keeps_jobs_and_images(database_url: str, clock: Clock) -> None:
    created = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    first = await open_database(database_url, revision="0001")
    try:
        assert await current_revision(first.engine) == "0001"
        async with first.session() as session:
            params = json.dumps({"ar": "3:2", "seed": 7})
            insert_job = text(
                "INSERT INTO jobs (kind, status, user_id, guild_id, channel_id, message_id, prompt, params,"
                " model, seeds, cost, created_at, finished_at, grid_path) VALUES (:kind, :status, :user,"
                " :guild, :channel, :message, :prompt, :params, :model, :seeds, 1, :created, :finished,"
                " :grid)"
            )
            common = {"kind": "imagine", "created": created.replace(tzinfo=None)}
            await session.execute(
                insert_job,
                {**common, "status": "succeeded", "user": 123456789012345678, "guild": GUILD, "channel": 55,
                 "message": 987654321098765432, "prompt": "a red fox", "params": params, "model": "default",
                 "seeds": "[7, 8, 9, 10]", "finished": created.replace(tzinfo=None), "grid": "grid.png"},
            )  # fmt: skip
            await session.execute(
                insert_job,
                {**common, "status": "queued", "user": 42, "guild": None, "channel": 56, "message": None,
                 "prompt": "a blue owl", "params": "{}", "model": None, "seeds": None, "finished": None,
                 "grid": None},
            )  # fmt: skip
            await session.execute(
                text(
                    "INSERT INTO images (job_id, tile, seed, path, width, height)"
                    " VALUES (1, 2, 8, 't2.png', 512, 512)"
                )
            )
    finally:
        await first.close()

    db = await open_database(database_url)
    try:
        assert await current_revision(db.engine) == "0007"
        jobs = JobStore(db, now=clock)
        old = await jobs.get_job(1)
        assert old is not None
        assert (old.user_id, old.guild_id, old.message_id) == (123456789012345678, GUILD, 987654321098765432)
        assert (old.prompt, old.params, old.seeds, old.status) == ("a red fox", {"ar": "3:2", "seed": 7},
                                                                   [7, 8, 9, 10], "succeeded")  # fmt: skip
        assert old.created_at == created and old.started_at is None and old.grid_path == "grid.png"
        image = await jobs.get_image(1, 2)
        assert image is not None and (image.seed, image.path, image.width) == (8, "t2.png", 512)
        assert [job.id for job in await jobs.unfinished_jobs()] == [2]

        # The new tables work on the upgraded database, next to the old rows.
        quota = QuotaService(db, now=clock)
        await quota.grant(GUILD, 42, 5, actor_id=ADMIN)
        new = await jobs.create_job(
            kind="variation", user_id=42, guild_id=GUILD, channel_id=56, role_ids=[], prompt="owl",
            params={}, model=None, parent_job_id=1, parent_tile=2, max_active=5,
        )  # fmt: skip
        assert new.id > 2 and new.parent_job_id == 1
        await jobs.mark_succeeded(
            new.id, images=[ImageRow(1, 99, "v.png", 64, 64)], grid_path="v-grid.png", seeds=[99], model="m"
        )
        assert (await jobs.get_images(new.id))[0].seed == 99
    finally:
        await db.close()


async def test_opening_twice_is_a_no_op_migration(database_url: str) -> None:
    for _ in range(2):
        db = await open_database(database_url)
        await db.close()
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) == "0007"
    finally:
        await engine.dispose()
