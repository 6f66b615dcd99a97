"""Batch-level image augmentation: flips, translation, rotation, elastic deformation and CLAHE, from one generator.

Sources: random flip and rotation ±10° are the dual-branch CRC paper's preprocessing (§2.1); random elastic
deformation and CLAHE are the hybrid Swin paper's (§3.2); the whole-pixel translation is the pad-and-crop of
CIFAR-style training, in none of the papers (tried for the real-data recipe and not adopted:
docs/real_data.md). Neither paper prints parameters: the elastic defaults are torchvision's `ElasticTransform`
(alpha 50 px, sigma 5 px), the CLAHE defaults are kornia's (clip limit 40, 8x8 tiles), and the probabilities
(0.5) are ours.

An augment is `(images, generator) -> images` on the batch dict of `SampleSet.batches`. Every random number
comes from that generator (seeded by (seed, epoch)), never from torch's global RNG, so an epoch's augmented
batches are identical across runs and resumes. Parameters are drawn per sample and per modality: the
modalities of a sample are different images, not spatially aligned views, so sharing a transform between
them would mean nothing. Draws happen on the CPU (the generator's device) and move to the images' device.

Images arrive normalised (mean/std); CLAHE undoes and redoes the normalisation around itself because it
works on [0, 1] intensities. Geometric ops fill uncovered pixels by reflection (`padding_mode`), which needs
no fill value in normalised space.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kornia
import torch
from torch import Tensor

from mmdiag.data.batches import Augment

Op = Callable[[Tensor, torch.Generator, str], Tensor]  # (one modality's images [B, C, H, W], generator, modality)
Stats = Sequence[float] | Mapping[str, Sequence[float]]
KNOWN_KEYS = frozenset({"hflip", "vflip", "translate_px", "rotate_deg", "clahe", "elastic", "padding_mode"})
PAD_MODES = {"reflection": "reflect", "border": "replicate", "zeros": "constant"}  # padding_mode -> F.pad mode


def _uniform(n: int, g: torch.Generator, device: torch.device, *shape: int) -> Tensor:
    """U[0, 1) numbers drawn from `g` (CPU) and moved to `device`."""
    return torch.rand(n, *shape, generator=g).to(device)


def _apply_where(mask: Tensor, x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """`fn` on the selected samples only; the others pass through unchanged."""
    if not mask.any():
        return x
    out = x.clone()
    out[mask] = fn(x[mask]).to(x.dtype)
    return out


def _check_p(p: float, name: str) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: probability must be in [0, 1], got {p}")
    return float(p)


class RandomFlip:
    """Flip each sample with probability `p` along width (`dim=-1`, horizontal) or height (`dim=-2`)."""

    def __init__(self, p: float, dim: int = -1) -> None:
        self.p, self.dim = _check_p(p, "flip"), dim

    def __call__(self, x: Tensor, g: torch.Generator, modality: str) -> Tensor:
        flip = _uniform(x.shape[0], g, x.device) < self.p
        return torch.where(flip[:, None, None, None], x.flip(self.dim), x)


class RandomTranslate:
    """Shift each sample by whole pixels (dy, dx), each drawn uniformly from [-max_px, max_px].

    The pad-and-random-crop of CIFAR-style training (pad by `max_px`, crop the original size at a random
    offset), done for the whole batch with one gather; uncovered pixels are filled by `padding_mode`.
    """

    def __init__(self, max_px: int, padding_mode: str = "reflection") -> None:
        if int(max_px) != max_px or max_px < 0:
            raise ValueError(f"translate_px must be a whole number of pixels >= 0, got {max_px}")
        if padding_mode not in PAD_MODES:
            raise ValueError(f"padding_mode: one of {', '.join(PAD_MODES)}, got {padding_mode!r}")
        self.max_px, self.pad_mode = int(max_px), PAD_MODES[padding_mode]

    def __call__(self, x: Tensor, g: torch.Generator, modality: str) -> Tensor:
        b, _, h, w = x.shape
        m = self.max_px
        if m >= min(h, w):
            raise ValueError(f"{modality}: translate_px {m} must be smaller than the image ({h}x{w})")
        offsets = torch.randint(0, 2 * m + 1, (b, 2), generator=g).to(x.device)  # crop corner in the padded image
        padded = torch.nn.functional.pad(x, (m, m, m, m), mode=self.pad_mode)
        rows = offsets[:, :1] + torch.arange(h, device=x.device)  # [B, H]
        cols = offsets[:, 1:] + torch.arange(w, device=x.device)  # [B, W]
        batch = torch.arange(b, device=x.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


class RandomRotation:
    """Rotate each sample by an angle drawn uniformly from [-degrees, degrees] (kornia `rotate`)."""

    def __init__(self, degrees: float, padding_mode: str = "reflection") -> None:
        if degrees < 0:
            raise ValueError(f"rotate_deg must be >= 0, got {degrees}")
        self.degrees, self.padding_mode = float(degrees), padding_mode

    def __call__(self, x: Tensor, g: torch.Generator, modality: str) -> Tensor:
        angle = (_uniform(x.shape[0], g, x.device) * 2 - 1) * self.degrees
        return kornia.geometry.transform.rotate(x, angle.to(x.dtype), padding_mode=self.padding_mode)


class RandomElastic:
    """Elastic deformation (Simard et al. 2003) with probability `p`: kornia `elastic_transform2d` on noise from `g`.

    Args:
        alpha: displacement scale in pixels (torchvision's convention; kornia's is in normalised coordinates).
        sigma: smoothing of the displacement field in pixels; larger is smoother.
        p: probability per sample.
    """

    def __init__(
        self, alpha: float = 50.0, sigma: float = 5.0, p: float = 0.5, padding_mode: str = "reflection"
    ) -> None:
        if alpha < 0 or sigma <= 0:
            raise ValueError(f"elastic: need alpha >= 0 and sigma > 0, got alpha={alpha}, sigma={sigma}")
        self.alpha, self.sigma, self.p = float(alpha), float(sigma), _check_p(p, "elastic")
        self.padding_mode = padding_mode
        k = 2 * math.ceil(3 * self.sigma) + 1  # Gaussian truncated at 3 sigma
        self.kernel_size = (k, k)

    def __call__(self, x: Tensor, g: torch.Generator, modality: str) -> Tensor:
        b, _, h, w = x.shape
        apply = _uniform(b, g, x.device) < self.p
        noise = (_uniform(b, g, x.device, 2, h, w) * 2 - 1).to(x.dtype)
        alpha = (2 * self.alpha / w, 2 * self.alpha / h)  # pixels -> normalised [-1, 1] coordinates (x, y)

        def warp(sel: Tensor) -> Tensor:
            return kornia.geometry.transform.elastic_transform2d(
                sel,
                noise[apply],
                kernel_size=self.kernel_size,
                sigma=(self.sigma, self.sigma),
                alpha=alpha,
                padding_mode=self.padding_mode,
            )

        return _apply_where(apply, x, warp)


class RandomCLAHE:
    """Contrast-limited adaptive histogram equalisation (kornia `equalize_clahe`) with probability `p`.

    RGB images are equalised on the L channel of CIELAB so that colours keep their hue; other channel counts
    channel by channel. Applied at random (not always) so that the model also sees the un-equalised images it
    is evaluated on.

    Args:
        mean: per-channel normalisation mean (one sequence, or one per modality) used to map images to [0, 1].
        std: per-channel normalisation std, same form as `mean`.
        clip_limit: contrast limit (kornia/OpenCV semantics; 0 disables clipping).
        grid: tiles per side, or (rows, columns).
        p: probability per sample.
    """

    def __init__(
        self, mean: Stats, std: Stats, clip_limit: float = 40.0, grid: int | Sequence[int] = 8, p: float = 0.5
    ) -> None:
        self.mean, self.std = mean, std
        self.clip_limit, self.p = float(clip_limit), _check_p(p, "clahe")
        self.grid = (int(grid), int(grid)) if isinstance(grid, int) else (int(grid[0]), int(grid[1]))

    def __call__(self, x: Tensor, g: torch.Generator, modality: str) -> Tensor:
        apply = _uniform(x.shape[0], g, x.device) < self.p
        mean, std = (_channel_stats(s, modality, x) for s in (self.mean, self.std))

        def equalise(sel: Tensor) -> Tensor:
            pixels = kornia.enhance.denormalize(sel.float(), mean, std).clamp(0.0, 1.0)
            return kornia.enhance.normalize(self._equalise01(pixels), mean, std)

        return _apply_where(apply, x, equalise)

    def _equalise01(self, pixels: Tensor) -> Tensor:
        if pixels.shape[1] != 3:
            return kornia.enhance.equalize_clahe(pixels, self.clip_limit, self.grid)
        lab = kornia.color.rgb_to_lab(pixels)
        lightness = kornia.enhance.equalize_clahe(lab[:, :1] / 100.0, self.clip_limit, self.grid) * 100.0
        return kornia.color.lab_to_rgb(torch.cat([lightness, lab[:, 1:]], dim=1), clip=True)


def _channel_stats(stats: Stats, modality: str, x: Tensor) -> Tensor:
    """Normalisation stats of `modality` as a [C] tensor; a single value broadcasts to every channel."""
    values = stats[modality] if isinstance(stats, Mapping) else stats
    t = torch.as_tensor(list(values), dtype=torch.float32, device=x.device)
    if t.numel() == 1:
        t = t.expand(x.shape[1])
    if t.numel() != x.shape[1]:
        raise ValueError(f"{modality}: {t.numel()} normalisation values for {x.shape[1]} channels")
    return t


class Compose:
    """Apply `ops` in order to every modality, drawing each modality's parameters independently from `g`."""

    def __init__(self, ops: Sequence[Op]) -> None:
        self.ops = list(ops)

    def __call__(self, images: dict[str, Tensor], g: torch.Generator) -> dict[str, Tensor]:
        out = {}
        for modality, x in images.items():
            for op in self.ops:
                x = op(x, g, modality)
            out[modality] = x
        return out


