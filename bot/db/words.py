"""Blocked words matched on normalized text: case, spacing, punctuation and leetspeak don't slip through.

Text is case-folded, accents are dropped and ``0→o 1→i 3→e 4→a 5→s 7→t @→a $→s`` applied; what remains is a
sequence of letter runs ("tokens") separated by anything else. A blocked word matches when its letters appear
in the joined tokens starting at the start of a token and ending at the end of a token (a plural ``s``/``es``
allowed). So ``B.a.D``, ``b a d``, ``B4D`` and ``bads`` match ``bad``, while ``abadi`` or ``embadge`` don't.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_TOKEN = re.compile(r"[^\W_]+")
_PLURALS = ("", "s", "es")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LEET)


def normalize_word(word: str) -> str:
    """Comparable form of a blocked word or phrase: folded letters, ``"Bl00d Bath"`` → ``bloodbath``."""
    return "".join(_TOKEN.findall(_fold(word)))


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Joined letters of a text plus where each token starts and ends in them."""

    letters: str
    starts: frozenset[int]
    ends: frozenset[int]

    @classmethod
    def of(cls, text: str) -> NormalizedText:
        letters: list[str] = []
        starts: set[int] = set()
        ends: set[int] = set()
        position = 0
        for token in _TOKEN.findall(_fold(text)):
            starts.add(position)
            letters.append(token)
            position += len(token)
            ends.add(position)
        return cls("".join(letters), frozenset(starts), frozenset(ends))

    def contains(self, normalized_word: str) -> bool:
        if not normalized_word:
            return False
        index = self.letters.find(normalized_word)
        while index != -1:
            if index in self.starts:
                end = index + len(normalized_word)
                for suffix in _PLURALS:
                    if self.letters.startswith(suffix, end) and end + len(suffix) in self.ends:
                        return True
            index = self.letters.find(normalized_word, index + 1)
        return False


def first_blocked(text: str, words: dict[str, str]) -> str | None:
    """The first blocked word found in ``text``; ``words`` maps normalized → display form."""
    normalized = NormalizedText.of(text)
    for key, display in words.items():
        if normalized.contains(key):
            return display
    return None
