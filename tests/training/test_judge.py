"""The pixel judge reads the procedural data itself correctly."""

from __future__ import annotations

import random

import numpy as np

from engine.training import judge, shapes


def test_judge_reads_every_attribute_of_rendered_scenes() -> None:
    rng = random.Random(11)
    wrong = 0
    for _ in range(120):
        scene = shapes.sample_scene(rng, pairs="all")
        marks = judge.score(judge.read(shapes.render(scene, 128)), scene.attributes())
        wrong += not all(marks.values())
    assert wrong <= 1, f"{wrong} of 120 procedural images misread"


def test_judge_reads_each_shape_at_both_sizes_and_at_64_px() -> None:
    for shape in shapes.SHAPES:
        for size in shapes.SIZES:
            scene = shapes.make_scene("white", shape, size, "center", "black")
            reading = judge.read(shapes.render(scene, 64))
            assert (reading.shape, reading.size, reading.colour, reading.background) == (
                shape,
                size,
                "white",
                "black",
            )


def test_judge_survives_noise_and_reports_a_missing_object() -> None:
    scene = shapes.make_scene("yellow", "triangle", "large", "left", "purple")
    image = np.asarray(shapes.render(scene, 128)).astype(np.int16)
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    assert judge.score(judge.read(noisy), scene.attributes()) == {k: True for k in shapes.ATTRIBUTES}
    blank = np.full((128, 128, 3), shapes.BACKGROUND_COLOURS["gray"], dtype=np.uint8)
    reading = judge.read(blank)
    assert reading.background == "gray" and reading.shape is None
    assert judge.score(reading, {"shape": "circle", "background": "gray"}) == {
        "shape": False,
        "background": True,
    }


def test_a_wrong_image_is_judged_wrong() -> None:
    scene = shapes.make_scene("red", "circle", "small", "top", "green")
    marks = judge.score(
        judge.read(shapes.render(scene)), {"colour": "blue", "shape": "square", "position": "top"}
    )
    assert marks == {"colour": False, "shape": False, "position": True}
