"""``shapes``: a procedural captioned dataset of one flat-colour shape on a flat background.

Captions follow ``a [size] <colour> <shape> [position] [on a <colour> background]``; the optional parts are
dropped at random. Six colour–shape pairs (:data:`HELD_OUT_PAIRS`) never appear in training data and are kept
for evaluation. Every scene is rendered exactly from its attributes, so the pixel judge can be checked on it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 40),
    "green": (34, 160, 60),
    "blue": (40, 90, 225),
    "purple": (135, 50, 185),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {**OBJECT_COLOURS, "gray": (128, 128, 128)}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES = ("small", "large")
POSITIONS: dict[str, str] = {
    "center": "in the center",
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
}
#: Centre of the object's bounding box (fractions of the image side) for each position.
POSITION_CENTRES: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "left": (0.27, 0.5),
    "right": (0.73, 0.5),
    "top": (0.5, 0.27),
    "bottom": (0.5, 0.73),
}
#: Side of the object's bounding box (fraction of the image side) for each size.
SIZE_EXTENTS: dict[str, float] = {"small": 0.26, "large": 0.48}
POSITION_JITTER = 0.025
EXTENT_JITTER = 0.03
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "triangle"),
        ("blue", "circle"),
        ("green", "square"),
        ("yellow", "cross"),
        ("purple", "circle"),
        ("orange", "square"),
    }
)
#: Extra words the tokenizer knows as whole tokens (synonyms users are likely to type).
EXTRA_WORDS = (
    "an", "the", "of", "and", "with", "big", "tiny", "grey", "centre", "middle", "above", "below", "left",
    "shape", "image", "picture", "photo", "plain", "bright", "dark", "circles", "squares", "triangles",
    "crosses", "plus", "sign",
)  # fmt: skip

ATTRIBUTES = ("size", "colour", "shape", "position", "background")


@dataclass(frozen=True, slots=True)
class Scene:
    """One object on a background; ``cx``/``cy``/``extent`` are the exact geometry (fractions of the side)."""

    colour: str
    shape: str
    size: str
    position: str
    background: str
    cx: float
    cy: float
    extent: float

    def attributes(self) -> dict[str, str]:
        return {
            "size": self.size,
            "colour": self.colour,
            "shape": self.shape,
            "position": self.position,
            "background": self.background,
        }


def vocabulary_words() -> list[str]:
    """Every word a ``shapes`` caption can contain, plus a few likely synonyms."""
    words: list[str] = ["a", "on", "background"]
    words += list(SIZES) + list(BACKGROUND_COLOURS) + list(SHAPES)
    for phrase in POSITIONS.values():
        words += phrase.split()
    words += list(EXTRA_WORDS)
    return list(dict.fromkeys(words))


def is_held_out(colour: str, shape: str) -> bool:
    return (colour, shape) in HELD_OUT_PAIRS


def sample_scene(rng: random.Random, *, pairs: str = "train") -> Scene:
    """A random scene. ``pairs``: ``"train"`` never yields a held-out pair, ``"held_out"`` only those,
    ``"all"`` anything."""
    while True:
        colour = rng.choice(list(OBJECT_COLOURS))
        shape = rng.choice(SHAPES)
        held = is_held_out(colour, shape)
        if (pairs == "train" and held) or (pairs == "held_out" and not held):
            continue
        break
    background = rng.choice([c for c in BACKGROUND_COLOURS if c != colour])
    size = rng.choice(SIZES)
    position = rng.choice(list(POSITIONS))
    return make_scene(colour, shape, size, position, background, rng=rng)


def make_scene(
    colour: str,
    shape: str,
    size: str,
    position: str,
    background: str,
    *,
    rng: random.Random | None = None,
) -> Scene:
    """A scene with the given attributes; ``rng`` adds the same small jitter training data has."""
    if background == colour:
        raise ValueError("the background colour must differ from the object's colour")
    cx, cy = POSITION_CENTRES[position]
    extent = SIZE_EXTENTS[size]
    if rng is not None:
        cx += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
        cy += rng.uniform(-POSITION_JITTER, POSITION_JITTER)
        extent += rng.uniform(-EXTENT_JITTER, EXTENT_JITTER)
    return Scene(colour, shape, size, position, background, cx, cy, extent)


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float], fill: int | tuple[int, ...]
) -> None:
    """Draw ``shape`` filling the bounding ``box`` (left, top, right, bottom)."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([((left + right) / 2, top), (left, bottom), (right, bottom)], fill=fill)
    elif shape == "cross":
        arm_w, arm_h = width / 3, height / 3
        draw.rectangle((left + arm_w, top, right - arm_w, bottom), fill=fill)
        draw.rectangle((left, top + arm_h, right, bottom - arm_h), fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = 128, *, supersample: int = 4) -> Image.Image:
    """Render ``scene`` as an RGB image of ``size``×``size`` with anti-aliased edges."""
    big = size * supersample
    image = Image.new("RGB", (big, big), BACKGROUND_COLOURS[scene.background])
    half = scene.extent * big / 2
    box = (scene.cx * big - half, scene.cy * big - half, scene.cx * big + half, scene.cy * big + half)
    draw_shape(ImageDraw.Draw(image), scene.shape, box, OBJECT_COLOURS[scene.colour])
    return image.resize((size, size), Image.Resampling.BOX)


