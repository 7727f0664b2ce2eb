"""``/describe``: candidate prompts for an image, as buttons that start ``/imagine``."""

from bot.describe._cog import DescribeCog
from bot.describe._views import PromptButton

__all__ = ["DescribeCog", "PromptButton"]
