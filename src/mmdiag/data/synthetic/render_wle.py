"""Render a WLE-like colour endoscopy view of one lesion from its five WLE attributes.

Scene: pink gastric mucosa with a fine reddish vessel network, lit from the endoscope tip (Lambert
shading of a height field plus specular glints on wet crests). The lesion is a subepithelial bulge near
the centre; a location landmark sits towards the edge on the opposite side:

- location: cardia = the endoscope shaft entering the view in retroflexion, with folds converging on
  it; fundus = no folds and a yellowish mucus lake; body = thick parallel rugal folds and a dark lumen;
  antrum = smooth mucosa and the pylorus, a dark round opening inside a ring fold;
- morphology: distinct silhouettes at 32-48 px: a broad round dome (hemispherical), a smaller steep head
  ringed by a dark undercut shadow on a short stalk (semipedunculated), a low plateau 1.5 times wider than
  tall with a steep rim (flat), or a clover of three domes (lobulated);
- surface_mucosa: intact (smooth), 4-7 dark red spots 4-5 px across at 48 px in white halos
  (erosion), or one central crater half the lesion wide with a white fibrin base and a dark red rim
  (ulceration);
- colour: like the mucosa (normal), yellowish, reddish or bluish;
- translucency: a glassy, pale bulge with a soft inner glow, through which the mucosal pattern shows,
  versus an opaque one.

Pose (roll, shift, zoom), light direction and the landmark's position vary per image; the lesion's
outline and lobes stay the same across one case's images.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmdiag.data.synthetic.config import WleDevice
from mmdiag.data.synthetic.raster import grid, radial_outline, rotate, smooth_noise, soft_inside

MUCOSA = np.array([0.86, 0.47, 0.42])
TINT = {
    "normal": np.array([0.88, 0.55, 0.50]),
    "yellowish": np.array([0.95, 0.80, 0.38]),
    "reddish": np.array([0.78, 0.20, 0.18]),
    "bluish": np.array([0.45, 0.52, 0.85]),
}
FIBRIN = np.array([0.97, 0.95, 0.82])
BLOOD = np.array([0.55, 0.10, 0.09])
EROSION = np.array([0.38, 0.03, 0.04])  # dark, haemorrhagic: stands out on any lesion colour
SHAFT = np.array([0.13, 0.13, 0.14])
MUCUS = np.array([0.88, 0.84, 0.52])
LESION_RADIUS = 0.24  # base radius (scene units) at size scale 1
RELIEF = 0.35  # height-field scale: how strongly bulges and folds shade


def _dome(distance_ratio: np.ndarray, steepness: float = 0.5) -> np.ndarray:
    """Height profile 1 at the centre falling to 0 at ratio 1 (0.5: a hemisphere)."""
    return np.clip(1.0 - distance_ratio**2, 0.0, 1.0) ** steepness


def _landmark(
    kind: str, rng: np.random.Generator, sx: np.ndarray, sy: np.ndarray, direction: np.ndarray, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Location context: (relief, albedo weight, albedo colour, light) for the landmark of `kind`.

    `direction` is the unit vector from the image centre towards the landmark side.
    """
    along = sx * direction[0] + sy * direction[1]
    across = -sx * direction[1] + sy * direction[0]
    relief = np.zeros_like(sx)
    weight = np.zeros_like(sx)
    colour = np.zeros((*sx.shape, 3))
    light = np.ones_like(sx)
    if kind == "body":  # parallel rugal folds running towards a dark lumen
        period = rng.uniform(0.17, 0.23)
        folds = (0.5 + 0.5 * np.sin(2 * np.pi * across / period + rng.uniform(0, 2 * np.pi))) ** 2
        relief = 0.16 * folds
        lumen = np.hypot(along - 0.45, across * 0.8)
        light = 1.0 - 0.85 * np.exp(-((lumen / 0.18) ** 2))
    elif kind == "antrum":  # pylorus: dark opening inside a ring fold, smooth mucosa around
        centre = rng.uniform(0.36, 0.44)
        r = np.hypot(along - centre, across)
        relief = 0.5 * np.exp(-(((r - 0.1) / 0.03) ** 2))
        light = 1.0 - 0.9 * soft_inside(r - 0.065, 0.015)
    elif kind == "cardia":  # retroflexed: the shaft enters from the edge; folds converge on it
        start = rng.uniform(0.22, 0.3)
        half_width = rng.uniform(0.09, 0.11)
        beyond = along - start
        shaft_distance = np.maximum(np.abs(across) - half_width, -beyond)
        weight = soft_inside(shaft_distance, 1.0 / height)
        colour[:] = SHAFT
        relief = weight * 0.6 * np.sqrt(np.clip(1 - (across / half_width) ** 2, 0, 1))
        around = np.arctan2(across, beyond)
        r = np.hypot(beyond, across)
        rays = (0.5 + 0.5 * np.cos(7 * around)) ** 2 * np.exp(-r / 0.25) * (1 - np.exp(-r / 0.06))
        relief = relief + (1 - weight) * 0.15 * rays
    elif kind == "fundus":  # smooth dome, mucus lake pooled on one side
        edge = rng.uniform(0.28, 0.34) + 0.03 * smooth_noise(rng, sx.shape, 0.08 * height)
        weight = soft_inside(edge - along, 1.0 / height)
        colour[:] = MUCUS
        light = 1.0 - 0.25 * np.clip(np.hypot(sx, sy) - 0.2, 0, None)
    else:  # pragma: no cover - vocabularies are checked upstream
        raise ValueError(f"unknown location {kind!r}")
    return relief, weight, colour, light


