"""``/describe``: candidate prompts for an image, ranked by a CLIP model on the engine's worker thread.

Two describers:

- :class:`GrammarDescriber` — a model folder with its own CLIP (``<model>/clip`` and ``<model>/tokenizer``,
  as ``make train`` exports the shipped model) scores the ``shapes`` caption grammar against the image: first
  every ``a <colour> <shape>``, then every full caption (size, position, background) of the best few
  colour–shape pairs; the four best distinct full captions are the answer.
- :class:`VocabularyDescriber` — any CLIP-style folder (``ENGINE_DESCRIBER``: a transformers ``CLIPModel``
  with its tokenizer) over a vocabulary of subjects, styles and media (built in, or ``vocabulary.json`` in
  the folder): the best subjects, each with a well-scored medium and style, as
  ``a <medium> of <subject>, <style>``.

Resolving which describer serves a request is torch-free (:func:`describer_source`); loading and scoring
import torch and run only on the engine's worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from engine.api import DESCRIBE_COUNT, Description
from engine.errors import InvalidRequest, UnknownModel

NOT_CONFIGURED = (
    "Describing images is not set up for this model: the operator can set ENGINE_DESCRIBER to a CLIP model "
    "folder."
)
GRAMMAR_PAIRS = 4
"""Colour–shape pairs kept after the first pass; every full caption of these is scored in the second."""
VOCABULARY_FILE = "vocabulary.json"

DEFAULT_VOCABULARY: dict[str, tuple[str, ...]] = {
    "subjects": (
        "a portrait of a person", "a cat", "a dog", "a bird", "a horse", "a fish", "a flower", "a tree",
        "a forest", "a mountain landscape", "a beach", "the ocean", "a lake", "a river", "a desert",
        "a city street", "a skyline at night", "a house", "a castle", "a lighthouse", "a bridge", "a car",
        "a ship", "an airplane", "a robot", "a dragon", "a spaceship", "a planet", "a galaxy",
        "food on a plate", "a bowl of fruit", "a cup of coffee", "a book", "a room interior",
        "a crowd of people", "an abstract pattern", "a geometric shape", "a face", "a hand", "a snowy field",
    ),
    "media": (
        "photograph", "oil painting", "watercolor painting", "pencil sketch", "digital illustration",
        "3d render", "pixel art", "vector illustration", "charcoal drawing", "anime drawing",
    ),
    "styles": (
        "highly detailed", "minimalist", "impressionist", "surreal", "cinematic lighting", "vintage",
        "flat colors", "dramatic", "soft pastel colors", "black and white", "vibrant colors",
        "dark and moody",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DescriberSource:
    """Where a describer is loaded from; ``kind`` picks the caption source."""

    kind: Literal["grammar", "vocabulary"]
    clip: str
    tokenizer: str
    name: str


def model_clip(model_folder: Path) -> DescriberSource | None:
    """The model's own CLIP (``clip/`` next to ``tokenizer/``), when the folder has one."""
    clip, tokenizer = model_folder / "clip", model_folder / "tokenizer"
    if (clip / "config.json").is_file() and tokenizer.is_dir():
        return DescriberSource("grammar", str(clip), str(tokenizer), f"{model_folder.name} (its own CLIP)")
    return None


def describer_source(configured: str | None, model_folder: Path | None) -> DescriberSource:
    """``ENGINE_DESCRIBER`` when set, else the model's own CLIP; cheap file checks only (safe on the event
    loop). Raises :class:`InvalidRequest` when neither exists, :class:`UnknownModel` for a bad setting."""
    name = (configured or "").strip()
    if name:
        folder = Path(name).expanduser()
        if not (folder / "config.json").is_file():
            raise UnknownModel(f"ENGINE_DESCRIBER `{name}` is not a folder with a CLIP model's config.json.")
        own = model_clip(folder)  # a whole model folder given as the describer
        if own is not None:
            return own
        tokenizer = folder if (folder / "tokenizer_config.json").is_file() else folder.parent / "tokenizer"
        return DescriberSource("vocabulary", str(folder), str(tokenizer), folder.name)
    own = model_clip(model_folder) if model_folder is not None else None
    if own is None:
        raise InvalidRequest(NOT_CONFIGURED)
    return own


