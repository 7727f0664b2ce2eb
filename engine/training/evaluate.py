"""Evaluate a model on a fixed prompt set of seen and held-out colour–shape pairs.

Each prompt makes four tiles in one pipeline call (seeds ``seed … seed+3``, as the engine does). The pixel
judge scores every attribute the prompt mentions; CLIP score is 100 × the cosine between the trained CLIP's
image and text embeddings. Writes a JSON report and a contact sheet (one row of tiles per prompt).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from engine.training import judge, shapes
from engine.training.common import write_json

TILES = 4


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    group: str  # "seen" | "held_out"
    seed: int


def prompt_set(n_seen: int = 16, n_held: int = 12, seed: int = 2024) -> list[Prompt]:
    """A fixed mix of full and partial captions; held-out prompts cycle through every held-out pair."""
    rng = random.Random(seed)
    styles = [shapes.FULL, shapes.FULL, shapes.CaptionStyle(0.5, 0.5, 0.5)]
    prompts = []
    for i in range(n_seen):
        scene = shapes.sample_scene(rng, pairs="train")
        prompts.append(Prompt(shapes.caption(scene, rng, styles[i % 3]), "seen", 1000 + 10 * i))
    held = sorted(shapes.HELD_OUT_PAIRS)
    for i in range(n_held):
        colour, shape = held[i % len(held)]
        background = rng.choice([c for c in shapes.BACKGROUND_COLOURS if c != colour])
        scene = shapes.make_scene(
            colour, shape, rng.choice(shapes.SIZES), rng.choice(list(shapes.POSITIONS)), background
        )
        prompts.append(Prompt(shapes.caption(scene, rng, styles[i % 3]), "held_out", 5000 + 10 * i))
    return prompts


def generate(
    pipe: Any, prompt: str, seed: int, *, steps: int, guidance: float, size: int
) -> list[np.ndarray]:
    """Four tiles of ``prompt`` in one batched call, tile i seeded ``seed + i``."""
    generators = [torch.Generator().manual_seed(seed + i) for i in range(TILES)]
    with torch.no_grad():
        result = pipe(
            prompt,
            num_images_per_prompt=TILES,
            generator=generators,
            num_inference_steps=steps,
            guidance_scale=guidance,
            height=size,
            width=size,
            output_type="np",
        )
    return [(np.clip(im, 0, 1) * 255).round().astype(np.uint8) for im in result.images]


def clip_scores(clip_model: Any, tokenizer: Any, images: list[np.ndarray], text: str) -> list[float]:
    from engine.training.clip import embed

    size = clip_model.config.vision_config.image_size
    with torch.no_grad():
        img, txt = embed(clip_model, tokenizer, np.stack(images), [text], size)
    return (100 * (img @ txt.t())[:, 0]).tolist()


def evaluate_pipeline(
    pipe: Any,
    *,
    steps: int,
    guidance: float,
    size: int = 128,
    prompts: list[Prompt] | None = None,
    clip_model: Any | None = None,
    sheet_path: Path | None = None,
) -> dict[str, Any]:
    """Judge (and CLIP-score) ``pipe`` on ``prompts``; return the report (and save a contact sheet)."""
    prompts = prompts or prompt_set()
    rows, sheet_rows = [], []
    started = time.perf_counter()
    for prompt in prompts:
        tiles = generate(pipe, prompt.text, prompt.seed, steps=steps, guidance=guidance, size=size)
        mentioned = shapes.parse_caption(prompt.text)
        scores = clip_scores(clip_model, pipe.tokenizer, tiles, prompt.text) if clip_model is not None else []
        tile_rows: list[dict[str, Any]] = []
        for i, tile in enumerate(tiles):
            reading = judge.read(tile)
            marks = judge.score(reading, mentioned)
            tile_rows.append(
                {
                    "seed": prompt.seed + i,
                    "read": reading.attributes(),
                    "right": marks,
                    "all_right": all(marks.values()),
                    "clip_score": scores[i] if scores else None,
                }
            )
        rows.append(
            {"prompt": prompt.text, "group": prompt.group, "mentioned": mentioned, "tiles": tile_rows}
        )
        sheet_rows.append((prompt.text, tiles, [bool(t["all_right"]) for t in tile_rows]))
    report = {
        "steps": steps,
        "guidance": guidance,
        "seconds": round(time.perf_counter() - started, 1),
        "groups": {
            group: summarise([r for r in rows if r["group"] == group]) for group in ("seen", "held_out")
        },
        "prompts": rows,
    }
    report["overall"] = summarise(rows)
    if sheet_path is not None:
        contact_sheet(sheet_rows).save(sheet_path)
    return report


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tiles = [t for r in rows for t in r["tiles"]]
    if not tiles:
        return {"tiles": 0, "all_right": 0.0, "attributes": {}, "clip_score": 0.0}
    attributes: dict[str, float] = {}
    for name in shapes.ATTRIBUTES:
        marks = [t["right"][name] for t in tiles if name in t["right"]]
        if marks:
            attributes[name] = sum(marks) / len(marks)
    clip = [t["clip_score"] for t in tiles if t["clip_score"] is not None]
    return {
        "tiles": len(tiles),
        "all_right": sum(t["all_right"] for t in tiles) / len(tiles),
        "attributes": attributes,
        "clip_score": float(np.mean(clip)) if clip else 0.0,
    }


def contact_sheet(
    rows: list[tuple[str, list[np.ndarray], list[bool]]], label_width: int = 330
) -> Image.Image:
    """One row per prompt: its text, then the tiles, each framed green (all right) or red."""
    size = rows[0][1][0].shape[0]
    pad = 4
    sheet = Image.new(
        "RGB", (label_width + len(rows[0][1]) * (size + pad), len(rows) * (size + pad)), "white"
    )
    draw = ImageDraw.Draw(sheet)
    for r, (text, tiles, right) in enumerate(rows):
        y = r * (size + pad)
        words, line, lines = text.split(), "", []
        for word in words:
            if len(line) + len(word) > 48:
                lines.append(line)
                line = ""
            line = f"{line} {word}".strip()
        lines.append(line)
        for k, piece in enumerate(lines):
            draw.text((6, y + 8 + 14 * k), piece, fill="black")
        for i, (tile, ok) in enumerate(zip(tiles, right, strict=True)):
            x = label_width + i * (size + pad)
            draw.rectangle((x - 2, y, x + size + 1, y + size + 1), outline="green" if ok else "red", width=2)
            sheet.paste(Image.fromarray(tile), (x, y + 1))
    return sheet


def load_clip(path: Path) -> Any:
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(str(path), dtype=torch.float32).eval()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The ``evaluate`` stage: the exported model (or ``--model``), or a diffusion ``--checkpoint``."""
    from engine.training.export import SETTINGS_FILE, build_pipeline, load_snapshot, model_card

    runs: Path = args.runs
    if args.checkpoint is not None:
        snapshot = load_snapshot(args.checkpoint)
        pipe = build_pipeline(runs, snapshot)
        from engine.training.export import DEFAULT_STEPS, default_guidance, snapshot_settings

        report = evaluate_pipeline(
            pipe,
            steps=DEFAULT_STEPS,
            guidance=default_guidance(snapshot_settings(snapshot)),
            prompts=prompt_set(8, 6),
            clip_model=load_clip(runs / "clip" / "final"),
        )
        entry = {
            "stage": "refine" if snapshot["settings"].get("zero_terminal_snr") else "diffusion",
            "step": snapshot["step"],
            "train_seconds": snapshot["elapsed"],
            **{g: report["groups"][g] for g in ("seen", "held_out")},
        }
        with (runs / "curve.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        return entry
    from diffusers import StableDiffusionPipeline

    model_dir: Path = args.model or args.out
    pipe = StableDiffusionPipeline.from_pretrained(str(model_dir), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    defaults = json.loads((model_dir / SETTINGS_FILE).read_text())
    clip_dir = model_dir / "clip" if (model_dir / "clip").exists() else runs / "clip" / "final"
    report = evaluate_pipeline(
        pipe,
        steps=defaults["default_steps"],
        guidance=defaults["default_guidance"],
        size=defaults["native_size"],
        clip_model=load_clip(clip_dir),
        sheet_path=model_dir / "evaluation.png",
    )
    write_json(model_dir / "evaluation.json", report)
    info_path = runs / "export_info.json"
    if info_path.exists() and args.model is None:
        info = json.loads(info_path.read_text())
        (model_dir / "README.md").write_text(model_card(info, report), encoding="utf-8")
    return {g: report["groups"][g] for g in ("seen", "held_out")} | {"seconds": report["seconds"]}
