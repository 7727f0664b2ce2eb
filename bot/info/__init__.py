"""``/info``: a user's jobs, credits and the model, ephemerally."""

from __future__ import annotations

from bot.info._cog import InfoCog

__all__ = ["InfoCog"]
