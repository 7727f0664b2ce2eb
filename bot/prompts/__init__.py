"""Prompt tools around ``/imagine``: preferences applied to prompts, Remix boxes and honest hints."""

from bot.prompts._confirm import ConfirmButton, hold_for_confirmation
from bot.prompts._remix import RemixListener, open_remix
from bot.prompts._tools import PromptTools

__all__ = ["ConfirmButton", "PromptTools", "RemixListener", "hold_for_confirmation", "open_remix"]
