"""Load a user's image–caption folder: every image with a same-named ``.txt`` caption, or a
``metadata.jsonl`` whose lines are ``{"file_name": ..., "text": ...}``.

Preprocessing, in order: decode check (the whole image is decoded, not just its header), minimum size,
caption present and normalised (Unicode NFKC, control characters removed, whitespace collapsed), exact
duplicates (SHA-256 of the decoded pixels) and near duplicates (64-bit DCT perceptual hash within a Hamming
distance), then resize + centre crop to a square. Nothing raises on a bad file: each one is listed in
``manifest.json`` with the reason it was dropped.

Only files inside the folder are read: a ``metadata.jsonl`` name that is absolute or climbs out with ``..``,
and a symbolic link leading outside, are dropped. An image is decoded only when its header declares at most
``MAX_IMAGE_PIXELS`` (a small file can declare a picture that takes gigabytes to decode).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
MAX_CAPTION_CHARS = 300
# Larger than any camera photo a caption folder needs (8660×5773), far below what would exhaust memory.
MAX_IMAGE_PIXELS = 50_000_000


@dataclass(frozen=True)
class FolderSettings:
    size: int = 128
    min_size: int = 64
    near_duplicate_bits: int = 4  # Hamming distance of perceptual hashes that counts as "the same picture"


def normalise_caption(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_CAPTION_CHARS]


@cache
def _dct_matrix(n: int = 32) -> np.ndarray:
    k = np.arange(n)
    matrix = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    matrix[0] /= np.sqrt(2)
    return matrix * np.sqrt(2 / n)


def perceptual_hash(image: Image.Image) -> int:
    """pHash: the signs of the 8×8 lowest DCT frequencies of a 32×32 grey image relative to their median."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    dct = _dct_matrix() @ grey @ _dct_matrix().T
    low = dct[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def center_square(image: Image.Image, size: int) -> Image.Image:
    return ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _pairs(folder: Path) -> tuple[list[tuple[Path, str | None]], list[dict[str, str]]]:
    """(image path, raw caption or None) for every candidate, plus problems found while listing."""
    problems: list[dict[str, str]] = []
    metadata = folder / "metadata.jsonl"
    if metadata.exists():
        pairs: list[tuple[Path, str | None]] = []
        for number, line in enumerate(metadata.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                # An absolute name replaces `folder` when joined; it is refused below as outside the folder.
                pairs.append(
                    (folder / str(record["file_name"]), str(record.get("text", record.get("caption", ""))))
                )
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                problems.append({"file": f"metadata.jsonl:{number}", "reason": "unreadable metadata line"})
        return pairs, problems
    pairs = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            caption_path = path.with_suffix(".txt")
            caption = (
                caption_path.read_text(encoding="utf-8", errors="replace") if caption_path.exists() else None
            )
            pairs.append((path, caption))
    return pairs, problems


def _outside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (links followed) lies outside ``folder``, or names its way out with ``..``."""
    if not path.is_relative_to(folder) or ".." in path.relative_to(folder).parts:
        return True
    return not path.resolve().is_relative_to(folder.resolve())


def _too_large(opened: Image.Image) -> str | None:
    pixels = opened.width * opened.height
    if pixels <= MAX_IMAGE_PIXELS:
        return None
    return (
        f"too large to decode safely ({opened.width}×{opened.height} = {pixels / 1e6:.0f} megapixels, "
        f"limit {MAX_IMAGE_PIXELS / 1e6:.0f})"
    )


def load_folder(folder: Path, out: Path, settings: FolderSettings | None = None) -> dict[str, Any]:
    """Preprocess ``folder`` into ``out/images/*.png``; write and return ``out/manifest.json``."""
    settings = settings or FolderSettings()
    out.mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    pairs, dropped = _pairs(folder)
    kept: list[dict[str, Any]] = []
    exact: dict[str, str] = {}
    hashes: list[tuple[int, str]] = []
    for path, raw_caption in pairs:
        name = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)

        def drop(reason: str, name: str = name) -> None:
            dropped.append({"file": name, "reason": reason})

        if _outside(path, folder):
            drop("outside the folder (absolute path, `..` or a link leading out); not read")
            continue
        if not path.exists():
            drop("file not found")
            continue
        try:
            with Image.open(path) as opened:
                if reason := _too_large(opened):
                    drop(reason)
                    continue
                opened.load()
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            Image.DecompressionBombError,
            SyntaxError,
        ) as error:
            if isinstance(error, Image.DecompressionBombError):
                drop(f"too large to decode safely (more than {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)")
            else:
                drop(f"cannot decode image ({type(error).__name__})")
            continue
        if min(image.size) < settings.min_size:
            drop(f"too small ({image.width}×{image.height} < {settings.min_size} px)")
            continue
        caption = normalise_caption(raw_caption or "")
        if not caption:
            drop("no caption" if raw_caption is None else "empty caption")
            continue
        digest = hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()
        if digest in exact:
            drop(f"exact duplicate of {exact[digest]}")
            continue
        phash = perceptual_hash(image)
        near = next(
            (other for h, other in hashes if bin(h ^ phash).count("1") <= settings.near_duplicate_bits), None
        )
        if near is not None:
            drop(f"near duplicate of {near}")
            continue
        exact[digest] = name
        hashes.append((phash, name))
        target = out / "images" / f"{len(kept):06d}.png"
        center_square(image, settings.size).save(target)
        kept.append(
            {
                "file": name,
                "caption": caption,
                "image": str(target.relative_to(out)),
                "phash": f"{phash:016x}",
            }
        )
    manifest = {
        "folder": str(folder),
        "size": settings.size,
        "kept_count": len(kept),
        "dropped_count": len(dropped),
        "kept": kept,
        "dropped": dropped,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


class FolderPairs:
    """A CLIP ``PairSource`` over a preprocessed folder (identical captions match)."""

    def __init__(self, out: Path) -> None:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        self.captions = [k["caption"] for k in manifest["kept"]]
        self.images = [np.asarray(Image.open(out / k["image"]).convert("RGB")) for k in manifest["kept"]]
        if not self.images:
            raise ValueError(f"no usable image–caption pairs in {manifest['folder']}")

    def batch(self, rng: random.Random, n: int, size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        index = [rng.randrange(len(self.images)) for _ in range(n)]
        images = []
        for i in index:
            image = self.images[i]
            if image.shape[0] != size:
                image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX))
            images.append(image)
        captions = [self.captions[i] for i in index]
        fits = np.array([[a == b for b in captions] for a in captions], dtype=bool)
        return np.stack(images), captions, fits
