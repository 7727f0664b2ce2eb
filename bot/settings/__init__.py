"""``/settings``: per-user (and per-server) defaults for new prompts, as a panel of selects and buttons."""

from bot.settings._cog import SettingsCog
from bot.settings._views import SettingButton, SettingSelect

__all__ = ["SettingButton", "SettingSelect", "SettingsCog"]
