"""The sandbox page: a Discord-like channel in the browser, driving the bot through the fake server."""

from bot.sandbox.web.routes import SandboxWeb

__all__ = ["SandboxWeb"]
