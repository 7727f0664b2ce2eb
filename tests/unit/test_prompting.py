"""Preferences applied to prompts (/prefer options and suffix, /settings defaults) and honest hints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.db.preferences import Defaults
from bot.prompting import PARAMETER_ALIASES, compose, expand_options, flags_in, with_defaults, with_suffix
from engine.errors import InvalidRequest
from engine.hints import hint, model_vocabulary
from engine.permute import expand_prompt
from engine.prompt import parse_prompt

SHIPPED = Path(__file__).resolve().parents[2] / "engine" / "models" / "default"


def test_flags_fold_aliases_and_long_dashes() -> None:
    assert flags_in("a cat --s 50 —ar 3:2 --Q .5 --c 3 --v default --mine") == {
        "stylize", "ar", "quality", "chaos", "model", "mine",
    }  # fmt: skip
    assert flags_in("a multi-coloured cross-shaped sign") == set()


def test_options_expand_in_place_and_through_each_other() -> None:
    options = {"mine": "--ar 3:2 --wide", "wide": "--stylize 500", "ar": "--ar 9:1"}
    assert expand_options("a cat --mine --seed 1", options) == "a cat --ar 3:2 --stylize 500 --seed 1"
    assert expand_options("a cat --ar 1:1", options) == "a cat --ar 1:1"  # built-ins are never replaced
    assert expand_options("a cat --loop", {"loop": "--loop"}).count("--loop") == 1  # bounded


def test_suffix_words_go_after_the_prompt_and_its_parameters_lose_to_the_prompts() -> None:
    assert with_suffix("a cat --ar 3:2", "on a mat --ar 1:1 --chaos 5") == "a cat on a mat --ar 3:2 --chaos 5"
    assert with_suffix("a cat", "--s 50") == "a cat --s 50"
    assert with_suffix("a cat", None) == "a cat"


def test_settings_fill_only_what_the_prompt_leaves_out_and_parse() -> None:
    defaults = Defaults(model="default", stylize=250, quality=0.5, aspect="3:2", chaos=10)
    text = with_defaults("a cat --s 50", defaults)
    request = parse_prompt(text).request
    assert (request.stylize, request.quality, request.aspect, request.chaos, request.model) == (
        50, 0.5, (3, 2), 10, "default",
    )  # fmt: skip
    assert with_defaults("a cat", Defaults()) == "a cat"


def test_user_values_override_server_values() -> None:
    server = Defaults(aspect="2:3", stylize=500, remix=True)
    mine = Defaults(aspect="3:2")
    assert mine.over(server) == Defaults(aspect="3:2", stylize=500, remix=True)
    composed = compose("a cat --mine", mine.over(server), {"mine": "--chaos 5"})
    assert composed == "a cat --chaos 5 --ar 3:2 --stylize 500"


@pytest.mark.parametrize("name", sorted(PARAMETER_ALIASES))
def test_every_parser_parameter_is_reserved(name: str) -> None:
    try:
        for prompt in expand_prompt(f"a cat --{name} 1"):
            parse_prompt(prompt)
    except InvalidRequest as error:  # a known parameter may refuse the value, never the name
        assert "Unknown parameter" not in str(error)


def test_hints_fire_only_when_no_word_is_known(tmp_path: Path) -> None:
    vocabulary = model_vocabulary(str(SHIPPED))
    assert vocabulary is not None
    text = hint("a lighthouse at dusk --ar 3:2", vocabulary)
    assert text is not None and "`a large red circle on a blue background`" in text
    assert hint("a RED lighthouse", vocabulary) is None
    assert hint("a cat --no circle", vocabulary) is not None  # words after `--` do not count
    assert hint("the of and", vocabulary) is not None  # function words alone are not "known"
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "imaginebot.json").write_text(json.dumps({"native_size": 64}))
    assert model_vocabulary(str(plain)) is None and hint("a lighthouse", None) is None
