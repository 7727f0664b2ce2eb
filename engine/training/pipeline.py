"""The stages of ``python -m engine.training`` and the files each one reads and writes under ``--runs``.

runs/<name>/tokenizer/        data: the tokenizer (every caption word one token) + a preview sheet
runs/<name>/clip/final/       clip: the contrastive CLIP model; clip/summary.json
runs/<name>/autoencoder/final autoencoder: the AutoencoderTiny with its scaling factor; summary.json
runs/<name>/latents.pt        latents: the training set encoded once by the autoencoder
runs/<name>/decoder/final     decoder: the autoencoder with a sharpened decoder (same encoder)
runs/<name>/diffusion/        diffusion: ckpt.pt (resumable), log.jsonl, snapshots/step_*.pt, summary.json
runs/<name>/refine/           refine: the same files, v-prediction on zero-terminal-SNR betas from diffusion
--out                         export: the diffusers StableDiffusionPipeline folder with its model card
--out/evaluation.json         evaluate: judge + CLIP scores and a contact sheet
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.training import STAGE_ORDER, shapes
from engine.training.common import read_checkpoint, set_threads, write_json

log = logging.getLogger(__name__)

LATENT_COUNT = 8_000
LATENT_SEED = 3


def run_stage(stage: str, args: argparse.Namespace) -> Any:
    set_threads(args.threads)
    runs: Path = args.runs
    runs.mkdir(parents=True, exist_ok=True)
    if stage == "all":
        results = {}
        for name in STAGE_ORDER:
            log.info("stage %s", name)
            results[name] = run_stage(name, args)
        return results
    return {
        "data": stage_data,
        "clip": stage_clip,
        "autoencoder": stage_autoencoder,
        "latents": stage_latents,
        "diffusion": stage_diffusion,
        "refine": stage_refine,
        "decoder": stage_decoder,
        "export": stage_export,
        "evaluate": stage_evaluate,
    }[stage](args)


def load_tokenizer(runs: Path) -> Any:
    from transformers import CLIPTokenizer

    directory = runs / "tokenizer"
    if not (directory / "vocab.json").exists():
        stage_data_tokenizer(runs)
    return CLIPTokenizer.from_pretrained(str(directory))


def stage_data_tokenizer(runs: Path) -> Any:
    from engine.training.tokenizer import write_tokenizer

    return write_tokenizer(runs / "tokenizer", shapes.vocabulary_words())


def stage_data(args: argparse.Namespace) -> dict[str, Any]:
    runs: Path = args.runs
    if args.data is not None:
        from engine.training.folder import load_folder

        manifest = load_folder(args.data, runs / "folder")
        return {
            "folder": str(args.data),
            "kept": manifest["kept_count"],
            "dropped": manifest["dropped_count"],
        }
    tokenizer = stage_data_tokenizer(runs)
    rng = random.Random(0)
    scenes = [shapes.sample_scene(rng) for _ in range(16)]
    sheet = Image.new("RGB", (4 * 128, 4 * 128))
    for i, scene in enumerate(scenes):
        sheet.paste(shapes.render(scene), ((i % 4) * 128, (i // 4) * 128))
    sheet.save(runs / "data_preview.png")
    captions = [shapes.caption(s, rng, shapes.CaptionStyle()) for s in scenes]
    (runs / "data_preview.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    return {"vocab_size": len(tokenizer), "preview": str(runs / "data_preview.png"), "captions": captions[:4]}


def stage_clip(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import clip

    runs: Path = args.runs
    summary_path = runs / "clip" / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    tokenizer = load_tokenizer(runs)
    settings = clip.ClipSettings()
    if args.steps:
        settings = dataclasses.replace(settings, steps=args.steps)
    summary = clip.train_clip(
        runs / "clip",
        tokenizer,
        settings,
        evaluate=clip.shapes_evaluator(tokenizer, settings.image_size),
        progress=not args.quiet,
    )
    write_json(summary_path, summary)
    return summary


def stage_autoencoder(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import autoencoder

    runs: Path = args.runs
    summary_path = runs / "autoencoder" / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    settings = autoencoder.AutoencoderSettings()
    if args.steps:
        settings = dataclasses.replace(settings, steps=args.steps)
    summary = autoencoder.train_autoencoder(runs / "autoencoder", settings, progress=not args.quiet)
    write_json(summary_path, summary)
    return summary


def stage_decoder(args: argparse.Namespace) -> dict[str, Any]:
    """Sharpen the decoder (encoder fixed, so the latents the UNet learned are unchanged)."""
    from engine.training import autoencoder

    runs: Path = args.runs
    summary_path = runs / "decoder" / "summary.json"
    if summary_path.exists():
        return json.loads(summary_path.read_text())
    settings = autoencoder.DecoderSettings()
    if args.steps:
        settings = dataclasses.replace(settings, steps=args.steps)
    summary = autoencoder.finetune_decoder(
        runs / "autoencoder" / "final", runs / "decoder", settings, progress=not args.quiet
    )
    write_json(summary_path, summary)
    return summary


def autoencoder_dir(runs: Path) -> Path:
    """The autoencoder to export: the sharpened decoder's if that stage ran."""
    sharpened = runs / "decoder" / "final"
    return sharpened if (sharpened / "config.json").exists() else runs / "autoencoder" / "final"


def stage_latents(args: argparse.Namespace) -> dict[str, Any]:
    from diffusers import AutoencoderTiny

    from engine.training import autoencoder

    runs: Path = args.runs
    path = runs / "latents.pt"
    if not path.exists():
        vae = AutoencoderTiny.from_pretrained(str(runs / "autoencoder" / "final"))
        data = autoencoder.encode_dataset(vae, LATENT_SEED, LATENT_COUNT, 128, progress=not args.quiet)
        tmp = path.with_suffix(".tmp")
        torch.save(data, tmp)
        tmp.replace(path)
    data = read_checkpoint(path)
    latents = data["latents"].float()
    return {
        "count": len(data["scenes"]),
        "shape": list(latents.shape[1:]),
        "mean": latents.mean().item(),
        "std": latents.std().item(),
    }


def stage_diffusion(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import diffusion

    return diffusion.run(args)


def stage_refine(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import diffusion

    return diffusion.run(args, stage="refine")


def stage_export(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import export

    return export.run(args)


def stage_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.training import evaluate

    return evaluate.run(args)


def preview_sheet(images: list[np.ndarray], columns: int) -> Image.Image:
    size = images[0].shape[0]
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * size, rows * size), (255, 255, 255))
    for i, image in enumerate(images):
        sheet.paste(Image.fromarray(image), ((i % columns) * size, (i // columns) * size))
    return sheet
