"""The torch-free boundary, the tiny model folder, and the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine import cli

ROOT = Path(__file__).resolve().parents[2]


def test_public_api_and_factory_do_not_import_torch() -> None:
    code = (
        "import sys, engine.api, engine.prompt, engine.errors, engine.factory, engine.local\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_tiny_model_is_a_diffusers_folder_with_its_own_tokenizer(tiny_model: Path) -> None:
    from transformers import CLIPTokenizer

    index = json.loads((tiny_model / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= index.keys()
    assert json.loads((tiny_model / "imaginebot.json").read_text())["native_size"] == 64
    size = sum(f.stat().st_size for f in tiny_model.rglob("*") if f.is_file())
    assert size < 5_000_000
    tokenizer = CLIPTokenizer.from_pretrained(str(tiny_model / "tokenizer"))
    ids = tokenizer("the red circle").input_ids
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert len(ids) < len("the red circle") + 2  # merges apply
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == "the red circle"


def test_tiny_model_is_deterministic_per_seed(tmp_path: Path, tiny_model: Path) -> None:
    from engine.tiny import build_tiny_model

    again = build_tiny_model(tmp_path / "again", seed=0)
    name = "unet/diffusion_pytorch_model.safetensors"
    assert (again / name).read_bytes() == (tiny_model / name).read_bytes()


def test_cli_imagine_writes_the_grid_and_tiles(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "grid.png"
    args = ["imagine", "a red circle --ar 3:2 --seed 7", "-o", str(output), "--tiles"]
    code = cli.main([*args, "--model", str(tiny_model), "--threads", "1", "--quiet"])
    assert code == 0
    assert Image.open(output).size == (144, 96)
    assert Image.open(tmp_path / "grid_3.png").size == (72, 48)
    out = capsys.readouterr().out
    assert "seeds 7, 8, 9, 10" in out

    common = ["--model", str(tiny_model), "--quiet", "--prompt", "a red circle"]
    tile = str(tmp_path / "grid_3.png")
    varied = tmp_path / "varied.png"
    code = cli.main(["vary", tile, "--strength", "subtle", "--seed", "3", "-o", str(varied), *common])
    assert code == 0 and Image.open(varied).size == (144, 96)
    big = tmp_path / "big.png"
    code = cli.main(["upscale", tile, "-o", str(big), *common])
    assert code == 0 and Image.open(io.BytesIO(big.read_bytes())).size == (144, 96)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["imagine", "a red circle --ar 9:1"], "`--ar` must be between"),
        (["imagine", "--seed 3"], "prompt is empty"),
        (["imagine", "a cat --frobnicate 2"], "Unknown parameter `--frobnicate`"),
        (["upscale", "/definitely/missing.png", "--prompt", "x"], "Cannot read"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = cli.main([*args, "-o", str(tmp_path / "x.png"), "--model", str(tiny_model), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "x.png").exists()


def test_cli_corrupt_tile_is_a_clear_error(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    code = cli.main(["vary", str(bad), "-o", str(tmp_path / "v.png"), "--model", str(tiny_model), "--quiet"])
    assert code == 2
    assert "could not be read" in capsys.readouterr().err
