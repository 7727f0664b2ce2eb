"""Export → a standard diffusers folder that loads offline and makes images; evaluation writes its report."""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.training import autoencoder, clip, diffusion, evaluate, export, shapes
from engine.training.tokenizer import write_tokenizer


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs directory holding every stage's output at tiny sizes (a few training steps each)."""
    runs = tmp_path_factory.mktemp("runs")
    tokenizer = write_tokenizer(runs / "tokenizer", shapes.vocabulary_words(), max_length=16)
    clip_settings = clip.ClipSettings(
        image_size=32, hidden=32, layers=1, heads=2, patch=8, steps=2, batch=8, warmup=1, checkpoint_every=2
    )
    clip.train_clip(runs / "clip", tokenizer, clip_settings, progress=False)
    ae_settings = autoencoder.AutoencoderSettings(width=8, steps=2, batch=2, warmup=1, checkpoint_every=2)
    autoencoder.train_autoencoder(runs / "autoencoder", ae_settings, progress=False)
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(str(runs / "autoencoder" / "final"))
    data = autoencoder.encode_dataset(vae, 0, 16, 128, progress=False)
    torch.save(data, runs / "latents.pt")
    latents = diffusion.CaptionedLatents(data)
    settings = diffusion.DiffusionSettings(
        channels=(16, 32),
        heads=2,
        norm_groups=4,
        steps=2,
        batch=4,
        warmup=1,
        checkpoint_every=2,
        snapshot_every=2,
    )
    text_encoder = diffusion.text_encoder_from_clip(runs / "clip" / "final")
    diffusion.train(
        runs / "diffusion", diffusion.Trainer(settings, tokenizer, text_encoder, latents), progress=False
    )
    return runs


def _args(runs: Path, out: Path, **extra: object) -> argparse.Namespace:
    values = {
        "runs": runs,
        "out": out,
        "checkpoint": None,
        "model": None,
        "steps": None,
        "minutes": None,
        "quiet": True,
        "init_from": None,
    }
    return argparse.Namespace(**(values | extra))


def test_export_writes_a_standard_pipeline_folder_that_loads_offline(tiny_runs: Path, tmp_path: Path) -> None:
    from diffusers import StableDiffusionPipeline

    out = tmp_path / "model"
    result = export.run(_args(tiny_runs, out))
    index = json.loads((out / "model_index.json").read_text())
    assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]
    assert index["vae"] == ["diffusers", "AutoencoderTiny"]
    assert {
        "unet/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "README.md",
        "imaginebot.json",
        "tokenizer/vocab.json",
        "scheduler/scheduler_config.json",
    } <= set(result["files"])
    defaults = json.loads((out / "imaginebot.json").read_text())
    assert defaults == {
        "native_size": 128,
        "default_steps": export.DEFAULT_STEPS,
        "default_guidance": export.EPSILON_GUIDANCE,  # an ε-prediction model
    }
    assert "## Training" in (out / "README.md").read_text()

    pipe = StableDiffusionPipeline.from_pretrained(str(out), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8
    images = pipe(
        "a red circle",
        num_images_per_prompt=2,
        num_inference_steps=2,
        height=64,
        width=64,
        generator=[torch.Generator().manual_seed(i) for i in range(2)],
        output_type="np",
    ).images
    assert images.shape == (2, 64, 64, 3) and np.isfinite(images).all()


def test_refine_continues_the_diffusion_weights_and_exports_a_v_prediction_pipeline(
    tiny_runs: Path, tmp_path: Path
) -> None:
    from diffusers import StableDiffusionPipeline

    runs = tmp_path / "runs"
    shutil.copytree(tiny_runs, runs)
    summary = diffusion.run(_args(runs, tmp_path / "unused", steps=2), stage="refine")
    assert summary["steps"] == 2 and summary["started_from"] == "diffusion stage step 2"
    assert summary["settings"]["prediction"] == "v_prediction"
    assert list(summary["settings"]["channels"]) == [16, 32]  # the diffusion stage's architecture

    (runs / "notes.md").write_text("What the curve shows.\n", encoding="utf-8")
    out = tmp_path / "model"
    result = export.run(_args(runs, out))
    assert result["snapshot"].endswith("refine/final.pt")
    config = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert config["prediction_type"] == "v_prediction" and config["rescale_betas_zero_snr"] is True
    assert config["num_train_timesteps"] == 1000 and config.get("trained_betas") is None
    card = (out / "README.md").read_text()
    assert "Refinement (v-prediction" in card and "v-prediction on the same betas" in card
    assert "What the curve shows." in card
    assert json.loads((out / "imaginebot.json").read_text())["default_guidance"] == export.DEFAULT_GUIDANCE

    pipe = StableDiffusionPipeline.from_pretrained(str(out), torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler.set_timesteps(4)
    assert int(pipe.scheduler.timesteps[0]) == 999  # sampling starts from pure noise
    images = pipe("a red circle", num_inference_steps=3, height=64, width=64, output_type="np").images
    assert np.isfinite(images).all()


def test_evaluate_writes_report_contact_sheet_and_scores_the_card(tiny_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    export.run(_args(tiny_runs, out))
    settings = json.loads((out / "imaginebot.json").read_text())
    settings["default_steps"] = 2
    (out / "imaginebot.json").write_text(json.dumps(settings))
    prompts = evaluate.prompt_set(2, 1)
    original = evaluate.prompt_set
    evaluate.prompt_set = lambda *a, **k: prompts  # type: ignore[assignment]
    try:
        summary = evaluate.run(_args(tiny_runs, out))
    finally:
        evaluate.prompt_set = original  # type: ignore[assignment]
    report = json.loads((out / "evaluation.json").read_text())
    assert report["groups"]["seen"]["tiles"] == 8 and report["groups"]["held_out"]["tiles"] == 4
    assert 0.0 <= summary["seen"]["all_right"] <= 1.0
    assert (out / "evaluation.png").exists()
    assert "## Evaluation" in (out / "README.md").read_text()


def test_the_fixed_prompt_set_covers_seen_and_every_held_out_pair() -> None:
    prompts = evaluate.prompt_set()
    assert prompts == evaluate.prompt_set(), "fixed"
    held = [p for p in prompts if p.group == "held_out"]
    pairs = {(shapes.parse_caption(p.text)["colour"], shapes.parse_caption(p.text)["shape"]) for p in held}
    assert pairs == set(shapes.HELD_OUT_PAIRS)
    for p in prompts:
        mentioned = shapes.parse_caption(p.text)
        assert shapes.is_held_out(mentioned["colour"], mentioned["shape"]) == (p.group == "held_out")


def test_judging_the_procedural_renderer_as_a_model_scores_perfectly() -> None:
    """The evaluation's bookkeeping, checked with a 'model' that renders the prompt exactly."""

    class Renderer:
        tokenizer = None

        def __call__(self, prompt: str, **kwargs: object) -> object:
            mentioned = shapes.parse_caption(prompt)
            rng = random.Random(0)
            images = []
            for _ in range(4):
                scene = shapes.sample_scene(rng, pairs="all")
                while not shapes.scene_matches(scene, mentioned):
                    scene = shapes.sample_scene(rng, pairs="all")
                images.append(np.asarray(shapes.render(scene)) / 255.0)
            return argparse.Namespace(images=images)

    report = evaluate.evaluate_pipeline(Renderer(), steps=1, guidance=1.0, prompts=evaluate.prompt_set(3, 3))
    assert report["overall"]["all_right"] == 1.0
    assert set(report["overall"]["attributes"]) == set(shapes.ATTRIBUTES)
