"""Errors of the DB layer whose text is safe to show to users."""

from __future__ import annotations


class QuotaRefused(Exception):
    """A job was refused before anything was charged; ``message`` is short, specific and user-safe."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason  # "blocked" | "credits" | "job_cap" | "blocked_word"

    def __str__(self) -> str:
        return self.message


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` names a database the bot cannot use; the text never contains the URL's password."""
