"""Centre (device) effects: the display chain that turns a rendered scene into the centre's image.

The scene is formed at `resolution` x the native size (a lower-resolution probe or sensor) and
resampled up to the native size, then gain, contrast, gamma, colour cast, saturation, sensor noise,
vignetting and the optics mask are applied. These differ between centres like the devices of two
hospitals do, which makes "train on centre A, test on centre B" a real but moderate domain shift.
The device settings themselves (and the `um2r` / `um3r` presets) live in `config`.
"""

from __future__ import annotations

import numpy as np

from mmdiag.data.synthetic.config import EusDevice, WleDevice
from mmdiag.data.synthetic.raster import grid, resample, to_uint8


def render_size(size: tuple[int, int], resolution: float) -> tuple[int, int]:
    """(height, width) the scene is formed at, for a native `size` of [width, height]."""
    width, height = size
    return max(8, round(height * resolution)), max(8, round(width * resolution))


def finish_eus(scene: np.ndarray, device: EusDevice, rng: np.random.Generator) -> np.ndarray:
    """Native-size uint8 greyscale image from a rendered EUS scene (floats, any size)."""
    width, height = device.size
    image = resample(scene, height, width) * device.gain
    image = np.clip(image, 0.0, 1.0) ** device.gamma
    image = (image - 0.5) * device.contrast + 0.5
    image = image + device.noise * rng.standard_normal(image.shape)
    return to_uint8(image)


def _optics_mask(height: int, width: int, shape: str) -> np.ndarray:
    """1 inside the endoscope's field of view, 0 in the black surround (anti-aliased)."""
    if shape == "none":
        return np.ones((height, width))
    x, y = grid(height, width)
    x, y = np.abs(x), np.abs(y - 0.5)
    half_w = width / height / 2
    if shape == "circle":
        distance = np.hypot(x, y) - 0.5 * min(1.0, 2 * half_w) * 1.12
    else:  # octagon: a rectangle with cut corners
        distance = np.maximum.reduce([x - half_w * 0.98, y - 0.49, (x + y) - (half_w + 0.5) * 0.74])
    return np.clip(0.5 - distance * height, 0.0, 1.0)


def finish_wle(scene: np.ndarray, device: WleDevice, rng: np.random.Generator) -> np.ndarray:
    """Native-size uint8 RGB image from a rendered WLE scene (floats, any size, 3 channels)."""
    width, height = device.size
    image = resample(scene, height, width) * np.asarray(device.colour_cast)
    grey = image @ np.array([0.299, 0.587, 0.114])
    image = grey[..., None] + device.saturation * (image - grey[..., None])
    image = np.clip(image, 0.0, 1.0) ** device.gamma
    image = (image - 0.5) * device.contrast + 0.5
    x, y = grid(height, width)
    image = image * (1.0 - device.vignette * ((x**2 + (y - 0.5) ** 2) / 0.5)[..., None])
    image = image + device.noise * rng.standard_normal(image.shape)
    return to_uint8(image * _optics_mask(height, width, device.mask)[..., None])
