"""``python -m bot``'s logging: library notices (diffusers, transformers, alembic, Python warnings) stay
out of the log at the default level, even from libraries imported after it is set up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging, warnings
from bot import logs
logs.configure("INFO")
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging
diffusers_logging.get_logger("diffusers.configuration_utils").warning("The config attributes were passed")
transformers_logging.get_logger("transformers.modeling_utils").warning("Some weights were not used")
logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
warnings.warn("this is deprecated", FutureWarning)
logging.getLogger("bot.example").info("one clear line")
"""


def test_library_notices_are_not_logged_at_info() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for variable in ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS"):
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1 and lines[0].endswith("INFO bot.example: one clear line"), lines
