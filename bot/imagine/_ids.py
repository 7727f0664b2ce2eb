"""Button ``custom_id``s: ``ib1:<action>:<job id>[:<arg>]`` — a version, the action and the ids it needs.

Everything a button needs is in its id (the rest is in the database), so buttons on old messages keep working
after a restart. ``ib1`` is the format version: a future format gets ``ib2`` and both can be parsed.
"""

from __future__ import annotations

from typing import Final, Literal

VERSION: Final = "ib1"
MAX_CUSTOM_ID = 100

UPSCALE: Final = "u"
VARIATION: Final = "v"
REROLL: Final = "r"
VARY: Final = "vy"
CANCEL: Final = "x"

Strength = Literal["subtle", "strong"]

# Regex templates for discord.ui.DynamicItem (matched with fullmatch against the custom_id).
UPSCALE_TEMPLATE: Final = rf"{VERSION}:{UPSCALE}:(?P<job>[0-9]{{1,19}}):(?P<tile>[1-4])"
VARIATION_TEMPLATE: Final = rf"{VERSION}:{VARIATION}:(?P<job>[0-9]{{1,19}}):(?P<tile>[1-4])"
REROLL_TEMPLATE: Final = rf"{VERSION}:{REROLL}:(?P<job>[0-9]{{1,19}})"
VARY_TEMPLATE: Final = rf"{VERSION}:{VARY}:(?P<job>[0-9]{{1,19}}):(?P<strength>subtle|strong)"
CANCEL_TEMPLATE: Final = rf"{VERSION}:{CANCEL}:(?P<job>[0-9]{{1,19}})"


def _checked(custom_id: str) -> str:
    if len(custom_id) > MAX_CUSTOM_ID:
        raise ValueError(f"custom_id longer than {MAX_CUSTOM_ID} characters: {custom_id!r}")
    return custom_id


def _job(job_id: int) -> int:
    if job_id < 1:
        raise ValueError(f"job id must be positive, got {job_id}")
    return job_id


def _tile(tile: int) -> int:
    if not 1 <= tile <= 4:
        raise ValueError(f"tile must be 1-4, got {tile}")
    return tile


def upscale_id(job_id: int, tile: int) -> str:
    return _checked(f"{VERSION}:{UPSCALE}:{_job(job_id)}:{_tile(tile)}")


def variation_id(job_id: int, tile: int) -> str:
    return _checked(f"{VERSION}:{VARIATION}:{_job(job_id)}:{_tile(tile)}")


def reroll_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{REROLL}:{_job(job_id)}")


def vary_id(job_id: int, strength: Strength) -> str:
    return _checked(f"{VERSION}:{VARY}:{_job(job_id)}:{strength}")


def cancel_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{CANCEL}:{_job(job_id)}")


# -- the tools under an upscale: Upscale (Subtle|Creative), Zoom Out, Pan, Make Square, Vary (Region) --

UPSCALE_MODE: Final = "um"
ZOOM: Final = "z"
CUSTOM_ZOOM: Final = "zc"
CUSTOM_ZOOM_MODAL: Final = "zm"
PAN: Final = "p"
SQUARE: Final = "sq"
REGION: Final = "vr"
REGION_MODAL: Final = "rm"

UpscaleMode = Literal["subtle", "creative"]
Direction = Literal["left", "right", "up", "down"]
ZOOMS: Final = {"2": 2.0, "1.5": 1.5}
DIRECTIONS: Final[dict[str, Direction]] = {"l": "left", "r": "right", "u": "up", "d": "down"}
_DIRECTION_KEYS: Final = {value: key for key, value in DIRECTIONS.items()}

UPSCALE_MODE_TEMPLATE: Final = rf"{VERSION}:{UPSCALE_MODE}:(?P<job>[0-9]{{1,19}}):(?P<mode>subtle|creative)"
ZOOM_TEMPLATE: Final = rf"{VERSION}:{ZOOM}:(?P<job>[0-9]{{1,19}}):(?P<factor>2|1\.5)"
CUSTOM_ZOOM_TEMPLATE: Final = rf"{VERSION}:{CUSTOM_ZOOM}:(?P<job>[0-9]{{1,19}})"
CUSTOM_ZOOM_MODAL_TEMPLATE: Final = rf"{VERSION}:{CUSTOM_ZOOM_MODAL}:(?P<job>[0-9]{{1,19}})"
PAN_TEMPLATE: Final = rf"{VERSION}:{PAN}:(?P<job>[0-9]{{1,19}}):(?P<direction>[lrud])"
SQUARE_TEMPLATE: Final = rf"{VERSION}:{SQUARE}:(?P<job>[0-9]{{1,19}})"
REGION_TEMPLATE: Final = rf"{VERSION}:{REGION}:(?P<job>[0-9]{{1,19}})"
REGION_MODAL_TEMPLATE: Final = rf"{VERSION}:{REGION_MODAL}:(?P<job>[0-9]{{1,19}})"


def upscale_mode_id(job_id: int, mode: UpscaleMode) -> str:
    return _checked(f"{VERSION}:{UPSCALE_MODE}:{_job(job_id)}:{mode}")


def zoom_id(job_id: int, factor: str) -> str:
    if factor not in ZOOMS:
        raise ValueError(f"zoom button factor must be one of {list(ZOOMS)}, got {factor!r}")
    return _checked(f"{VERSION}:{ZOOM}:{_job(job_id)}:{factor}")


def custom_zoom_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{CUSTOM_ZOOM}:{_job(job_id)}")


def custom_zoom_modal_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{CUSTOM_ZOOM_MODAL}:{_job(job_id)}")


def pan_id(job_id: int, direction: Direction) -> str:
    return _checked(f"{VERSION}:{PAN}:{_job(job_id)}:{_DIRECTION_KEYS[direction]}")


def square_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{SQUARE}:{_job(job_id)}")


def region_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{REGION}:{_job(job_id)}")


def region_modal_id(job_id: int) -> str:
    return _checked(f"{VERSION}:{REGION_MODAL}:{_job(job_id)}")
