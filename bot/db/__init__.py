"""The database layer: schema and migrations, durable jobs, and the quota ledger.

db = await open_database(settings.resolved_database_url)   # migrates to the latest schema
jobs, quota = JobStore(db), QuotaService(db)
...
await db.close()
"""

from bot.db.errors import QuotaRefused
from bot.db.jobs import JobStore
from bot.db.periods import Period
from bot.db.quota import QuotaService
from bot.db.records import ACTIONS, AuditEntry, ImageRecord, ImageRow, JobRecord, QuotaStatus
from bot.db.session import Database, open_database

__all__ = [
    "ACTIONS",
    "AuditEntry",
    "Database",
    "ImageRecord",
    "ImageRow",
    "JobRecord",
    "JobStore",
    "Period",
    "QuotaRefused",
    "QuotaService",
    "QuotaStatus",
    "open_database",
]