class Describer(Protocol):
    name: str

    def describe(self, image: Any, count: int = DESCRIBE_COUNT) -> Description: ...


class _Clip:
    """A loaded CLIPModel with its tokenizer; unit-norm embeddings for images and texts."""

    def __init__(self, source: DescriberSource, device: Any) -> None:
        import torch
        from transformers import AutoTokenizer, CLIPModel

        try:
            model: Any = CLIPModel.from_pretrained(source.clip)
            self.model = model.to(device=device, dtype=torch.float32).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(source.tokenizer)
        except (OSError, ValueError) as error:
            raise UnknownModel(f"The describer `{source.name}` could not be loaded: {error}") from None
        self.device = device
        self.size = int(self.model.config.vision_config.image_size)
        positions = int(self.model.config.text_config.max_position_embeddings)
        self.max_tokens = min(int(self.tokenizer.model_max_length), positions)
        self.normalize = _image_normalizer(Path(source.clip))

    def images(self, images: list[Any]) -> Any:
        import numpy as np
        import torch
        import torch.nn.functional as F
        from PIL import Image

        arrays = [
            np.asarray(image.convert("RGB").resize((self.size, self.size), Image.Resampling.BOX))
            for image in images
        ]
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        pixels = self.normalize(pixels).to(self.device)
        with torch.inference_mode():
            return F.normalize(_features(self.model.get_image_features(pixel_values=pixels)), dim=-1)

    def texts(self, texts: list[str], batch: int = 256) -> Any:
        import torch
        import torch.nn.functional as F

        chunks = []
        for start in range(0, len(texts), batch):
            tokens = self.tokenizer(
                texts[start : start + batch],
                padding="max_length",
                max_length=min(
                    self.tokenizer.model_max_length, self.model.config.text_config.max_position_embeddings
                ),
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(self.device)
            with torch.inference_mode():
                chunks.append(F.normalize(_features(self.model.get_text_features(input_ids=tokens)), dim=-1))
        return torch.cat(chunks)


def _features(output: Any) -> Any:
    """``get_*_features`` returns a tensor in older transformers and an output object in newer ones."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    return pooled if pooled is not None else output[0]


def _image_normalizer(folder: Path) -> Any:
    """A folder with a ``preprocessor_config.json`` gives its mean/std (OpenAI CLIP style); without one the
    pixels are scaled to [-1, 1], as the shipped model's CLIP was trained."""
    import torch

    try:
        config = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
        mean = torch.tensor(config["image_mean"]).view(1, 3, 1, 1)
        std = torch.tensor(config["image_std"]).view(1, 3, 1, 1)
    except (OSError, ValueError, KeyError, TypeError):
        return lambda pixels: pixels * 2.0 - 1.0
    return lambda pixels: (pixels - mean) / std


class GrammarDescriber:
    """The ``shapes`` caption grammar scored by the model's own CLIP."""

    def __init__(self, source: DescriberSource, device: Any) -> None:
        from engine.training import shapes

        self.name = source.name
        self.clip = _Clip(source, device)
        self._shapes = shapes
        self.pairs = [(colour, shape) for colour in shapes.OBJECT_COLOURS for shape in shapes.SHAPES]
        self._pair_texts = self.clip.texts([f"a {colour} {shape}" for colour, shape in self.pairs])
        self._full: dict[tuple[str, str], tuple[list[str], Any]] = {}

    def _captions(self, colour: str, shape: str) -> tuple[list[str], Any]:
        """Every full caption of one colour–shape pair and its embeddings (computed once, then kept)."""
        cached = self._full.get((colour, shape))
        if cached is None:
            s = self._shapes
            captions = [
                s.caption(s.make_scene(colour, shape, size, position, background))
                for size in s.SIZES
                for position in s.POSITIONS
                for background in s.BACKGROUND_COLOURS
                if background != colour
            ]
            cached = (captions, self.clip.texts(captions))
            self._full[(colour, shape)] = cached
        return cached

    def describe(self, image: Any, count: int = DESCRIBE_COUNT) -> Description:
        import torch

        embedded = self.clip.images([image])
        pair_scores = (embedded @ self._pair_texts.t())[0]
        best = pair_scores.argsort(descending=True)[:GRAMMAR_PAIRS].tolist()
        captions: list[str] = []
        scores = []
        for index in best:
            texts, embeddings = self._captions(*self.pairs[index])
            captions += texts
            scores.append((embedded @ embeddings.t())[0])
        ranked = torch.cat(scores)
        return _top_distinct(captions, ranked.tolist(), count, self.name)


class VocabularyDescriber:
    """A general CLIP over subjects, media and styles."""

    def __init__(self, source: DescriberSource, device: Any) -> None:
        self.name = source.name
        self.clip = _Clip(source, device)
        vocabulary = _vocabulary(Path(source.clip))
        self.subjects, self.media, self.styles = (
            list(vocabulary["subjects"]),
            list(vocabulary["media"]),
            list(vocabulary["styles"]),
        )
        self._subjects = self.clip.texts(self.subjects)
        self._media = self.clip.texts([f"a {medium}" for medium in self.media])
        self._styles = self.clip.texts(self.styles)

    def describe(self, image: Any, count: int = DESCRIBE_COUNT) -> Description:
        embedded = self.clip.images([image])
        subjects = (embedded @ self._subjects.t())[0]
        media = (embedded @ self._media.t())[0].argsort(descending=True).tolist()
        styles = (embedded @ self._styles.t())[0].argsort(descending=True).tolist()
        order = subjects.argsort(descending=True).tolist()[:count]
        prompts, scores = [], []
        for rank, index in enumerate(order):  # the n-th subject gets the n-th best medium and style
            medium = self.media[media[rank % len(media)]]
            style = self.styles[styles[rank % len(styles)]]
            prompts.append(f"a {medium} of {self.subjects[index]}, {style}")
            scores.append(float(subjects[index]))
        return _top_distinct(prompts, scores, count, self.name)


def _vocabulary(folder: Path) -> dict[str, tuple[str, ...]]:
    """``vocabulary.json`` (``{"subjects": [...], "media": [...], "styles": [...]}``) or the built-in one."""
    path = folder / VOCABULARY_FILE
    if not path.is_file():
        return DEFAULT_VOCABULARY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        vocabulary = {key: tuple(str(word) for word in data[key]) for key in DEFAULT_VOCABULARY}
    except (OSError, ValueError, KeyError, TypeError):
        raise UnknownModel(f"{path} must hold lists named subjects, media and styles.") from None
    if not all(vocabulary.values()):
        raise UnknownModel(f"{path} must hold non-empty lists named subjects, media and styles.")
    return vocabulary


def _top_distinct(prompts: list[str], scores: list[float], count: int, name: str) -> Description:
    order = sorted(range(len(prompts)), key=lambda i: -scores[i])
    chosen: list[int] = []
    for index in order:
        if prompts[index] not in (prompts[i] for i in chosen):
            chosen.append(index)
        if len(chosen) == count:
            break
    return Description(
        prompts=tuple(prompts[i] for i in chosen),
        scores=tuple(round(scores[i], 4) for i in chosen),
        describer=name,
    )


def load_describer(source: DescriberSource, device: Any) -> Describer:
    """Load on the worker thread (imports torch and transformers)."""
    if source.kind == "grammar":
        return GrammarDescriber(source, device)
    return VocabularyDescriber(source, device)
