"""Command-level prompt expansion, before each prompt is parsed: permutations and ``--repeat``.

- ``a {red, blue} {circle, square}`` → four prompts, in order (the last group varies fastest). Groups nest
  (``a {red, {dark, light} blue} cat``), work in parameters too (``--ar {1:1, 3:2}``), and ``\\{``, ``\\}``,
  ``\\,`` and ``\\\\`` stand for the characters themselves.
- ``--repeat N`` (``--r``, 1–10) runs a prompt N times with new seeds; with ``--seed S`` the copies use
  ``S``, ``S+4``, ``S+8`` … so every tile stays reproducible.

The whole command is capped (:data:`DEFAULT_MAX_PROMPTS`, configurable): a command that would make more
prompts is refused before anything is expanded.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from engine.api import MAX_SEED
from engine.errors import InvalidRequest

DEFAULT_MAX_PROMPTS = 16
MAX_REPEAT = 10
_ESCAPES = {"{": "{", "}": "}", ",": ",", "\\": "\\"}
_REPEAT = re.compile(r"(?:^|\s)(?:--|—|–)(?:repeat|r)(?:\s+(\S+))?(?=\s|$)", re.IGNORECASE)
_SEED = re.compile(r"((?:^|\s)(?:--|—|–)seed\s+)(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[tuple[str | _Choice, ...], ...]


_Sequence = tuple["str | _Choice", ...]


def _parse(text: str) -> _Sequence:
    """``text`` as a sequence of literal text and choice groups; refuses unbalanced braces."""
    stack: list[tuple[list[str | _Choice], list[_Sequence]]] = []
    current: list[str | _Choice] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            current.append("".join(literal))
            literal.clear()

    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _ESCAPES:
            literal.append(_ESCAPES[text[index + 1]])
            index += 2
            continue
        if char == "{":
            flush()
            stack.append((current, []))
            current = []
        elif char == "," and stack:
            flush()
            stack[-1][1].append(tuple(current))
            current = []
        elif char == "}":
            if not stack:
                raise InvalidRequest("A `}` has no matching `{` (write `\\}` for the character itself).")
            flush()
            outer, options = stack.pop()
            options.append(tuple(current))
            outer.append(_Choice(tuple(options)))
            current = outer
        else:
            literal.append(char)
        index += 1
    if stack:
        raise InvalidRequest("A `{` is not closed: permutations look like `a {red, blue} circle`.")
    flush()
    return tuple(current)


def _count(sequence: _Sequence) -> int:
    total = 1
    for part in sequence:
        if isinstance(part, _Choice):
            total *= sum(_count(option) for option in part.options)
    return total


def _expand(sequence: _Sequence) -> list[str]:
    choices: list[list[str]] = []
    for part in sequence:
        if isinstance(part, _Choice):
            choices.append([text for option in part.options for text in _expand(option)])
        else:
            choices.append([part])
    return ["".join(combination) for combination in itertools.product(*choices)]


def _repeat(prompt: str) -> tuple[str, int]:
    """``prompt`` without its ``--repeat N``, and N (1 when absent)."""
    found = list(_REPEAT.finditer(prompt))
    if not found:
        return prompt, 1
    if len(found) > 1:
        raise InvalidRequest("`--repeat` is given twice.")
    raw = found[0][1]
    if raw is None or not raw.isdigit() or not 1 <= int(raw) <= MAX_REPEAT:
        raise InvalidRequest(f"`--repeat` takes a whole number from 1 to {MAX_REPEAT}; got `{raw or ''}`.")
    start, end = found[0].span()
    return prompt[:start] + prompt[end:], int(raw)


def _reseeded(prompt: str, copy: int) -> str:
    """Copy ``copy`` (0-based) of a repeated prompt: a given ``--seed S`` becomes ``S + 4·copy``."""
    if copy == 0:
        return prompt

    def shift(match: re.Match[str]) -> str:
        seed = int(match[2])
        if seed > MAX_SEED:
            return match[0]  # the parser refuses it with its own message
        return f"{match[1]}{(seed + 4 * copy) % (MAX_SEED - 2)}"

    return _SEED.sub(shift, prompt)


def expand_prompt(text: str, *, max_prompts: int = DEFAULT_MAX_PROMPTS) -> list[str]:
    """Every prompt ``text`` stands for, in order (one when it has no ``{…}`` and no ``--repeat``).

    Raises :class:`InvalidRequest` for unbalanced braces, a bad ``--repeat`` or more than ``max_prompts``."""
    sequence = _parse(text)
    combinations = _count(sequence)
    if combinations > max_prompts:
        raise InvalidRequest(f"That makes {combinations} prompts; at most {max_prompts} per command.")
    prompts: list[str] = []
    for expanded in _expand(sequence):
        body, times = _repeat(" ".join(expanded.split()))
        prompts += [" ".join(_reseeded(body, copy).split()) for copy in range(times)]
        if len(prompts) > max_prompts:
            raise InvalidRequest(
                f"With `--repeat` that makes more than {max_prompts} prompts; at most {max_prompts} per "
                "command."
            )
    return prompts
