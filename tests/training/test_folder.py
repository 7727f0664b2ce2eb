"""A user's image–caption folder: bad files are reported in the manifest and skipped, never crash."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from engine.training import shapes
from engine.training.folder import FolderPairs, load_folder, normalise_caption, perceptual_hash


def _scene_image(seed: int, size: int = 96) -> Image.Image:
    return shapes.render(shapes.sample_scene(random.Random(seed)), size)


def test_bad_files_are_reported_and_good_ones_kept(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _scene_image(1).save(src / "good.png")
    (src / "good.txt").write_text("  A red\tcircle \n on blue ")
    _scene_image(2).convert("RGB").resize((160, 120)).save(src / "wide.jpg", quality=95)
    (src / "wide.txt").write_text("a wide picture")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    (src / "corrupt.txt").write_text("broken")
    truncated = (src / "good.png").read_bytes()[:200]
    (src / "truncated.png").write_bytes(truncated)
    (src / "truncated.txt").write_text("cut short")
    Image.new("RGB", (20, 20), "red").save(src / "tiny.png")
    (src / "tiny.txt").write_text("too small")
    (src / "z_copy.png").write_bytes((src / "good.png").read_bytes())
    (src / "z_copy.txt").write_text("the same picture again")
    _scene_image(1).save(src / "z_recompressed.jpg", quality=70)
    (src / "z_recompressed.txt").write_text("the same picture, re-encoded")
    _scene_image(3).save(src / "uncaptioned.png")
    _scene_image(4).save(src / "blank_caption.png")
    (src / "blank_caption.txt").write_text(" \n ")

    manifest = load_folder(src, tmp_path / "out")

    reasons = {d["file"]: d["reason"] for d in manifest["dropped"]}
    assert reasons["corrupt.png"].startswith("cannot decode")
    assert reasons["truncated.png"].startswith("cannot decode")
    assert reasons["tiny.png"].startswith("too small")
    assert reasons["z_copy.png"] == "exact duplicate of good.png"
    assert reasons["z_recompressed.jpg"] == "near duplicate of good.png"
    assert reasons["uncaptioned.png"] == "no caption"
    assert reasons["blank_caption.png"] == "empty caption"
    kept = {k["file"]: k for k in manifest["kept"]}
    assert set(kept) == {"good.png", "wide.jpg"}
    assert kept["good.png"]["caption"] == "A red circle on blue"
    for entry in kept.values():
        with Image.open(tmp_path / "out" / entry["image"]) as image:
            assert image.size == (128, 128) and image.mode == "RGB"
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["kept_count"] == 2 and on_disk["dropped_count"] == 7


def test_metadata_jsonl_with_bad_lines_and_missing_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _scene_image(5).save(src / "a.png")
    _scene_image(6).save(src / "b.png")
    lines = [
        json.dumps({"file_name": "a.png", "text": "first"}),
        "{not json",
        json.dumps({"file_name": "missing.png", "text": "gone"}),
        json.dumps({"text": "no file name"}),
        json.dumps({"file_name": "b.png", "text": "second"}),
    ]
    (src / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    manifest = load_folder(src, tmp_path / "out")
    assert [k["caption"] for k in manifest["kept"]] == ["first", "second"]
    reasons = sorted(d["reason"] for d in manifest["dropped"])
    assert reasons == ["file not found", "unreadable metadata line", "unreadable metadata line"]


def test_folder_pairs_feed_clip_batches(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i, text in enumerate(["one", "two", "one"]):
        _scene_image(10 + i).save(src / f"{i}.png")
        (src / f"{i}.txt").write_text(text)
    load_folder(src, tmp_path / "out")
    images, captions, fits = FolderPairs(tmp_path / "out").batch(random.Random(0), 6, 32)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    assert fits.tolist() == [[a == b for b in captions] for a in captions]


def test_caption_normalisation_and_perceptual_hash() -> None:
    assert normalise_caption("ｆｕｌｌ\u200bwidth\x00 text\n\n") == "full width text"
    a, b = _scene_image(20), _scene_image(21)
    assert perceptual_hash(a) == perceptual_hash(a.resize((80, 80)).resize((96, 96)))
    assert bin(perceptual_hash(a) ^ perceptual_hash(b)).count("1") > 4
