"""Blocked words matched on normalized text: case, spacing, punctuation, leetspeak and look-alike letters from
other scripts don't slip through.

Folding (the same for blocked words and prompts): compatibility decomposition (NFKD: fullwidth ``ｇ`` and
mathematical ``𝐠`` become ``g``), accents dropped, look-alike letters replaced by the Latin letter they
imitate (Cyrillic ``о``, Greek ``Ο``, Armenian ``օ``, Cherokee ``Ꮐ``: a small table in the spirit of the
Unicode skeletons of UTS #39, applied before and after case folding so each case maps to what it looks like),
case folded, and ``0→o 1→i 3→e 4→a 5→s 7→t @→a $→s`` applied. What remains is a sequence of letter runs
("tokens") separated by anything else.

A blocked word matches when its letters appear in the joined tokens starting at the start of a token and
ending at the end of a token (a plural ``s``/``es`` allowed). So ``B.a.D``, ``b a d``, ``B4D``, ``bаd``
(Cyrillic ``а``) and ``bads`` match ``bad``, while ``abadi`` or ``embadge`` don't. A word the admin marks
*anywhere* also matches inside a word (``bloodgore`` for ``gore``); across tokens only when it is spelt
out letter by letter (``bloodg.o.r.e``) or from whole tokens (``blood gore``), so ``go red`` doesn't match
``gore``.

A word's key in the maps below is its normalized letters, prefixed with ``*`` when it matches anywhere (a
normalized word never contains ``*``).
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

ANYWHERE = "*"
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_TOKEN = re.compile(r"[^\W_]+")
_PLURALS = ("", "s", "es")

# Letters of other scripts that look like a Latin letter, by what they look like (upper case maps to upper
# case: case folding comes after). Chosen from Unicode's confusables.txt where the prototype is a plain Latin
# letter; compatibility forms (fullwidth, mathematical, circled, superscript) are handled by NFKD.
_CONFUSABLE_PAIRS = {
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W", "Ԁ": "D", "Ӏ": "I",
    "а": "a", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "ԁ": "d", "о": "o", "р": "p", "ԛ": "q",
    "ѕ": "s", "ԝ": "w", "х": "x", "у": "y", "ү": "y", "ӏ": "l", "ɡ": "g", "ь": "b", "ѵ": "v",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    "η": "n", "ω": "w", "γ": "y", "ε": "e", "τ": "t", "μ": "u",
    # Armenian
    "Ս": "U", "Տ": "S", "Օ": "O", "օ": "o", "ս": "u", "հ": "h", "ո": "n", "զ": "q", "ց": "g",
    # Cherokee (case folding turns its small letters into these capitals)
    "Ꭺ": "A", "Ᏼ": "B", "Ꮯ": "C", "Ꭰ": "D", "Ꭼ": "E", "Ꮐ": "G", "Ꮋ": "H", "Ꭻ": "J", "Ꮶ": "K", "Ꮮ": "L",
    "Ꮇ": "M", "Ꮲ": "P", "Ꮪ": "S", "Ꭲ": "T", "Ꮩ": "V", "Ꮃ": "W", "Ꮓ": "Z",
    # Latin letters that pass for others
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ʀ": "r", "ꜱ": "s", "ᴏ": "o", "ᴄ": "c", "ᴠ": "v", "ᴡ": "w",
}  # fmt: skip
CONFUSABLES = str.maketrans(_CONFUSABLE_PAIRS)


def skeleton(text: str) -> str:
    """``text`` with compatibility forms, accents and look-alike letters folded to plain lower case."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.translate(CONFUSABLES).casefold().translate(CONFUSABLES).casefold()


def _fold(text: str) -> str:
    return skeleton(text).translate(_LEET)


def normalize_word(word: str) -> str:
    """Comparable form of a blocked word or phrase: folded letters, ``"Bl00d Bath"`` → ``bloodbath``."""
    return "".join(_TOKEN.findall(_fold(word)))


def word_key(word: str, *, anywhere: bool = False) -> str:
    """The key of a blocked word in the maps :func:`first_blocked` takes."""
    return (ANYWHERE if anywhere else "") + normalize_word(word)


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Joined letters of a text plus where each token starts and ends in them."""

    letters: str
    starts: frozenset[int]
    ends: frozenset[int]
    boundaries: tuple[int, ...]  # every token start after the first, in order

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
        return cls("".join(letters), frozenset(starts), frozenset(ends), tuple(sorted(starts - {0})))

    def _occurrences(self, normalized_word: str) -> list[int]:
        found = []
        index = self.letters.find(normalized_word)
        while index != -1:
            found.append(index)
            index = self.letters.find(normalized_word, index + 1)
        return found

    def contains(self, normalized_word: str) -> bool:
        """As a whole word (a plural allowed): starts at a token's start and ends at a token's end."""
        if not normalized_word:
            return False
        for index in self._occurrences(normalized_word):
            if index in self.starts:
                end = index + len(normalized_word)
                for suffix in _PLURALS:
                    if self.letters.startswith(suffix, end) and end + len(suffix) in self.ends:
                        return True
        return False

    def contains_anywhere(self, normalized_word: str) -> bool:
        """Inside one token, or across tokens when spelt out letter by letter, or as a whole word."""
        if not normalized_word:
            return False
        if self.contains(normalized_word):
            return True
        for index in self._occurrences(normalized_word):
            end = index + len(normalized_word)
            cuts = self.boundaries[
                bisect.bisect_right(self.boundaries, index) : bisect.bisect_left(self.boundaries, end)
            ]
            edges = [index, *cuts, end]
            if not cuts or all(b - a == 1 for a, b in itertools.pairwise(edges)):
                return True
        return False


def first_blocked(text: str, words: Mapping[str, str]) -> str | None:
    """The first blocked word found in ``text``; ``words`` maps :func:`word_key` → display form."""
    normalized = NormalizedText.of(text)
    for key, display in words.items():
        if key.startswith(ANYWHERE):
            if normalized.contains_anywhere(key[len(ANYWHERE) :]):
                return display
        elif normalized.contains(key):
            return display
    return None
