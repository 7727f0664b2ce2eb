"""What the prompt tools add to ``/imagine``: a user's preferences applied to what they typed, whether Remix
is on, and the honest hint for prompts the model has no word for."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.db.preferences import Defaults, PreferenceStore
from bot.prompting import compose
from engine.api import Engine
from engine.hints import Vocabulary, hint, model_vocabulary


class PromptTools:
    def __init__(self, preferences: PreferenceStore, engine: Engine) -> None:
        self.preferences = preferences
        self.engine = engine

    async def defaults(self, guild_id: int | None, user_id: int) -> Defaults:
        return await self.preferences.effective(guild_id, user_id)

    async def compose(self, guild_id: int | None, user_id: int, text: str, *, suffix: bool = True) -> str:
        """``text`` with the user's ``/prefer`` options and suffix and ``/settings`` defaults applied (a Remix
        edit starts from a prompt that already has the suffix: ``suffix=False``)."""
        defaults = await self.preferences.effective(guild_id, user_id)
        if not suffix:
            defaults = dataclasses.replace(defaults, suffix=None)
        options = await self.preferences.options(guild_id, user_id)
        return compose(text, defaults, options)

    async def remix(self, guild_id: int | None, user_id: int) -> bool:
        return bool((await self.preferences.effective(guild_id, user_id)).remix)

    async def private(self, guild_id: int | None, user_id: int) -> bool:
        """Whether the user's new jobs are private (ephemeral) here: chosen in ``/settings`` and allowed by
        the server (a direct message is private anyway: ``False``)."""
        if guild_id is None:
            return False
        return (await self.preferences.effective(guild_id, user_id)).private_now

    async def hint(self, prompt: str, model: str | None) -> str | None:
        """The hint for ``prompt`` on ``model`` (``None``: the configured model), or ``None``."""
        vocabulary = await self._vocabulary(model or self.engine.default_model)
        return hint(prompt, vocabulary)

    async def _vocabulary(self, model: str) -> Vocabulary | None:
        source = next((info.source for info in self.engine.models() if info.name == model), None)
        if source is None:
            return None
        return await asyncio.to_thread(model_vocabulary, source)  # a hub id has no folder: None
