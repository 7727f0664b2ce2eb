"""A CLIP-style byte-level BPE tokenizer whose merges make every word of a corpus vocabulary one token.

Any other text still tokenizes (byte-level fallback), so no prompt is ever rejected.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

SPECIALS = ("<|startoftext|>", "<|endoftext|>")
MAX_LENGTH = 32


def bytes_to_unicode() -> dict[int, str]:
    """The reversible byte → printable-character map of GPT-2/CLIP byte-level BPE."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars), strict=True))


def learn_merges(words: Iterable[str]) -> list[tuple[str, str]]:
    """Greedy BPE on ``words`` (each counted once) until every word is a single symbol."""
    byte_map = bytes_to_unicode()
    segmented: dict[str, list[str]] = {}
    for word in dict.fromkeys(words):
        symbols = [byte_map[b] for b in word.encode("utf-8")]
        symbols[-1] += "</w>"
        segmented[word] = symbols
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols in segmented.values():
            pairs.update(pairwise(symbols))
        if not pairs:
            return merges
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        for word, symbols in segmented.items():
            merged: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            segmented[word] = merged


def write_tokenizer(directory: Path, words: Iterable[str], *, max_length: int = MAX_LENGTH) -> object:
    """Write ``vocab.json``/``merges.txt`` for ``words`` into ``directory``; return the tokenizer."""
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    merges = learn_merges(words)
    symbols = list(bytes_to_unicode().values())
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), *SPECIALS]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8"
    )
    tokenizer = CLIPTokenizer.from_pretrained(str(directory), model_max_length=max_length)
    tokenizer.save_pretrained(str(directory))
    return tokenizer
