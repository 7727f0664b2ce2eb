"""A user's image–caption folder: bad files are reported in the manifest and skipped, never crash."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.training import shapes
from engine.training.folder import (
    MAX_IMAGE_PIXELS,
    FolderPairs,
    load_folder,
    normalise_caption,
    perceptual_hash,
)


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


def test_names_leading_out_of_the_folder_are_dropped_unread(tmp_path: Path) -> None:
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    _scene_image(7).save(src / "inside.png")
    _scene_image(8).save(elsewhere / "private.png")
    _scene_image(9).save(elsewhere / "other.png")
    (src / "link.png").symlink_to(elsewhere / "private.png")
    (src / "sub").mkdir()
    lines = [
        {"file_name": "inside.png", "text": "kept"},
        {"file_name": "../elsewhere/private.png", "text": "climbs out"},
        {"file_name": "sub/../../elsewhere/other.png", "text": "climbs out through a folder"},
        {"file_name": str(elsewhere / "other.png"), "text": "absolute"},
        {"file_name": "link.png", "text": "a link leading out"},
    ]
    (src / "metadata.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    manifest = load_folder(src, tmp_path / "out")

    assert [k["caption"] for k in manifest["kept"]] == ["kept"]
    reasons = [d["reason"] for d in manifest["dropped"]]
    assert len(reasons) == 4 and all(r.startswith("outside the folder") for r in reasons), reasons


def test_a_link_out_of_a_captioned_folder_is_dropped_and_a_relative_folder_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    _scene_image(10).save(src / "own.png")
    (src / "own.txt").write_text("mine")
    _scene_image(11).save(elsewhere / "secret.png")
    (src / "secret.png").symlink_to(elsewhere / "secret.png")
    (src / "secret.txt").write_text("not mine")
    monkeypatch.chdir(elsewhere)  # the folder given as ../src

    manifest = load_folder(Path("..") / "src", tmp_path / "out")

    assert [k["file"] for k in manifest["kept"]] == ["own.png"]
    assert [(d["file"], d["reason"][:18]) for d in manifest["dropped"]] == [
        ("secret.png", "outside the folder")
    ]


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width``×``height`` (a decompression bomb's first bytes)."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (30000, 30000)])
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "bomb.png").write_bytes(_png_declaring(width, height))
    (src / "bomb.txt").write_text("huge")
    _scene_image(12).save(src / "fine.png")
    (src / "fine.txt").write_text("fine")

    manifest = load_folder(src, tmp_path / "out")

    assert [k["file"] for k in manifest["kept"]] == ["fine.png"]
    (bomb,) = manifest["dropped"]
    assert bomb["file"] == "bomb.png" and bomb["reason"].startswith("too large to decode safely"), bomb
    assert width * height > MAX_IMAGE_PIXELS
