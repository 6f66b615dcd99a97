"""Render an EUS-like greyscale view of one lesion from its six EUS attributes.

Scene (in normalised units, see `raster`): a sector (fan) field of view with the transducer above the
image; a water-filled lumen (anechoic) above a five-band gut wall, alternating hyper- and hypoechoic:
(1) superficial mucosa, (2) deep mucosa / muscularis mucosae, (3) submucosa, (4) muscularis propria,
(5) serosa; peri-gastric tissue below. The lesion is drawn in its origin layer and renders:

- origin_layer: the depth of the lesion's anchor in the wall, so the bands above it run intact over it
  and its own band is interrupted;
- growth_pattern: which way it grows from the anchor: into the lumen (the surface bulges up),
  outward (the deep bands and serosa bulge down) or both (an hourglass pinched at the anchor);
- morphology: the outline (circle, wide ellipse, four-ish smooth lobes, jagged irregular contour);
- echo_level: the mean grey level (dark, like the wall average, bright);
- echo_heterogeneity: coarse blotches and anechoic spaces inside versus an even texture;
- boundary: a sharp edge with a thin bright capsule versus a wide, ragged, fading edge.

Then ultrasound physics: multiplicative speckle (grain and strength from the device), depth
attenuation and a transducer ring-down band. Pose (rotation, shift, zoom) and wall curvature vary per
image; the outline of one lesion stays the same across its images.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmdiag.data.synthetic.config import EusDevice
from mmdiag.data.synthetic.raster import grid, radial_outline, rotate, smooth_noise, soft_inside

APEX_Y = -0.12  # transducer position, above the image top
NEAR_FIELD = 0.17  # radius of the probe's own near-field zone
WALL_TOP = 0.36  # wall surface (scene units, image centre at 0.5)
WALL_THICKNESS = 0.40
# Band edges as fractions of the wall thickness and the band echo levels (hyper, hypo, hyper, hypo, hyper).
BAND_EDGES = (0.0, 0.16, 0.34, 0.62, 0.86, 1.0)
BAND_ECHO = (0.85, 0.22, 0.78, 0.20, 0.72)
LUMEN_ECHO = 0.04
TISSUE_ECHO = 0.42
ANCHOR_DEPTH = {"mucosa": 0.08, "muscularis_mucosae": 0.25, "submucosa": 0.48, "muscularis_propria": 0.74}
LESION_ECHO = {"hypoechoic": 0.15, "isoechoic": 0.48, "hyperechoic": 0.9}
GROWTH_UP = {"intraluminal": 0.8, "extraluminal": 0.2, "mixed": 0.5}  # share of the lesion above its anchor
ASPECT = {"round": 1.0, "oval": 1.7, "lobulated": 1.15, "irregular": 1.2}
LESION_HEIGHT = 0.34  # lesion height (scene units) at size scale 1


def _outline_harmonics(rng: np.random.Generator, morphology: str) -> np.ndarray:
    """(k, amplitude, phase) rows of the lesion outline; drawn once per case."""
    rows = [(k, rng.normal(0, 0.015), rng.uniform(0, 2 * np.pi)) for k in (2, 3)]
    if morphology == "lobulated":
        rows.append((int(rng.integers(3, 6)), 0.17, rng.uniform(0, 2 * np.pi)))
    elif morphology == "irregular":
        rows += [(k, rng.normal(0, 0.2 / np.sqrt(k - 1)), rng.uniform(0, 2 * np.pi)) for k in range(3, 13)]
    return np.array(rows, dtype=np.float64)


def _layer_echo(u: np.ndarray, thickness: float, tissue: np.ndarray) -> np.ndarray:
    """Echo level of the undisturbed scene at wall depth `u` (< 0 lumen, > thickness peri-gastric)."""
    edge = 0.008
    knots, values = [-1.0, -edge], [LUMEN_ECHO, LUMEN_ECHO]
    for i, echo in enumerate(BAND_ECHO):
        knots += [BAND_EDGES[i] * thickness + edge, BAND_EDGES[i + 1] * thickness - edge]
        values += [echo, echo]
    out = np.interp(u, knots, values)
    beyond = soft_inside(thickness - u, edge)
    return out * (1 - beyond) + (TISSUE_ECHO + 0.12 * tissue) * beyond


def render_eus(
    image_rng: np.random.Generator,
    case_rng: np.random.Generator,
    attributes: Mapping[str, str],
    size_scale: float,
    device: EusDevice,
    height: int,
    width: int,
) -> np.ndarray:
    """One EUS frame as floats in [0, 1], `height` x `width`, before the device's display chain.

    `case_rng` must be freshly seeded per case (the lesion outline stays the same across its images);
    `image_rng` drives everything that changes between images.
    """
    layer = attributes["eus.origin_layer"]
    morphology = attributes["eus.morphology"]
    harmonics = _outline_harmonics(case_rng, morphology)
    aspect = ASPECT[morphology] * case_rng.uniform(0.93, 1.07)

    x, y = grid(height, width)
    px = 1.0 / height  # one render pixel in scene units

    # Pose: the scene (wall + lesion) moves under the fixed fan.
    angle = float(np.clip(image_rng.normal(0.0, 0.12), -0.3, 0.3))
    shift_x, shift_y = image_rng.uniform(-0.06, 0.06), image_rng.uniform(-0.04, 0.04)
    zoom = image_rng.uniform(0.9, 1.1)
    curvature = image_rng.uniform(0.0, 0.3)
    v, w = rotate(x - shift_x, y - 0.5 - shift_y, angle)
    v, w = v / zoom, w / zoom
    u = w + 0.5 - WALL_TOP - curvature * v**2  # depth below the wall surface

    # Lesion geometry, anchored in its origin layer.
    lesion_h = LESION_HEIGHT * size_scale
    half_h = lesion_h / 2
    half_w = half_h * aspect
    anchor = ANCHOR_DEPTH[layer] * WALL_THICKNESS
    up = GROWTH_UP[attributes["eus.growth_pattern"]]
    centre_u = anchor + (0.5 - up) * lesion_h
    dv = v
    if attributes["eus.growth_pattern"] == "mixed":  # hourglass: pinched where it crosses its layer
        dv = v / (1.0 - 0.4 * np.exp(-(((u - anchor) / (0.3 * half_h)) ** 2)))
    nv, nu = dv / half_w, (u - centre_u) / half_h
    rho = np.hypot(nv, nu)
    outline = np.maximum(radial_outline(np.arctan2(nu, nv), harmonics), 0.45)
    distance = (rho - outline) * half_h

    # The wall drapes over the lesion: bands above the anchor are pushed up, bands below pushed down.
    bump = np.sqrt(np.clip(1.0 - (v / (1.1 * half_w)) ** 2, 0.0, 1.0))
    u_src = np.where(
        u < anchor,
        np.minimum(u + up * lesion_h * bump, anchor),
        np.maximum(u - (1.0 - up) * lesion_h * bump, anchor),
    )
    tissue = smooth_noise(image_rng, (height, width), 0.05 * height)
    background = _layer_echo(u_src, WALL_THICKNESS, tissue)

    # Lesion interior: echo level and texture.
    texture = smooth_noise(image_rng, (height, width), 0.035 * height)
    echo = LESION_ECHO[attributes["eus.echo_level"]]
    if attributes["eus.echo_heterogeneity"] == "heterogeneous":  # echogenic foci and anechoic spaces
        blobs = smooth_noise(image_rng, (height, width), 0.045 * height)
        foci, spaces = soft_inside(1.0 - blobs, 0.15), soft_inside(blobs + 1.0, 0.15)
        interior = echo + 0.15 * texture + 0.5 * foci - 0.5 * spaces
    else:
        interior = echo + 0.03 * texture
    interior = np.clip(interior, 0.02, 1.0)

    # Boundary: sharp with a bright capsule, or wide and ragged.
    if attributes["eus.boundary"] == "clear":  # crisp edge outlined by a capsule (bright) or halo (dark)
        inside = soft_inside(distance, 0.6 * px)
        rim = (0.4 if echo < 0.6 else -0.45) * np.exp(-((distance / (1.5 * px + 0.008)) ** 2))
    else:  # ragged, fading edge that blends into the wall
        ragged = distance + 0.06 * smooth_noise(image_rng, (height, width), 0.02 * height)
        inside = soft_inside(ragged, 0.045)
        rim = 0.0
    scene = background * (1 - inside) + interior * inside + rim

    # Ultrasound physics: speckle, attenuation, near-field ring-down, fan field of view.
    r = np.hypot(x, y - APEX_Y)
    theta = np.arctan2(x, y - APEX_Y)
    grain = max(device.speckle_grain * height, 0.3)
    re = smooth_noise(image_rng, (height, width), grain)
    im = smooth_noise(image_rng, (height, width), grain)
    amplitude = np.hypot(re, im)
    speckle = 1.0 + device.speckle * (amplitude / amplitude.mean() - 1.0)
    scene = scene * speckle * np.exp(-device.attenuation * (r - 0.55))
    scene = scene + 0.7 * np.exp(-(((r - NEAR_FIELD - 0.02) / 0.015) ** 2))
    half_angle = np.deg2rad(device.fan_degrees) / 2
    fan = soft_inside(np.abs(theta) - half_angle, 0.01) * soft_inside(NEAR_FIELD - r, px)
    return np.clip(scene, 0.0, 1.5) * fan
