"""Permutations ``{a, b}`` (nested, escaped, in parameters) and ``--repeat``, expanded before parsing."""

from __future__ import annotations

import pytest

from engine.errors import InvalidRequest
from engine.permute import expand_prompt
from engine.prompt import parse_prompt


def test_no_braces_is_one_prompt() -> None:
    assert expand_prompt("a red circle --ar 3:2") == ["a red circle --ar 3:2"]


def test_groups_multiply_in_order_and_trim_spaces() -> None:
    assert expand_prompt("a {red, blue} {circle,square}") == [
        "a red circle", "a red square", "a blue circle", "a blue square",
    ]  # fmt: skip


def test_groups_nest_and_may_be_empty() -> None:
    assert expand_prompt("a {red, {dark, light} blue} cat") == [
        "a red cat",
        "a dark blue cat",
        "a light blue cat",
    ]
    assert expand_prompt("a {, big} cat") == ["a cat", "a big cat"]


def test_escapes_stand_for_the_characters() -> None:
    assert expand_prompt(r"a {red\, white, blue} flag \{1\} \\") == [
        "a red, white flag {1} \\",
        "a blue flag {1} \\",
    ]


def test_parameters_permute_too_and_each_prompt_parses() -> None:
    prompts = expand_prompt("a circle --ar {1:1, 3:2} --stylize {50, 500}")
    assert [(p.request.aspect, p.request.stylize) for p in map(parse_prompt, prompts)] == [
        ((1, 1), 50), ((1, 1), 500), ((3, 2), 50), ((3, 2), 500),
    ]  # fmt: skip


def test_repeat_copies_with_new_seeds() -> None:
    assert expand_prompt("a cat --repeat 3") == ["a cat"] * 3
    assert expand_prompt("a cat --seed 10 --r 3 --ar 3:2") == [
        "a cat --seed 10 --ar 3:2", "a cat --seed 14 --ar 3:2", "a cat --seed 18 --ar 3:2",
    ]  # fmt: skip
    assert expand_prompt("a {red, blue} cat --repeat 2") == [
        "a red cat",
        "a red cat",
        "a blue cat",
        "a blue cat",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a {red, blue cat", "not closed"),
        ("a red} cat", "no matching"),
        ("a cat --repeat 11", "1 to 10"),
        ("a cat --repeat", "1 to 10"),
        ("a cat --repeat two", "1 to 10"),
        ("a cat --repeat 2 --r 3", "twice"),
        ("{a,b} {c,d} {e,f} {g,h} {i,j}", "makes 32 prompts; at most 16"),
        ("{a,b} {c,d} --repeat 5", "more than 16"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        expand_prompt(text)


def test_the_cap_is_configurable() -> None:
    assert len(expand_prompt("{a,b,c} {d,e}", max_prompts=6)) == 6
    with pytest.raises(InvalidRequest, match="at most 5"):
        expand_prompt("{a,b,c} {d,e}", max_prompts=5)
