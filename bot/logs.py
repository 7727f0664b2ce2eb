"""Logging for ``python -m bot``: one clear line per stage from our own loggers, library chatter held back.

At ``LOG_LEVEL=INFO`` (the default) a new user sees the database, the engine, the commands, the connection
and one line per job stage; alembic's plugin and migration lines, discord.py's DEBUG payloads (they carry
interaction tokens) and diffusers/transformers config notices are not shown. ``LOG_LEVEL=DEBUG`` shows the
libraries' details again, except discord.py's payloads.
"""

from __future__ import annotations

import logging
import os

QUIET_AT_INFO = {
    # "setup plugin …", "Context impl SQLiteImpl.", "Will assume non-transactional DDL.", "Running upgrade …"
    "alembic": logging.WARNING,
    "diffusers": logging.ERROR,  # per-load config notices ("config attributes … will be ignored")
    "transformers": logging.ERROR,
    "py.warnings": logging.ERROR,  # library FutureWarnings/DeprecationWarnings, once per process
}


LIBRARY_VERBOSITY = ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY")


def configure(level: str) -> None:
    """Set up logging for ``level`` (``LOG_LEVEL``); call once, before the engine is imported."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # discord.py's DEBUG output carries gateway payloads and webhook URLs, i.e. interaction tokens.
    logging.getLogger("discord").setLevel(max(logging.INFO, numeric))
    if numeric >= logging.INFO:
        logging.captureWarnings(True)
        for name, quiet in QUIET_AT_INFO.items():
            logging.getLogger(name).setLevel(max(quiet, numeric))
        # diffusers and transformers set their own level (from these variables) when first imported, later.
        for variable in LIBRARY_VERBOSITY:
            os.environ.setdefault(variable, "error")