def _lesion_relief(
    morphology: str, case_rng: np.random.Generator, lx: np.ndarray, ly: np.ndarray, radius: float, px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(relief, mask, undercut shadow) of the bulge in lesion coordinates."""
    harmonics = np.array([(k, case_rng.normal(0, 0.03), case_rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)])
    lobe_angle = case_rng.uniform(0, 2 * np.pi)
    outline = radial_outline(np.arctan2(ly, lx), harmonics)
    rho = np.hypot(lx, ly) / radius / outline
    shadow = np.zeros_like(lx)
    if morphology == "hemispherical":  # one broad round dome
        relief, mask = _dome(rho), soft_inside((rho - 1) * radius, px)
    elif morphology == "semipedunculated":  # a smaller steep head, undercut all round, on a short stalk
        head = np.hypot(lx, ly + 0.25 * radius) / (0.78 * radius) / outline
        stalk = np.hypot(lx / 0.32, ly - 0.55 * radius) / (0.7 * radius)
        head_mask = soft_inside((head - 1) * 0.78 * radius, px)
        relief = np.maximum(1.4 * _dome(head, 0.3), 0.45 * _dome(stalk))
        mask = np.maximum(head_mask, soft_inside((stalk - 1) * radius * 0.32, px))
        shadow = 0.85 * np.exp(-(((head - 1.15) / 0.2) ** 2)) * (1 - head_mask)
    elif morphology == "flat":  # a low, wide oval plateau with a steep rim and no dome highlight
        rho = np.hypot(lx / 1.6, ly / 1.05) / radius / outline
        relief = 0.3 * soft_inside((rho - 0.9) * radius, 0.015)
        mask = soft_inside((rho - 1) * radius, 0.015)
    elif morphology == "lobulated":  # three merged domes with creases between them
        relief, mask = np.zeros_like(lx), np.zeros_like(lx)
        for k in range(3):
            a = lobe_angle + 2 * np.pi * k / 3 + case_rng.normal(0, 0.15)
            lobe = np.hypot(lx - 0.6 * radius * np.cos(a), ly - 0.6 * radius * np.sin(a)) / (0.58 * radius)
            relief = np.maximum(relief, 0.9 * _dome(lobe))
            mask = np.maximum(mask, soft_inside((lobe - 1) * 0.58 * radius, px))
    else:  # pragma: no cover - vocabularies are checked upstream
        raise ValueError(f"unknown morphology {morphology!r}")
    return relief, mask, shadow


def _surface(
    kind: str, case_rng: np.random.Generator, lx: np.ndarray, ly: np.ndarray, radius: float, px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(albedo weight, albedo colour, relief change) of erosions or an ulcer on the bulge."""
    weight = np.zeros_like(lx)
    colour = np.zeros((*lx.shape, 3))
    relief = np.zeros_like(lx)
    if kind == "erosion":
        for _ in range(int(case_rng.integers(4, 8))):
            r, a = radius * 0.65 * np.sqrt(case_rng.uniform()), case_rng.uniform(0, 2 * np.pi)
            size = radius * case_rng.uniform(0.28, 0.36)
            d = np.hypot(lx - r * np.cos(a), ly - r * np.sin(a))
            halo = soft_inside(d - size, px)
            core = soft_inside(d - 0.65 * size, px)
            colour = (
                colour * (1 - halo[..., None])
                + (FIBRIN * (1 - core[..., None]) + EROSION * core[..., None]) * halo[..., None]
            )
            weight = np.maximum(weight, halo)
    elif kind == "ulceration":
        a = case_rng.uniform(0, 2 * np.pi)
        cx, cy = 0.12 * radius * np.cos(a), 0.12 * radius * np.sin(a)
        crater = (
            0.5
            * radius
            * radial_outline(
                np.arctan2(ly - cy, lx - cx),
                np.array([(k, case_rng.normal(0, 0.08), case_rng.uniform(0, 6.3)) for k in (2, 3, 5)]),
            )
        )
        d = np.hypot(lx - cx, ly - cy) - crater
        base = soft_inside(d, px)
        rim = np.exp(-((d / (0.12 * radius)) ** 2)) * (1 - base)
        colour = FIBRIN * base[..., None] + BLOOD * rim[..., None]
        weight = np.clip(base + rim, 0, 1)
        colour = colour / np.maximum(weight, 1e-6)[..., None]
        relief = -0.6 * base
    return weight, colour, relief


def render_wle(
    image_rng: np.random.Generator,
    case_rng: np.random.Generator,
    attributes: Mapping[str, str],
    size_scale: float,
    device: WleDevice,
    height: int,
    width: int,
) -> np.ndarray:
    """One WLE frame as RGB floats in [0, 1], `height` x `width` x 3, before the device's display chain.

    `case_rng` must be freshly seeded per case; `image_rng` drives what changes between images.
    """
    del device  # the scene is device-independent; the display chain is applied in `devices`
    x, y = grid(height, width)
    px = 1.0 / height
    roll = image_rng.uniform(-np.pi, np.pi)
    zoom = image_rng.uniform(0.9, 1.1)
    sx, sy = rotate(x - image_rng.uniform(-0.05, 0.05), y - 0.5 - image_rng.uniform(-0.05, 0.05), roll)
    sx, sy = sx / zoom, sy / zoom

    # Context: the landmark lies on one side (fixed in scene coordinates; the roll turns it).
    side = np.array([1.0, 0.0])
    relief, context_weight, context_colour, light = _landmark(
        attributes["wle.location"], image_rng, sx, sy, side, height
    )

    # Mucosa: base colour, blotchy tone and a fine vessel network.
    tone = smooth_noise(image_rng, (height, width), 0.12 * height)
    vessels = np.exp(-((smooth_noise(image_rng, (height, width), 0.025 * height) / 0.18) ** 2))
    mucosa = MUCOSA * (1 + 0.05 * tone[..., None])
    mucosa = mucosa * (1 - 0.3 * vessels[..., None] * np.array([0.1, 1.0, 0.9]))

    # Lesion bulge, slightly away from the landmark.
    radius = LESION_RADIUS * size_scale
    lx, ly = sx + 0.1 + image_rng.uniform(-0.03, 0.03), sy + image_rng.uniform(-0.05, 0.05)
    bulge, mask, undercut = _lesion_relief(attributes["wle.morphology"], case_rng, lx, ly, radius, px)
    surface_weight, surface_colour, surface_relief = _surface(
        attributes["wle.surface_mucosa"], case_rng, lx, ly, radius, px
    )
    translucent = attributes["wle.translucency"] == "present"
    tint = TINT[attributes["wle.colour"]]
    if translucent:  # glassy: pale tint, the mucosal pattern shows through
        lesion_colour = 0.55 * tint + 0.45 * np.array([0.96, 0.94, 0.96])
        lesion_colour = lesion_colour * (1 - 0.25 * vessels[..., None] * np.array([0.1, 1.0, 0.9]))
        cover = 0.75 * mask
    else:
        lesion_colour = tint * (1 + 0.03 * tone[..., None])
        cover = 0.95 * mask
    surface_weight = surface_weight * mask

    albedo = mucosa * (1 - context_weight[..., None]) + context_colour * context_weight[..., None]
    albedo = albedo * (1 - cover[..., None]) + lesion_colour * cover[..., None]
    albedo = albedo * (1 - surface_weight[..., None]) + surface_colour * surface_weight[..., None]
    height_field = RELIEF * (relief * (1 - mask) + radius * 4 * (bulge + surface_relief * mask))

    # Shading: Lambert + Blinn specular from a light near the camera.
    gy, gx = np.gradient(height_field * height)
    normal = np.stack([-gx, -gy, np.ones_like(gx)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    tilt, azimuth = image_rng.uniform(0.45, 0.7), image_rng.uniform(0, 2 * np.pi)
    light_dir = np.array([tilt * np.cos(azimuth), tilt * np.sin(azimuth), 1.0])
    light_dir /= np.linalg.norm(light_dir)
    half_vec = light_dir + np.array([0.0, 0.0, 1.0])
    half_vec /= np.linalg.norm(half_vec)
    diffuse = np.clip(normal @ light_dir, 0.0, 1.0)
    specular = np.clip(normal @ half_vec, 0.0, 1.0) ** 200
    glow = 0.25 * mask * _dome(np.hypot(lx, ly) / radius) if translucent else 0.0
    shade = (0.3 + 0.75 * diffuse) * light * (1 - undercut)
    image = albedo * shade[..., None] + (0.9 * specular + glow)[..., None]
    return np.clip(image, 0.0, 1.0)
