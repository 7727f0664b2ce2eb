"""The ``/settings`` panel: four selects (model, aspect ratio, stylize, chaos) and a row of buttons
(quality, which cycles through its values; Remix; private replies, or on the server's panel whether they are
allowed; reset). Every component is a ``DynamicItem`` whose ``custom_id`` says which scope (``u`` the
user's own, ``s`` the server's defaults) and which setting it changes, so a panel works after a restart."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Final

import discord

from bot.db.preferences import Defaults
from bot.replies import reply

log = logging.getLogger(__name__)

COG_NAME = "Settings"
SELECT_TEMPLATE: Final = r"ib1:st:(?P<scope>[us]):(?P<field>model|aspect|stylize|chaos)"
BUTTON_TEMPLATE: Final = (
    r"ib1:st:(?P<scope>[us]):(?P<field>quality|remix|private_allowed|private|reset)"
    r"(?::(?P<value>[0-9.]{1,4}))?"
)
UNSET = "unset"
ASPECTS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "2:1", "1:2")
STYLIZE = (0, 50, 100, 250, 500, 750, 1000)
CHAOS = (0, 10, 25, 50, 75, 100)
QUALITY = (0.25, 0.5, 1.0)
MAX_SELECT_OPTIONS = 25


async def _guarded(interaction: discord.Interaction, custom_id: str, *args: Any) -> None:
    try:
        cog: Any = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
        if cog is None:
            await reply(interaction, "The bot is starting or stopping; try again in a minute.")
            return
        await cog.change(interaction, *args)
    except Exception:
        log.exception("settings component %s failed (interaction %s)", custom_id, interaction.id)
        await reply(interaction, "That failed on our side; it has been logged. Nothing was changed.")


class SettingSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE):
    def __init__(self, scope: str, field: str, options: Sequence[discord.SelectOption] = ()) -> None:
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=f"ib1:st:{scope}:{field}",
            options=list(options) or [discord.SelectOption(label="?", value=UNSET)],
            min_values=1,
            max_values=1,
        )
        super().__init__(select)
        self.scope, self.field = scope, field

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SettingSelect:
        return cls(match["scope"], match["field"])

    async def callback(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        await _guarded(interaction, self.custom_id, self.scope, self.field, values[0] if values else UNSET)


class SettingButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    def __init__(
        self, scope: str, field: str, value: str | None = None, *, label: str = "", on: bool = False
    ) -> None:
        custom_id = f"ib1:st:{scope}:{field}" + (f":{value}" if value is not None else "")
        style = discord.ButtonStyle.success if on else discord.ButtonStyle.secondary
        if field == "reset":
            style = discord.ButtonStyle.danger
        super().__init__(discord.ui.Button(label=label or field, custom_id=custom_id, style=style, row=4))
        self.scope, self.field, self.value = scope, field, value

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SettingButton:
        return cls(match["scope"], match["field"], match["value"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _guarded(interaction, self.custom_id, self.scope, self.field, self.value or "")


def _options(
    name: str, choices: Sequence[str], current: str | None, fallback: str
) -> list[discord.SelectOption]:
    options = [
        discord.SelectOption(label=f"{name}: {fallback}", value=UNSET, default=current is None),
        *(
            discord.SelectOption(label=f"{name}: {choice}", value=choice, default=choice == current)
            for choice in choices
        ),
    ]
    return options[:MAX_SELECT_OPTIONS]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def panel(scope: str, own: Defaults, models: Sequence[str]) -> discord.ui.View:
    """The panel for ``own`` (the user's row, or the server's row when ``scope`` is ``s``)."""
    fallback = "server default" if scope == "u" else "built-in default"
    view = discord.ui.View(timeout=None)
    rows = (
        ("model", "Model", list(models), own.model),
        ("aspect", "Aspect ratio", list(ASPECTS), own.aspect),
        ("stylize", "Stylize", [str(v) for v in STYLIZE], _text(own.stylize)),
        ("chaos", "Chaos", [str(v) for v in CHAOS], _text(own.chaos)),
    )
    for row, (field, name, choices, current) in enumerate(rows):
        item = SettingSelect(scope, field, _options(name, choices, current, fallback))
        item.item.row = row
        view.add_item(item)
    quality = own.quality if own.quality in QUALITY else None
    following = QUALITY[(QUALITY.index(quality) + 1) % len(QUALITY)] if quality is not None else QUALITY[0]
    shown = f"{quality:g}" if quality is not None else fallback
    view.add_item(
        SettingButton(scope, "quality", f"{following:g}", label=f"Quality {shown} ▸ {following:g}", on=False)
    )
    view.add_item(SettingButton(scope, "remix", label="Remix mode", on=bool(own.remix)))
    if scope == "u":
        view.add_item(SettingButton(scope, "private", label="Private replies", on=bool(own.private)))
    else:
        allowed = own.private_allowed is not False
        view.add_item(SettingButton(scope, "private_allowed", label="Private replies allowed", on=allowed))
    view.add_item(SettingButton(scope, "reset", label="Reset"))
    view.stop()  # dispatched by custom_id; nothing kept in memory
    return view


def summary(scope: str, own: Defaults, effective: Defaults) -> str:
    head = "**Your settings**" if scope == "u" else "**Server defaults** (for members who set nothing)"
    shown = effective if scope == "u" else own
    parts = [
        f"model {shown.model or 'default'}",
        f"--ar {shown.aspect or '1:1'}",
        f"--stylize {_text(shown.stylize) or '100'}",
        f"--quality {_text(shown.quality) or '1'}",
        f"--chaos {_text(shown.chaos) or '0'}",
        f"Remix {'on' if shown.remix else 'off'}",
    ]
    allowed = effective.private_allowed is not False
    if scope == "u":
        private = "on" if shown.private_now else ("off (not allowed here)" if shown.private else "off")
        parts.append(f"private replies {private}")
    else:
        parts.append(f"private replies {'allowed' if allowed else 'not allowed'}")
    note = "Applied to every new /imagine unless the prompt says otherwise."
    return f"{head}: " + " · ".join(parts) + f"\n{note}"
