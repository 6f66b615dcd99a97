"""Batch augmentation: config parsing, determinism per generator, independent draws per modality, and what
each op does (exact flips, CLAHE round trip through the normalisation, hue-preserving RGB CLAHE)."""

from __future__ import annotations

from typing import Any

import kornia
import pytest
import torch

from mmdiag.data.augment import RandomCLAHE, RandomElastic, RandomRotation, RandomTranslate, build_augment

torch.set_num_threads(1)

B, S = 8, 32
MEAN = {"path": [0.5, 0.4, 0.3], "organ": [0.45]}
STD = {"path": [0.25, 0.2, 0.2], "organ": [0.22]}
FULL = {
    "hflip": 0.5,
    "vflip": 0.5,
    "translate_px": 4,
    "rotate_deg": 10,
    "clahe": {"clip_limit": 2.0, "grid": 4},
    "elastic": {"p": 0.5},
}


def _images(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"path": torch.randn(B, 3, S, S, generator=g), "organ": torch.randn(B, 1, S, S, generator=g)}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _changed(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per-sample: did the augment alter this image?"""
    return (before - after).flatten(1).abs().amax(1) > 1e-6


@pytest.mark.parametrize("cfg", [None, {}, {"hflip": 0.0}, {"rotate_deg": 0}, {"translate_px": 0}])
def test_nothing_enabled_gives_none(cfg: dict[str, Any] | None) -> None:
    assert build_augment(cfg) is None


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown augment keys"):
        build_augment({"hflipp": 0.5})
    with pytest.raises(ValueError, match="mean and std"):
        build_augment({"clahe": True})
    with pytest.raises(ValueError, match="probability"):
        build_augment({"elastic": {"p": 1.5}})
    with pytest.raises(ValueError, match="whole number"):
        build_augment({"translate_px": 2.5})
    with pytest.raises(ValueError, match="padding_mode"):
        build_augment({"translate_px": 2, "padding_mode": "wrap"})
    with pytest.raises(ValueError, match="smaller than the image"):
        RandomTranslate(8)(torch.zeros(1, 1, 8, 8), _gen(0), "x")


def test_deterministic_given_generator() -> None:
    aug = build_augment(FULL, MEAN, STD)
    x = _images()
    first, again, other = aug(x, _gen(1)), aug(x, _gen(1)), aug(x, _gen(2))
    for m in x:
        assert first[m].shape == x[m].shape and first[m].dtype == x[m].dtype
        assert torch.isfinite(first[m]).all()
        assert torch.equal(first[m], again[m])
        assert not torch.equal(first[m], other[m])


def test_modalities_draw_independent_parameters() -> None:
    """Same pixels in two modalities get different transforms (the modalities are not aligned views)."""
    aug = build_augment({"hflip": 0.5, "rotate_deg": 10})
    same = torch.randn(B, 1, S, S, generator=_gen(0))
    out = aug({"a": same, "b": same.clone()}, _gen(3))
    assert not torch.allclose(out["a"], out["b"])


def test_flip_is_exact_and_per_sample() -> None:
    x = _images()["path"]
    assert torch.equal(build_augment({"hflip": 1.0})({"path": x}, _gen(0))["path"], x.flip(-1))
    assert torch.equal(build_augment({"vflip": 1.0})({"path": x}, _gen(0))["path"], x.flip(-2))
    big = torch.randn(64, 1, 8, 8, generator=_gen(1))
    flipped = _changed(big, build_augment({"hflip": 0.5})({"x": big}, _gen(0))["x"])
    assert 0 < int(flipped.sum()) < 64


def test_translation_is_a_whole_pixel_shift_per_sample() -> None:
    """Each sample is its own image moved by (dy, dx) in [-m, m]: the pixels that stay inside are exact copies,
    the offsets differ between samples, and reflection fills the uncovered border from the image itself."""
    m = 3
    x = torch.randn(64, 2, S, S, generator=_gen(0))
    out = RandomTranslate(m, padding_mode="zeros")(x, _gen(1), "x")
    shifts = set()
    for i in range(x.shape[0]):
        found = [
            (dy, dx)
            for dy in range(-m, m + 1)
            for dx in range(-m, m + 1)
            if torch.equal(out[i, :, m:-m, m:-m], x[i, :, m + dy : S - m + dy, m + dx : S - m + dx])
        ]
        assert len(found) == 1, f"sample {i}: not a whole-pixel shift of its input"
        shifts.add(found[0])
    assert len(shifts) > 10
    assert torch.equal(RandomTranslate(0)(x, _gen(1), "x"), x)
    const = torch.full((2, 1, S, S), 0.7)
    assert torch.equal(RandomTranslate(m)(const, _gen(0), "x"), const)


def test_rotation_small_and_fill_free() -> None:
    """±10° moves pixels a little; reflection padding leaves a constant image constant (no fill colour)."""
    ramp = torch.linspace(-1, 1, S).expand(B, 1, S, S).contiguous()
    out = RandomRotation(10)(ramp, _gen(0), "x")
    assert _changed(ramp, out).all()
    assert (out - ramp).abs().mean() < 0.15
    const = torch.full((2, 1, S, S), 0.7)
    torch.testing.assert_close(RandomRotation(10)(const, _gen(0), "x"), const)


def test_elastic_deforms_selected_samples_only() -> None:
    ramp = torch.linspace(0, 1, S).expand(64, 1, S, S).contiguous()
    out = RandomElastic(alpha=50.0, sigma=5.0, p=0.5)(ramp, _gen(0), "x")
    changed = _changed(ramp, out)
    assert 0 < int(changed.sum()) < 64
    assert torch.equal(out[~changed], ramp[~changed])
    assert torch.equal(RandomElastic(p=0.0)(ramp, _gen(0), "x"), ramp)
    torch.testing.assert_close(RandomElastic(alpha=0.0, p=1.0)(ramp, _gen(0), "x"), ramp, atol=1e-5, rtol=0)
    const = torch.full((2, 1, S, S), 0.3)
    torch.testing.assert_close(RandomElastic(p=1.0)(const, _gen(0), "x"), const)


def test_clahe_round_trips_normalisation() -> None:
    """On normalised images the op equals kornia's CLAHE on the [0, 1] pixels, then re-normalised."""
    g = _gen(0)
    pixels = torch.rand(B, 1, S, S, generator=g) * 0.3 + 0.35  # low contrast grey
    mean, std = torch.tensor(MEAN["organ"]), torch.tensor(STD["organ"])
    normalised = kornia.enhance.normalize(pixels, mean, std)
    out = RandomCLAHE(MEAN, STD, clip_limit=2.0, grid=4, p=1.0)(normalised, _gen(0), "organ")
    expected = kornia.enhance.equalize_clahe(pixels, 2.0, (4, 4))
    torch.testing.assert_close(kornia.enhance.denormalize(out, mean, std), expected, atol=1e-5, rtol=1e-5)
    assert expected.std() > pixels.std()  # contrast went up


def test_rgb_clahe_changes_lightness_not_hue() -> None:
    g = _gen(0)
    pixels = (torch.rand(4, 3, S, S, generator=g) * 0.3 + torch.tensor([0.5, 0.3, 0.2])[:, None, None]).clamp(0, 1)
    mean, std = torch.tensor(MEAN["path"]), torch.tensor(STD["path"])
    out = RandomCLAHE(MEAN, STD, clip_limit=2.0, grid=4, p=1.0)(kornia.enhance.normalize(pixels, mean, std), g, "path")
    lab_in = kornia.color.rgb_to_lab(pixels)
    lab_out = kornia.color.rgb_to_lab(kornia.enhance.denormalize(out, mean, std).clamp(0, 1))
    assert (lab_out[:, 0] - lab_in[:, 0]).abs().mean() > 2.0  # lightness equalised (L in [0, 100])
    assert (lab_out[:, 1:] - lab_in[:, 1:]).abs().mean() < 1.0  # chroma kept


def test_clahe_stats_must_match_channels() -> None:
    op = RandomCLAHE({"organ": [0.5, 0.5]}, {"organ": [0.2, 0.2]}, p=1.0)
    with pytest.raises(ValueError, match="2 normalisation values for 1 channels"):
        op(torch.zeros(2, 1, S, S), _gen(0), "organ")
