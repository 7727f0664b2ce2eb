"""``python -m bot``: with DISCORD_TOKEN, the bot on Discord; without it, the local sandbox."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from bot import logs
from bot.config import Settings


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"imaginebot: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    from bot.runner import StartupError, run_bot

    try:
        if settings.discord_token is None:
            from bot.sandbox import run_sandbox

            asyncio.run(run_sandbox(settings))
        else:
            asyncio.run(run_bot(settings))
    except StartupError as error:
        print(f"imaginebot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
