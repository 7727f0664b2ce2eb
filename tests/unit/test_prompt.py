"""The Midjourney-style prompt parser shared by the CLI and the bot."""

from __future__ import annotations

import pytest

from engine.api import MAX_SEED
from engine.errors import InvalidRequest
from engine.prompt import format_prompt, parse_aspect, parse_prompt


def test_full_prompt_becomes_request() -> None:
    parsed = parse_prompt(
        "a  red circle --ar 3:2 --seed 7 --no text, words --chaos 20 --stylize 300 --quality .5 --tile"
        " --model tiny"
    )
    req = parsed.request
    assert req.prompt == "a red circle"
    assert req.aspect == (3, 2)
    assert req.seed == 7
    assert req.negative_prompt == "text, words"
    assert (req.chaos, req.stylize, req.quality, req.tile, req.model) == (20, 300, 0.5, True, "tiny")
    assert parsed.normalized == (
        "a red circle --ar 3:2 --no text, words --chaos 20 --stylize 300 --quality 0.5 --tile"
        " --model tiny --seed 7"
    )


def test_normalized_prompt_parses_back_to_the_same_request() -> None:
    first = parse_prompt("blue square   --s 50 --c 5 --q .25 --aspect 1:2 --v tiny --seed 99")
    again = parse_prompt(first.normalized)
    assert again.request == first.request
    assert format_prompt(again.request) == first.normalized


def test_defaults_and_random_seed() -> None:
    a = parse_prompt("a cat")
    assert a.request.aspect == (1, 1)
    assert (a.request.chaos, a.request.stylize, a.request.quality, a.request.tile) == (0, 100, 1.0, False)
    assert 0 <= a.request.seed <= MAX_SEED - 3
    assert parse_prompt("a cat", seed=42).request.seed == 42
    assert parse_prompt("a cat --seed 5", seed=42).request.seed == 5


def test_mobile_dashes_are_flags() -> None:
    assert parse_prompt("a cat —ar 16:9 —seed 3").request.aspect == (16, 9)


def test_largest_seed_keeps_four_valid_tile_seeds() -> None:
    assert parse_prompt(f"x --seed {MAX_SEED - 3}").request.seed == MAX_SEED - 3
    with pytest.raises(InvalidRequest, match="`--seed` must be from 0 to"):
        parse_prompt(f"x --seed {MAX_SEED - 2}")  # refused, not clamped: its tile 4 would not exist


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("   --ar 3:2", "empty"),
        ("x --ar 9:1", "--ar"),
        ("x --ar 3x2", "--ar"),
        ("x --ar 0:2", "--ar"),
        ("x --seed 4294967296", "0 to 4294967292"),
        ("x --seed seven", "--seed"),
        ("x --chaos 101", "--chaos` must be from 0 to 100"),
        ("x --stylize 1001", "0 to 1000"),
        ("x --quality 2", ".25, .5 or 1"),
        ("x --tile yes", "--tile"),
        ("x --frobnicate 3", "Unknown parameter `--frobnicate`"),
        ("x --seed 1 --seed 2", "twice"),
        ("x --no", "needs a value"),
        ("x --model ../../etc passwd", "--model"),
        ("x" * 1001, "too long"),
    ],
)
def test_bad_input_names_the_problem(text: str, needle: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_prompt(text)
    assert needle in str(caught.value)


def test_aspect_limits() -> None:
    assert parse_aspect("4:1") == (4, 1)
    assert parse_aspect(" 1 : 4 ") == (1, 4)
    with pytest.raises(InvalidRequest):
        parse_aspect("41:10")
