"""Each training stage runs a few steps on tiny data, learns (loss falls on a fixed batch) and resumes."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.training import autoencoder, clip, diffusion, shapes
from engine.training.common import to_tensor
from engine.training.tokenizer import write_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> object:
    return write_tokenizer(tmp_path_factory.mktemp("tok"), shapes.vocabulary_words(), max_length=16)


TINY_CLIP = clip.ClipSettings(
    image_size=32,
    hidden=32,
    layers=1,
    heads=2,
    patch=8,
    steps=80,
    batch=48,
    lr=3e-3,
    warmup=5,
    checkpoint_every=40,
)


def test_clip_retrieval_beats_chance_after_a_short_run(tmp_path: Path, tokenizer: object) -> None:
    evaluate = clip.shapes_evaluator(tokenizer, 32, n=24)
    summary = clip.train_clip(tmp_path, tokenizer, TINY_CLIP, evaluate=evaluate, progress=False)
    seen = summary["retrieval"]["seen"]
    assert seen["chance"] == pytest.approx(1 / 24)
    assert seen["image_to_text"] > 3 * seen["chance"] and seen["text_to_image"] > 3 * seen["chance"]
    assert (tmp_path / "final" / "config.json").exists()


def test_clip_loss_falls_on_a_fixed_batch(tokenizer: object) -> None:
    torch.manual_seed(0)
    model = clip.build_clip(len(tokenizer), tokenizer, TINY_CLIP)
    images, captions, fits = clip.ShapesPairs().batch(random.Random(0), 16, 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        img, txt = clip.embed(model, tokenizer, images, captions, 32)
        loss = clip.contrastive_loss(img, txt, model.logit_scale.exp(), torch.from_numpy(fits))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_contrastive_targets_spread_over_every_fitting_caption() -> None:
    scenes = [
        shapes.make_scene("red", "circle", "small", "left", "blue"),
        shapes.make_scene("red", "square", "small", "left", "blue"),
    ]
    captions = ["a red circle", "a red square on the left"]
    fits = clip.fit_matrix(scenes, captions)
    assert fits.tolist() == [[True, False], [False, True]]
    fits = clip.fit_matrix(scenes, ["a red circle", "a small red shape on the left"])
    assert fits[:, 1].all()


def test_clip_training_resumes_from_its_checkpoint(tmp_path: Path, tokenizer: object) -> None:
    settings = clip.ClipSettings(
        image_size=32, hidden=32, layers=1, heads=2, patch=8, steps=4, batch=8, warmup=1, checkpoint_every=2
    )
    clip.train_clip(tmp_path, tokenizer, settings, progress=False)
    longer = clip.ClipSettings(**{**settings.__dict__, "steps": 6})
    summary = clip.train_clip(tmp_path, tokenizer, longer, progress=False)
    assert summary["steps"] == 6
    assert torch.load(tmp_path / "ckpt.pt", weights_only=False)["step"] == 6


TINY_AE = autoencoder.AutoencoderSettings(
    image_size=64, width=8, steps=6, crop=32, batch=4, warmup=1, checkpoint_every=3
)


def test_autoencoder_starts_as_a_pooling_pair_and_improves_on_a_fixed_batch() -> None:
    vae = autoencoder.build_autoencoder(autoencoder.AutoencoderSettings(width=8))
    images = autoencoder.shapes_images(random.Random(0), 4, 128)
    x = to_tensor(images)
    with torch.no_grad():
        latents = vae.encode(x).latents
    pooled = torch.nn.functional.avg_pool2d(x, 8)
    assert latents.shape == (4, 4, 16, 16)
    assert torch.allclose(latents[:, :3], pooled, atol=0.05), "channels 0-2 start as the 8x8 mean colour"
    start = autoencoder.reconstruction_error(vae, images)["mae"]
    assert start < 20
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3)
    crops = autoencoder.random_crops(x, 64, random.Random(1))
    first = last = None
    for _ in range(60):
        loss, _ = autoencoder.reconstruction_loss(vae, crops)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
        last = loss.item()
    assert last < 0.8 * first, "training sharpens the pooled start"


def test_autoencoder_stage_trains_sets_unit_variance_scaling_and_saves(tmp_path: Path) -> None:
    summary = autoencoder.train_autoencoder(tmp_path, TINY_AE, progress=False)
    assert summary["steps"] == 6 and (tmp_path / "final" / "config.json").exists()
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(str(tmp_path / "final"))
    data = autoencoder.encode_dataset(vae, 0, 40, 64, progress=False)
    assert data["latents"].shape == (40, 4, 8, 8) and len(data["scenes"]) == 40
    assert data["latents"].float().std().item() == pytest.approx(1.0, abs=0.25)


def _tiny_latents(n: int = 24) -> diffusion.CaptionedLatents:
    rng = random.Random(0)
    scenes = [shapes.sample_scene(rng) for _ in range(n)]
    images = np.stack([np.asarray(shapes.render(s, 32)) for s in scenes])
    latents = torch.nn.functional.avg_pool2d(to_tensor(images), 4)
    latents = torch.cat([latents, torch.zeros_like(latents[:, :1])], 1)
    return diffusion.CaptionedLatents(
        {
            "latents": latents.half(),
            "scenes": [s.attributes() | {"cx": s.cx, "cy": s.cy, "extent": s.extent} for s in scenes],
        }
    )


TINY_DIFFUSION = diffusion.DiffusionSettings(
    channels=(16, 32),
    heads=2,
    norm_groups=4,
    steps=4,
    batch=8,
    warmup=1,
    checkpoint_every=2,
    snapshot_every=2,
)


def _text_encoder(tokenizer: object) -> object:
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.bos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def test_diffusion_overfits_a_fixed_batch(tokenizer: object) -> None:
    data = _tiny_latents(8)
    settings = diffusion.DiffusionSettings(**{**TINY_DIFFUSION.__dict__, "caption_dropout": 0.0, "lr": 3e-3})
    trainer = diffusion.Trainer(settings, tokenizer, _text_encoder(tokenizer), data)
    clean, captions = data.latents.float(), [shapes.caption(s) for s in data.scenes]
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    timesteps = torch.full((len(clean),), 500)
    noisy = trainer.scheduler.add_noise(clean, noise, timesteps)
    params = list(trainer.unet.parameters()) + list(trainer.text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(40):
        context = trainer.text_encoder(diffusion.tokenize(tokenizer, captions))[0]
        loss = (trainer.unet(noisy, timesteps, encoder_hidden_states=context).sample - noise).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_diffusion_stage_checkpoints_snapshots_and_resumes(tmp_path: Path, tokenizer: object) -> None:
    trainer = diffusion.Trainer(TINY_DIFFUSION, tokenizer, _text_encoder(tokenizer), _tiny_latents())
    summary = diffusion.train(tmp_path, trainer, progress=False)
    assert summary["steps"] == 4
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["step_00002.pt", "step_00004.pt"]
    longer = diffusion.DiffusionSettings(**{**TINY_DIFFUSION.__dict__, "steps": 6})
    resumed = diffusion.Trainer(longer, tokenizer, _text_encoder(tokenizer), _tiny_latents())
    assert diffusion.train(tmp_path, resumed, progress=False)["steps"] == 6
    assert resumed.step_count == 6


def test_caption_dropout_empties_captions_at_the_set_rate(tokenizer: object) -> None:
    data = _tiny_latents()
    _, captions = data.batch(random.Random(0), 400)
    assert all(captions)
    settings = diffusion.DiffusionSettings(**{**TINY_DIFFUSION.__dict__, "caption_dropout": 0.5})
    trainer = diffusion.Trainer(settings, tokenizer, _text_encoder(tokenizer), data)
    seen: list[str] = []
    original = trainer.text_encoder.forward

    def spy(input_ids: torch.Tensor, *args: object, **kwargs: object) -> object:
        seen.extend(tokenizer.batch_decode(input_ids, skip_special_tokens=True))
        return original(input_ids, *args, **kwargs)

    trainer.text_encoder.forward = spy
    for _ in range(6):
        trainer.step()
    empty = sum(1 for text in seen if not text.strip())
    assert 0.25 * len(seen) < empty < 0.75 * len(seen)


def test_clip_similarity_term_runs_and_has_gradient(tokenizer: object) -> None:
    data = _tiny_latents()
    vae = autoencoder.build_autoencoder(autoencoder.AutoencoderSettings(width=8, levels=3))
    clip_model = clip.build_clip(len(tokenizer), tokenizer, TINY_CLIP)
    settings = diffusion.DiffusionSettings(
        **{**TINY_DIFFUSION.__dict__, "clip_weight": 0.5, "clip_samples": 2}
    )
    trainer = diffusion.Trainer(
        settings, tokenizer, _text_encoder(tokenizer), data, clip_model=clip_model, vae=vae
    )
    record = trainer.step()
    assert 0.0 <= record["clip_term"] <= 2.0


def test_decoder_sharpening_keeps_the_encoder_and_so_the_latents(tmp_path: Path) -> None:
    from diffusers import AutoencoderTiny

    autoencoder.train_autoencoder(tmp_path / "ae", TINY_AE, progress=False)
    settings = autoencoder.DecoderSettings(steps=3, image_size=64, crop=32, batch=2, checkpoint_every=3)
    summary = autoencoder.finetune_decoder(
        tmp_path / "ae" / "final", tmp_path / "dec", settings, progress=False
    )
    assert summary["steps"] == 3
    before = AutoencoderTiny.from_pretrained(str(tmp_path / "ae" / "final"))
    after = AutoencoderTiny.from_pretrained(str(tmp_path / "dec" / "final"))
    x = to_tensor(autoencoder.shapes_images(random.Random(3), 2, 64))
    with torch.no_grad():
        assert torch.equal(before.encode(x).latents, after.encode(x).latents)
    assert after.config.scaling_factor == before.config.scaling_factor
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(before.decoder.parameters(), after.decoder.parameters(), strict=True)
    )
    assert changed


def test_v_objective_on_zero_terminal_snr_weighs_the_noisiest_step_and_trains(tokenizer: object) -> None:
    settings = diffusion.DiffusionSettings(
        **{**TINY_DIFFUSION.__dict__, "prediction": "v_prediction", "zero_terminal_snr": True}
    )
    trainer = diffusion.Trainer(settings, tokenizer, _text_encoder(tokenizer), _tiny_latents())
    alphas = trainer.scheduler.alphas_cumprod
    assert alphas[-1].item() == pytest.approx(0.0, abs=1e-6)  # pure noise at t = 999
    everywhere = torch.arange(len(alphas))
    weights = diffusion.v_weights(alphas, everywhere, gamma=5.0)
    assert torch.isfinite(weights).all() and weights[-1].item() == pytest.approx(1.0)
    assert weights[0].item() < 0.01  # the clean end is capped (x₀ error counts γ = 5 times, not 1/(1−ᾱ))
    # The ε objective's Min-SNR weights are undefined at SNR 0, which is why refine switches objective.
    assert not torch.isfinite(diffusion.min_snr_weights(alphas, everywhere[-1:], 5.0)).all()
    records = [trainer.step() for _ in range(3)]
    assert all(np.isfinite(r["loss"]) for r in records)


def test_refine_settings_keep_the_architecture_and_change_the_objective() -> None:
    base = diffusion.DiffusionSettings(channels=(16, 32), heads=2)
    refined = diffusion.DiffusionSettings(**{**base.__dict__, **diffusion.REFINE})
    assert refined.channels == (16, 32) and refined.heads == 2
    assert refined.prediction == "v_prediction" and refined.zero_terminal_snr
    assert diffusion.noise_scheduler_config(refined)["rescale_betas_zero_snr"] is True
