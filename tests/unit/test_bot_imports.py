"""``bot/`` stays lean: importing every one of its modules loads no torch, diffusers, transformers or ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib, pkgutil, sys
import bot
# Alembic migration scripts run only inside Alembic; everything else is imported.
names = sorted(m.name for m in pkgutil.walk_packages(bot.__path__, "bot.") if ".migrations" not in m.name)
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "diffusers", "transformers", "ray"})
print(len(names))
print(",".join(heavy))
"""


def test_importing_every_bot_module_never_imports_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    count, heavy = [*done.stdout.rstrip("\n").split("\n"), ""][:2]
    assert int(count) >= 20  # the walk really found the bot's modules
    assert heavy == "", f"bot modules imported: {heavy}"


def test_env_example_documents_exactly_the_settings() -> None:
    from pathlib import Path

    from bot.config import Settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    keys = {
        line.split("=", 1)[0].strip()
        for line in example.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert keys == {name.upper() for name in Settings.model_fields}
