"""Multi-prompts, torch-free: ``a red circle:: blue background::2`` is two parts with weights 1 and 2.

A part ends at ``::``; a number right after the ``::`` is that part's weight (default 1). Weights may be
negative (``text::-0.5`` pushes away from ``text``) as long as their total is positive; in a multi-prompt
``--no x`` is the part ``x::-0.5``. The engine mixes the parts' text embeddings by weight (normalised by the
total); a prompt without ``::`` is one ordinary prompt.
"""

from __future__ import annotations

import math
import re

from engine.errors import InvalidRequest

MAX_PARTS = 8
MAX_WEIGHT = 100.0
CHAOS_WITH_PARTS = "`--chaos` cannot be combined with a multi-prompt (`::`) yet."
NO_WEIGHT = -0.5
_WEIGHT = re.compile(r"\s*(-?(?:\d+(?:\.\d*)?|\.\d+))(?=\s|$|::)")

Parts = tuple[tuple[str, float], ...]


def is_multi(prompt: str) -> bool:
    return "::" in prompt


def split_weighted(prompt: str, negative: str = "") -> Parts:
    """The parts of ``prompt`` with their weights, plus each ``--no`` item as weight -0.5 when the prompt is
    a multi-prompt. Raises :class:`InvalidRequest` naming what is wrong."""
    if not is_multi(prompt):
        return ((prompt.strip(), 1.0),)
    pieces = prompt.split("::")
    parts: list[tuple[str, float]] = []
    text = pieces[0]
    for piece in pieces[1:]:
        match = _WEIGHT.match(piece)
        weight = float(match[1]) if match else 1.0
        _add(parts, text, weight)
        text = piece[match.end() :] if match else piece
    if text.strip():
        _add(parts, text, 1.0)
    for item in (word.strip() for word in negative.split(",")):
        if item:
            _add(parts, item, NO_WEIGHT)
    if len(parts) > MAX_PARTS:
        raise InvalidRequest(
            f"A multi-prompt takes at most {MAX_PARTS} parts (with `--no`); got {len(parts)}."
        )
    total = sum(weight for _, weight in parts)
    if total <= 0:
        raise InvalidRequest(
            f"The weights of a multi-prompt must add up to more than 0; they add up to {total:g}."
        )
    return tuple(parts)


def _add(parts: list[tuple[str, float]], text: str, weight: float) -> None:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InvalidRequest("A multi-prompt part is empty: write text before each `::`.")
    if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
        raise InvalidRequest(
            f"A multi-prompt weight must be from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g}; got {weight:g}."
        )
    parts.append((cleaned, weight))


def check_weights(prompt: str, negative: str, chaos: int) -> None:
    """Refuse a bad multi-prompt before it is charged (weights, empty parts, ``--chaos`` with ``::``)."""
    if is_multi(prompt):
        split_weighted(prompt, negative)
        if chaos:
            raise InvalidRequest(CHAOS_WITH_PARTS)


def plain_text(prompt: str) -> str:
    """The positive parts' text, for a pipeline that takes only a text prompt (e.g. a dedicated upscaler)."""
    if not is_multi(prompt):
        return prompt
    return ", ".join(text for text, weight in split_weighted(prompt) if weight > 0)


def format_weighted(parts: Parts) -> str:
    """``a red circle::1 blue background::2`` (the normalised form)."""
    return " ".join(f"{text}::{weight:g}" for text, weight in parts)
