"""``/prefer``: a suffix for every prompt and named parameter shortcuts."""

from bot.prefer._cog import PreferCog

__all__ = ["PreferCog"]