@dataclass(frozen=True, slots=True)
class CaptionStyle:
    """How often each optional part of a caption is kept."""

    p_size: float = 0.7
    p_position: float = 0.7
    p_background: float = 0.7


FULL = CaptionStyle(1.0, 1.0, 1.0)


def caption(scene: Scene, rng: random.Random | None = None, style: CaptionStyle = FULL) -> str:
    """``a [size] <colour> <shape> [position] [on a <colour> background]`` with parts kept per ``style``."""

    def keep(p: float) -> bool:
        return p >= 1.0 or (rng is not None and rng.random() < p)

    words = ["a"]
    if keep(style.p_size):
        words.append(scene.size)
    words += [scene.colour, scene.shape]
    if keep(style.p_position):
        words.append(POSITIONS[scene.position])
    if keep(style.p_background):
        words.append(f"on a {scene.background} background")
    return " ".join(words)


_SIZE_WORDS = {"small": "small", "tiny": "small", "large": "large", "big": "large"}
_COLOUR_WORDS = {**{c: c for c in BACKGROUND_COLOURS}, "grey": "gray"}
_SHAPE_WORDS = {**{s: s for s in SHAPES}, **{s + "s": s for s in SHAPES}, "crosses": "cross"}
_POSITION_PATTERNS = {
    "center": r"\b(in the (center|centre|middle))\b",
    "left": r"\b(on|at|to) the left\b",
    "right": r"\b(on|at|to) the right\b",
    "top": r"\b(at|on) the top\b",
    "bottom": r"\b(at|on) the bottom\b",
}


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a ``shapes``-style caption mentions (subset of :data:`ATTRIBUTES`)."""
    text = " ".join(text.lower().split())
    found: dict[str, str] = {}
    background = re.search(r"\bon an? (\w+) background\b", text)
    if background and background.group(1) in _COLOUR_WORDS:
        found["background"] = _COLOUR_WORDS[background.group(1)]
        text = text[: background.start()] + text[background.end() :]
    for name, pattern in _POSITION_PATTERNS.items():
        if re.search(pattern, text):
            found["position"] = name
            break
    for word in text.split():
        if word in _SIZE_WORDS and "size" not in found:
            found["size"] = _SIZE_WORDS[word]
        elif word in _COLOUR_WORDS and "colour" not in found:
            found["colour"] = _COLOUR_WORDS[word]
        elif word in _SHAPE_WORDS and "shape" not in found:
            found["shape"] = _SHAPE_WORDS[word]
    return found


def scene_matches(scene: Scene, mentioned: dict[str, str]) -> bool:
    """Whether every attribute a caption mentions holds for ``scene``."""
    attributes = scene.attributes()
    return all(attributes[key] == value for key, value in mentioned.items())


@dataclass(frozen=True, slots=True)
class Sample:
    scene: Scene
    image: np.ndarray  # uint8 H×W×3


def generate(seed: int, count: int, size: int = 128, *, pairs: str = "train") -> Iterator[Sample]:
    """``count`` rendered scenes from a fixed seed (the same seed always yields the same samples)."""
    rng = random.Random(seed)
    for _ in range(count):
        scene = sample_scene(rng, pairs=pairs)
        yield Sample(scene, np.asarray(render(scene, size)))


def image_to_tensor_array(images: np.ndarray) -> np.ndarray:
    """uint8 N×H×W×3 → float32 N×3×H×W in [-1, 1]."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0
