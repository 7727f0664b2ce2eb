"""Midjourney-style prompt parsing, torch-free and shared by the CLI and the bot.

``a red circle --ar 3:2 --seed 7 --no text --chaos 20 --stylize 300 --quality .5 --tile --model NAME``
becomes a :class:`GenerateRequest` plus the normalized prompt text shown back to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.api import (
    MAX_ASPECT,
    MAX_CHAOS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_STYLIZE,
    QUALITIES,
    TILES_PER_GRID,
    GenerateRequest,
    random_seed,
)
from engine.errors import InvalidRequest

__all__ = [
    "FLAG",
    "MAX_PROMPT_CHARS",
    "PARAMETER_ALIASES",
    "ParsedPrompt",
    "format_prompt",
    "parse_aspect",
    "parse_prompt",
]

PARAMETER_ALIASES: dict[str, str] = {
    "ar": "ar",
    "aspect": "ar",
    "seed": "seed",
    "no": "no",
    "chaos": "chaos",
    "c": "chaos",
    "stylize": "stylize",
    "s": "stylize",
    "quality": "quality",
    "q": "quality",
    "tile": "tile",
    "model": "model",
    "v": "model",
    "version": "model",
    "repeat": "repeat",
    "r": "repeat",
}
"""Every Midjourney parameter name a prompt may give, to its canonical name. ``--repeat`` is expanded by
:mod:`engine.permute` before a prompt is parsed, so :func:`parse_prompt` itself refuses it."""
_PARSED = {name: canonical for name, canonical in PARAMETER_ALIASES.items() if canonical != "repeat"}
FLAG = re.compile(r"(?:^|(?<=\s))(?:--|—|–)([A-Za-z][A-Za-z0-9_]*)\b")
"""A ``--name`` parameter (or ``—name``/``–name``, as phones type it) at the start or after whitespace."""
_MODEL_NAME = re.compile(r"^[\w.\-/:]{1,100}$")


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    request: GenerateRequest
    normalized: str


def _int_in(flag: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"`--{flag}` takes a whole number from {low} to {high}, not `{raw}`.") from None
    if not low <= value <= high:
        raise InvalidRequest(f"`--{flag}` must be from {low} to {high}; got {value}.")
    return value


def parse_aspect(raw: str) -> tuple[int, int]:
    """``"3:2"`` → ``(3, 2)``, refusing malformed or absurd (beyond 4:1) ratios."""
    match = re.fullmatch(r"\s*(\d{1,4})\s*:\s*(\d{1,4})\s*", raw)
    if not match:
        raise InvalidRequest(f"`--ar` takes a ratio like `3:2` (W:H, at most {MAX_ASPECT:g}:1); got `{raw}`.")
    w, h = int(match[1]), int(match[2])
    if w == 0 or h == 0 or max(w / h, h / w) > MAX_ASPECT:
        raise InvalidRequest(f"`--ar` must be between 1:{MAX_ASPECT:g} and {MAX_ASPECT:g}:1; got `{w}:{h}`.")
    return w, h


def _quality(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value not in QUALITIES:
        raise InvalidRequest(f"`--quality` must be one of .25, .5 or 1; got `{raw}`.")
    return value


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``text`` into the prompt body and ``(flag, value)`` pairs in order."""
    # only all-letter names are parameters here: `--v5` or `--a_b` stays prompt text
    matches = [match for match in FLAG.finditer(text) if match[1].isalpha()]
    body = text[: matches[0].start()] if matches else text
    pairs: list[tuple[str, str]] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        pairs.append((match[1].lower(), text[match.end() : end].strip()))
    return body, pairs


def parse_prompt(text: str, *, seed: int | None = None) -> ParsedPrompt:
    """Parse a Midjourney-style prompt. ``seed`` is used when the prompt has no ``--seed``
    (default: a random one). Raises :class:`InvalidRequest` naming the flag and its range."""
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"The prompt is too long ({len(text)} characters; at most {MAX_PROMPT_CHARS}).")
    body, pairs = _split(text)
    prompt = " ".join(body.split())
    if not prompt:
        raise InvalidRequest("The prompt is empty: describe the image before any `--` parameters.")

    options: dict[str, str] = {}
    for raw_flag, value in pairs:
        flag = _PARSED.get(raw_flag)
        if flag is None:
            known = "--ar, --seed, --no, --chaos, --stylize, --quality, --tile, --model"
            raise InvalidRequest(f"Unknown parameter `--{raw_flag}`. Known parameters: {known}.")
        if flag in options:
            raise InvalidRequest(f"`--{flag}` is given twice.")
        if flag == "tile":
            if value:
                raise InvalidRequest(f"`--tile` takes no value; got `{value}`.")
        elif not value:
            raise InvalidRequest(f"`--{flag}` needs a value.")
        options[flag] = value

    aspect = parse_aspect(options["ar"]) if "ar" in options else (1, 1)
    # the four tiles use seed … seed+3, so the highest grid seed leaves room for them
    highest_seed = MAX_SEED - (TILES_PER_GRID - 1)
    chosen_seed = _int_in("seed", options["seed"], 0, highest_seed) if "seed" in options else seed
    if chosen_seed is None:
        chosen_seed = random_seed()
    negative = ", ".join(part.strip() for part in options.get("no", "").split(",") if part.strip())
    chaos = _int_in("chaos", options["chaos"], 0, MAX_CHAOS) if "chaos" in options else 0
    stylize = _int_in("stylize", options["stylize"], 0, MAX_STYLIZE) if "stylize" in options else 100
    quality = _quality(options["quality"]) if "quality" in options else 1.0
    model = options.get("model")
    if model is not None and not _MODEL_NAME.fullmatch(model):
        raise InvalidRequest(
            "`--model` takes a model name (letters, digits, `._-/:`, at most 100 characters)."
        )

    request = GenerateRequest(
        prompt=prompt,
        seed=chosen_seed,
        negative_prompt=negative,
        aspect=aspect,
        quality=quality,
        stylize=stylize,
        chaos=chaos,
        tile="tile" in options,
        model=model,
    )
    request.validate()
    return ParsedPrompt(request=request, normalized=format_prompt(request))


def format_prompt(request: GenerateRequest) -> str:
    """The normalized prompt text: body, then the non-default parameters in a fixed order."""
    parts = [request.prompt]
    if request.aspect != (1, 1):
        parts.append(f"--ar {request.aspect[0]}:{request.aspect[1]}")
    if request.negative_prompt:
        parts.append(f"--no {request.negative_prompt}")
    if request.chaos:
        parts.append(f"--chaos {request.chaos}")
    if request.stylize != 100:
        parts.append(f"--stylize {request.stylize}")
    if request.quality != 1.0:
        parts.append(f"--quality {request.quality:g}")
    if request.tile:
        parts.append("--tile")
    if request.model:
        parts.append(f"--model {request.model}")
    parts.append(f"--seed {request.seed}")
    return " ".join(parts)
