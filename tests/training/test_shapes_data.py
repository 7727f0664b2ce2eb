"""The procedural ``shapes`` dataset: vocabulary, held-out pairs, captions and the tokenizer."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from engine.training import shapes
from engine.training.tokenizer import write_tokenizer


def test_training_scenes_never_contain_a_held_out_pair_and_cover_the_rest() -> None:
    rng = random.Random(0)
    seen = {(s.colour, s.shape) for s in (shapes.sample_scene(rng) for _ in range(3000))}
    assert not seen & shapes.HELD_OUT_PAIRS
    every_pair = {(c, s) for c in shapes.OBJECT_COLOURS for s in shapes.SHAPES}
    assert seen == every_pair - shapes.HELD_OUT_PAIRS


def test_held_out_sampling_yields_only_held_out_pairs() -> None:
    rng = random.Random(1)
    pairs = {(s.colour, s.shape) for s in (shapes.sample_scene(rng, pairs="held_out") for _ in range(300))}
    assert pairs == set(shapes.HELD_OUT_PAIRS)


def test_background_differs_from_object_and_attributes_cover_the_vocabulary() -> None:
    rng = random.Random(2)
    scenes = [shapes.sample_scene(rng) for _ in range(2000)]
    assert all(s.background != s.colour for s in scenes)
    assert {s.background for s in scenes} == set(shapes.BACKGROUND_COLOURS)
    assert {s.position for s in scenes} == set(shapes.POSITIONS)
    assert {s.size for s in scenes} == set(shapes.SIZES)
    with pytest.raises(ValueError):
        shapes.make_scene("red", "circle", "small", "left", "red")


def test_captions_follow_the_template_and_parse_back() -> None:
    scene = shapes.make_scene("purple", "triangle", "large", "bottom", "yellow")
    assert shapes.caption(scene) == "a large purple triangle at the bottom on a yellow background"
    rng = random.Random(3)
    lengths = set()
    for _ in range(300):
        scene = shapes.sample_scene(rng)
        text = shapes.caption(scene, rng, shapes.CaptionStyle())
        mentioned = shapes.parse_caption(text)
        assert mentioned["colour"] == scene.colour and mentioned["shape"] == scene.shape
        assert shapes.scene_matches(scene, mentioned)
        lengths.add(len(mentioned))
    assert lengths == {2, 3, 4, 5}, "optional parts are dropped at random"


def test_parse_caption_understands_synonyms() -> None:
    got = shapes.parse_caption("a tiny blue square on the right on a grey background")
    assert got == {
        "size": "small",
        "colour": "blue",
        "shape": "square",
        "position": "right",
        "background": "gray",
    }
    got = shapes.parse_caption("An ORANGE big cross in the centre")
    assert got == {"size": "large", "colour": "orange", "shape": "cross", "position": "center"}


def test_rendering_is_deterministic_and_draws_the_colours() -> None:
    scene = shapes.make_scene("red", "square", "large", "center", "blue")
    image = np.asarray(shapes.render(scene, 64))
    assert image.shape == (64, 64, 3)
    assert tuple(image[32, 32]) == shapes.OBJECT_COLOURS["red"]
    assert tuple(image[1, 1]) == shapes.BACKGROUND_COLOURS["blue"]
    first = [s.image for s in shapes.generate(5, 3, 32)]
    second = [s.image for s in shapes.generate(5, 3, 32)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_tokenizer_makes_every_caption_word_one_token(tmp_path: Path) -> None:
    tokenizer = write_tokenizer(tmp_path, shapes.vocabulary_words())
    for word in shapes.vocabulary_words():
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word
    ids = tokenizer("a large purple triangle at the bottom on a yellow background").input_ids
    assert len(ids) == 13  # 11 words + start + end
    unknown = tokenizer("a zebra-striped 🦓 unicorn").input_ids
    assert tokenizer.unk_token_id not in unknown[1:-1], "unknown words fall back to byte-level pieces"
    assert len(unknown) > 6
