"""Try the bot without Discord: a Discord-compatible server on 127.0.0.1 and a page that looks like a channel.

`run_sandbox(settings)` is what `python -m bot` runs when no DISCORD_TOKEN is configured. The same server
(`bot.sandbox.fake_discord.FakeDiscord`) runs the end-to-end tests.
"""

from bot.sandbox.sandbox import Sandbox, SandboxWorld, run_sandbox

__all__ = ["Sandbox", "SandboxWorld", "run_sandbox"]
