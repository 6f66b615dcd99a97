"""Small vectorised raster helpers shared by the EUS and WLE renderers.

Scenes are drawn in normalised coordinates: y runs 0..1 down the image height and x is centred, in units
of the image height, so a scene looks the same at any pixel size and aspect ratio.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y): y in (0, 1) top to bottom, x centred, both in image heights."""
    y = (np.arange(height) + 0.5) / height
    x = (np.arange(width) + 0.5 - width / 2) / height
    return np.meshgrid(x, y)


def rotate(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate coordinates by `angle` radians (counter-clockwise on screen)."""
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=max(sigma, 1e-3), mode="wrap")
    field -= field.mean()
    return field / (field.std() + 1e-12)


def soft_inside(signed_distance: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased inside-mask (1 inside, 0 outside) from a signed distance (negative inside)."""
    return 0.5 * (1.0 - np.tanh(signed_distance / max(width, 1e-6)))


def signed_distance(level: np.ndarray, pixel: float) -> np.ndarray:
    """Signed Euclidean distance (scene units, negative inside) to the zero set of an implicit `level` field.

    Exact-to-the-pixel distance transforms far from the edge (so shapes wrapped at a fixed offset keep their
    notches and spikes), sub-pixel `level / |grad level|` within two pixels of it (so edges stay anti-aliased).
    """
    inside = level < 0
    far = (ndimage.distance_transform_edt(~inside) - ndimage.distance_transform_edt(inside)) * pixel
    far = far + np.where(inside, 0.5, -0.5) * pixel  # pixel centres lie half a pixel off the edge on average
    gy, gx = np.gradient(level)
    near = level / np.maximum(np.hypot(gx, gy), 1e-9) * pixel
    return np.where(np.abs(far) < 2 * pixel, np.clip(near, -2 * pixel, 2 * pixel), far)


def radial_outline(phi: np.ndarray, harmonics: np.ndarray) -> np.ndarray:
    """Radius r(phi) = 1 + sum_k a_k cos(k phi + p_k) for `harmonics` rows (k, a_k, p_k)."""
    r = np.ones_like(phi)
    for k, amplitude, phase in harmonics:
        r = r + amplitude * np.cos(k * phi + phase)
    return r


def resample(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resampling of a (H, W) or (H, W, C) array onto a `height` x `width` pixel grid."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    rows = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    cols = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, h - 1)
    c1 = np.minimum(c0 + 1, w - 1)
    fr = (rows - r0)[:, None]
    fc = (cols - c0)[None, :]
    if image.ndim == 3:
        fr, fc = fr[..., None], fc[..., None]
    top = image[r0][:, c0] * (1 - fc) + image[r0][:, c1] * fc
    bottom = image[r1][:, c0] * (1 - fc) + image[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and quantise with round-half-even, the same on every platform."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