def build_augment(cfg: Mapping[str, Any] | None, mean: Stats | None = None, std: Stats | None = None) -> Augment | None:
    """The augment configured by `cfg`, or None when nothing is enabled.

    Keys (all optional): `hflip`, `vflip` (probabilities), `translate_px` (max shift in whole pixels),
    `rotate_deg` (max |angle|), `clahe` ({clip_limit, grid, p}), `elastic` ({alpha, sigma, p}), `padding_mode`
    (reflection | border | zeros). Order: CLAHE on the untouched image, then flips, translation, rotation,
    elastic deformation. `mean`/`std` (one sequence, or one per modality, e.g. the preprocessing cache's
    `meta["normalisation"]`) are required with CLAHE.
    """
    if not cfg:
        return None
    unknown = set(cfg) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown augment keys {sorted(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})")
    padding = str(cfg.get("padding_mode", "reflection"))
    ops: list[Op] = []
    if cfg.get("clahe"):
        if mean is None or std is None:
            raise ValueError("augment.clahe needs the images' normalisation mean and std (CLAHE works on [0, 1])")
        ops.append(RandomCLAHE(mean, std, **_section(cfg, "clahe")))
    for key, dim in (("hflip", -1), ("vflip", -2)):
        if float(cfg.get(key, 0.0)) > 0:
            ops.append(RandomFlip(float(cfg[key]), dim))
    if cfg.get("translate_px", 0):
        ops.append(RandomTranslate(cfg["translate_px"], padding_mode=padding))
    if float(cfg.get("rotate_deg", 0.0)) > 0:
        ops.append(RandomRotation(float(cfg["rotate_deg"]), padding_mode=padding))
    if cfg.get("elastic"):
        ops.append(RandomElastic(**_section(cfg, "elastic"), padding_mode=padding))
    return Compose(ops) if ops else None


def _section(cfg: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A sub-config as kwargs; `true` means all defaults."""
    value = cfg[key]
    return {} if value is True else dict(value)
