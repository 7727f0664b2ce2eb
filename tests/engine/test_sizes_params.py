"""Pure mappings: aspect ratio → size, quality → steps, stylize → guidance, source fitting."""

from __future__ import annotations

import pytest

from engine.errors import InvalidRequest
from engine.local.params import STRENGTHS, guidance_for, img2img_steps, steps_for
from engine.local.sizes import check_explicit_size, fit_source, size_for_aspect


@pytest.mark.parametrize("native", [64, 512, 1024])
@pytest.mark.parametrize("multiple", [8, 64])
@pytest.mark.parametrize("aspect", [(1, 1), (3, 2), (2, 3), (16, 9), (9, 16), (4, 1), (1, 4), (7, 5)])
def test_sizes_stay_within_budget_on_the_grid(native: int, multiple: int, aspect: tuple[int, int]) -> None:
    width, height = size_for_aspect(aspect, native=native, multiple=multiple)
    assert width % multiple == 0 and height % multiple == 0
    assert width * height <= native * native
    if native >= 512:
        assert width * height >= 0.8 * native * native
        assert abs(width / height - aspect[0] / aspect[1]) / (aspect[0] / aspect[1]) < 0.12
    if native // multiple >= 4:
        assert (width >= height) == (aspect[0] >= aspect[1])


def test_known_sizes() -> None:
    assert size_for_aspect((1, 1), native=512, multiple=8) == (512, 512)
    assert size_for_aspect((3, 2), native=512, multiple=8) == (624, 416)
    assert size_for_aspect((3, 2), native=64, multiple=8) == (72, 48)


@pytest.mark.parametrize("aspect", [(5, 1), (1, 5), (0, 1), (41, 10)])
def test_absurd_ratios_are_refused(aspect: tuple[int, int]) -> None:
    with pytest.raises(InvalidRequest, match="aspect ratio"):
        size_for_aspect(aspect, native=512, multiple=8)


def test_explicit_sizes_are_checked() -> None:
    assert check_explicit_size(96, 32, native=64, multiple=8) == (96, 32)
    with pytest.raises(InvalidRequest, match="width must be a multiple of 8"):
        check_explicit_size(100, 64, native=64, multiple=8)
    with pytest.raises(InvalidRequest, match="aspect ratio"):
        check_explicit_size(256, 8, native=64, multiple=8)


def test_sources_are_fitted_and_scaled() -> None:
    assert fit_source(72, 48, native=64, multiple=8) == (72, 48)
    assert fit_source(72, 48, native=64, multiple=8, scale=2) == (144, 96)
    width, height = fit_source(3000, 2000, native=512, multiple=8)
    assert width * height <= 520 * 520 and width > height
    with pytest.raises(InvalidRequest):
        fit_source(1000, 10, native=512, multiple=8)


def test_quality_and_explicit_steps() -> None:
    assert steps_for(30, steps=None, quality=1.0) == 30
    assert steps_for(30, steps=None, quality=0.5) == 15
    assert steps_for(30, steps=None, quality=0.25) == 8
    assert steps_for(2, steps=None, quality=0.25) == 1
    assert steps_for(30, steps=12, quality=0.25) == 12
    with pytest.raises(InvalidRequest):
        steps_for(30, steps=151)


def test_stylize_maps_onto_guidance_monotonically() -> None:
    values = [guidance_for(7.5, guidance=None, stylize=s) for s in (0, 50, 100, 250, 500, 1000)]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert values[0] == pytest.approx(3.0) and values[2] == 7.5 and values[-1] == 15.0
    assert guidance_for(7.5, guidance=2.0, stylize=1000) == 2.0


def test_img2img_runs_about_the_default_number_of_steps() -> None:
    for strength in STRENGTHS.values():
        scheduled = img2img_steps(20, steps=None, strength=strength)
        assert 20 <= int(scheduled * strength) <= 21
