"""Plain, frozen records returned by the DB layer (callers never hold ORM objects or sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

JobKind = Literal["imagine", "variation", "upscale", "reroll", "describe", "zoom", "pan", "square", "region"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIONS: tuple[str, ...] = (
    "imagine",
    "variation",
    "upscale",
    "reroll",
    "describe",
    "zoom",
    "pan",
    "square",
    "region",
)
ACTIVE_STATUSES: tuple[str, ...] = ("queued", "running")


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One output image to store with a finished job."""

    tile: int
    seed: int
    path: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ImageRecord:
    job_id: int
    tile: int
    seed: int
    path: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    status: str
    user_id: int
    guild_id: int | None
    channel_id: int
    message_id: int | None
    prompt: str
    params: dict[str, Any]
    model: str | None
    seeds: list[int] | None
    cost: int
    error: str | None
    parent_job_id: int | None
    parent_tile: int | None
    grid_path: str | None
    created_at: datetime
    finished_at: datetime | None
    started_at: datetime | None = None
    posted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def ready_to_post(self) -> bool:
        """Its result is recorded (images stored, buttons usable) but not yet posted."""
        return self.status == "succeeded" and self.posted_at is None


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """What a user may spend now. ``remaining``/``allowance`` are ``None`` when unlimited.

    ``remaining`` = what is left of this period's allowance + granted credits.
    """

    remaining: int | None
    allowance: int | None
    used: int
    granted: int
    period: str
    next_refill: datetime | None
    blocked: bool
    costs: dict[str, int] = field(default_factory=dict)
    max_active: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.allowance is None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    guild_id: int
    actor_id: int
    action: str
    target_id: int | None
    details: str
    created_at: datetime
