"""Honest hints: which words a model knows, read from its folder (torch-free, cheap, cached).

A model folder's ``imaginebot.json`` may list its ``vocabulary`` (the shipped model: every word of the caption
grammar it was trained on), what it ``draws`` and an ``example_prompt`` it draws well. A prompt with none of
those words gets a hint instead of a charge; models without a vocabulary never do.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

SETTINGS_FILE = "imaginebot.json"
FUNCTION_WORDS = frozenset({"a", "an", "the", "on", "in", "at", "of", "and", "with", "to", "by", "for"})
_WORD = re.compile(r"[a-z]+")
_PARAMETERS = re.compile(r"(?:^|\s)(?:--|—|–)[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    words: frozenset[str]
    draws: str
    example: str


@functools.lru_cache(maxsize=32)
def model_vocabulary(folder: str) -> Vocabulary | None:
    """The vocabulary a model folder declares, or ``None``."""
    try:
        data = json.loads((Path(folder) / SETTINGS_FILE).read_text(encoding="utf-8"))
        words = data["vocabulary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(words, list) or not words:
        return None
    known = frozenset(str(word).lower() for word in words) - FUNCTION_WORDS
    return Vocabulary(
        words=known,
        draws=str(data.get("draws") or "a few kinds of images"),
        example=str(data.get("example_prompt") or ""),
    )


def known_words(prompt: str, vocabulary: Vocabulary) -> list[str]:
    """The words of ``prompt`` (before any ``--`` parameter) that the model knows."""
    match = _PARAMETERS.search(prompt)
    body = prompt[: match.start()] if match else prompt
    return [word for word in _WORD.findall(body.lower()) if word in vocabulary.words]


def hint(prompt: str, vocabulary: Vocabulary | None) -> str | None:
    """A short, honest note when ``prompt`` has no word the model knows; ``None`` otherwise."""
    if vocabulary is None or known_words(prompt, vocabulary):
        return None
    text = f"The built-in model draws {vocabulary.draws} and knows none of the words in this prompt"
    if vocabulary.example:
        text += f": try `{vocabulary.example}`"
    return text + "."
