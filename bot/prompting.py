"""What a user typed → the prompt text the parser sees: ``/prefer`` options expanded, the ``/prefer`` suffix
appended, and ``/settings`` defaults added for every parameter the prompt does not give itself.

Text in, text out: the parser (``engine.prompt``) stays the one place that validates a prompt.
"""

from __future__ import annotations

import itertools
import re

from bot.db.preferences import Defaults
from engine.prompt import FLAG, PARAMETER_ALIASES

OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_EXPANSIONS = 10


def flags_in(text: str) -> set[str]:
    """The canonical names of the parameters ``text`` gives (aliases folded; unknown names as written)."""
    return {PARAMETER_ALIASES.get(name.lower(), name.lower()) for name in FLAG.findall(text)}


def split_body(text: str) -> tuple[str, str]:
    """``(body, parameters)``: the text before the first ``--`` parameter, and the rest."""
    match = FLAG.search(text)
    if match is None:
        return text.strip(), ""
    return text[: match.start()].strip(), text[match.start() :].strip()


def expand_options(text: str, options: dict[str, str]) -> str:
    """Replace each ``--name`` the user defined with ``/prefer option set`` by its value (options may use
    other options, up to :data:`MAX_EXPANSIONS` rounds)."""
    for _ in range(MAX_EXPANSIONS):
        changed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal changed
            name = match[1].lower()
            if name in options and name not in PARAMETER_ALIASES:
                changed = True
                return options[name]
            return match[0]

        text = FLAG.sub(substitute, text)
        if not changed:
            break
    return text


def with_suffix(text: str, suffix: str | None) -> str:
    """Append the suffix: its words after the prompt's words, its parameters after the prompt's own (a
    parameter the prompt already gives is left out)."""
    if not suffix:
        return text
    body, parameters = split_body(text)
    suffix_body, suffix_parameters = split_body(suffix)
    given = flags_in(parameters)
    kept = [part for part in _parameters(suffix_parameters) if _canonical(part) not in given]
    return " ".join(part for part in (body, suffix_body, parameters, *kept) if part)


def _parameters(text: str) -> list[str]:
    starts = [match.start() for match in FLAG.finditer(text)] + [len(text)]
    return [text[a:b].strip() for a, b in itertools.pairwise(starts)]


def _canonical(parameter: str) -> str:
    match = FLAG.match(parameter)
    name = match[1].lower() if match else ""
    return PARAMETER_ALIASES.get(name, name)


def with_defaults(text: str, defaults: Defaults) -> str:
    """Add ``--ar``, ``--stylize``, ``--quality``, ``--chaos`` and ``--model`` from ``/settings`` unless the
    prompt gives them."""
    given = flags_in(text)
    added: list[str] = []
    if defaults.aspect and "ar" not in given:
        added.append(f"--ar {defaults.aspect}")
    if defaults.stylize is not None and "stylize" not in given:
        added.append(f"--stylize {defaults.stylize}")
    if defaults.quality is not None and "quality" not in given:
        added.append(f"--quality {defaults.quality:g}")
    if defaults.chaos is not None and "chaos" not in given:
        added.append(f"--chaos {defaults.chaos}")
    if defaults.model and "model" not in given:
        added.append(f"--model {defaults.model}")
    return " ".join([text.strip(), *added])


def compose(text: str, defaults: Defaults, options: dict[str, str]) -> str:
    """Everything a user's preferences add to what they typed, in Midjourney's order."""
    return with_defaults(with_suffix(expand_options(text, options), defaults.suffix), defaults)
