"""Render an EUS-like greyscale view of one lesion from its six EUS attributes.

Scene (in normalised units, see `raster`): a sector (fan) field of view with the transducer above the
image; a water-filled lumen (anechoic) above a five-band gut wall, alternating hyper- and hypoechoic:
(1) superficial mucosa, (2) deep mucosa / muscularis mucosae, (3) submucosa, (4) muscularis propria,
(5) serosa; peri-gastric tissue below. The lesion (about half the image height) is drawn in its origin
layer; the sonographer's framing keeps all of it in view. The pipeline downsamples to 32-48 px, so every
cue is several pixels wide there, far coarser than speckle:

- origin_layer: the depth of the lesion's anchor in the wall: the bands above the anchor run over the
  lesion, those below it run under it, and its own band wraps round it (a mucosal lesion touches the lumen);
- growth_pattern: how much of the lesion lies above its anchor: 85 % (it bulges into the lumen), 15 %
  (it bulges outward, below the wall) or half (mixed, with a slight hourglass waist at the anchor);
- morphology: the outline, which the draped bands repeat around it: a circle, an ellipse about twice as
  wide as tall, a clover of 3-4 round lobes with deep notches, or a jagged star of 5-7 sharp spikes;
- echo_level: the grey level of the interior (darker than, like, or brighter than the wall average);
- echo_heterogeneity: heterogeneous lesions hold 2-3 black cystic spaces and 2-3 bright echogenic foci,
  5-8 px across at 48 px; homogeneous ones a smooth interior with damped speckle;
- boundary: a sharp edge lined by a bright capsule (a dark halo around bright lesions) versus a wide,
  ragged margin fading into the wall.

Then ultrasound physics: multiplicative speckle (grain and strength from the device), depth
attenuation and a transducer ring-down band. Pose (rotation, shift, zoom) and wall curvature vary per
image; the outline and internal structures of one lesion stay the same across its images.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmdiag.data.synthetic.config import EusDevice
from mmdiag.data.synthetic.raster import grid, rotate, signed_distance, smooth_noise, soft_inside

APEX_Y = -0.15  # transducer position, above the image top
NEAR_FIELD = 0.17  # radius of the probe's own near-field zone
WALL_TOP = 0.34  # wall surface (scene units, image centre at 0.5), unless the lesion would not fit
FRAME = (0.12, 0.94)  # the lesion is kept between these heights
WALL_THICKNESS = 0.44
# Band edges as fractions of the wall thickness and the band echo levels (hyper, hypo, hyper, hypo, hyper).
BAND_EDGES = (0.0, 0.16, 0.34, 0.62, 0.86, 1.0)
BAND_ECHO = (0.85, 0.22, 0.78, 0.20, 0.72)
LUMEN_ECHO = 0.04
TISSUE_ECHO = 0.42
ANCHOR_DEPTH = {"mucosa": 0.04, "muscularis_mucosae": 0.25, "submucosa": 0.48, "muscularis_propria": 0.74}
LESION_ECHO = {"hypoechoic": 0.15, "isoechoic": 0.48, "hyperechoic": 0.9}
GROWTH_UP = {"intraluminal": 0.85, "extraluminal": 0.15, "mixed": 0.5}  # share of the lesion above its anchor
# (half-width, half-height) of the outline's bounding ellipse, in lesion half-heights at size scale 1.
EXTENT = {"round": (1.0, 1.0), "oval": (1.36, 0.7), "lobulated": (1.0, 1.0), "irregular": (1.0, 1.0)}
LESION_HEIGHT = 0.48  # lesion height (scene units) at size scale 1
# Internal structures of a heterogeneous lesion, radii in scene units: several pixels at 32-48 px, far
# coarser than speckle, so they survive the pipeline's downsampling.
CYST_RADIUS = (0.065, 0.085)
FOCUS_RADIUS = (0.05, 0.062)


def _outline(rng: np.random.Generator, morphology: str) -> tuple[np.ndarray, np.ndarray]:
    """Outline radius r(phi) sampled at (angles, radii) knots; drawn once per case.

    Round and oval are smooth; lobulated is the union of 3-4 round lobes around the centre, meeting in
    deep notches; irregular is an angular zigzag of 5-7 sharp spikes of random length.
    """
    phase = rng.uniform(0, 2 * np.pi)
    if morphology == "irregular":  # zigzag: 5-7 sharp spikes of random length between sharp notches
        n = 2 * int(rng.integers(5, 8))
        angles = phase + 2 * np.pi * (np.arange(n) + rng.uniform(-0.2, 0.2, n)) / n
        radii = np.where(np.arange(n) % 2 == 0, rng.uniform(1.25, 1.5, n), rng.uniform(0.55, 0.72, n))
        return angles, radii
    angles = np.linspace(0, 2 * np.pi, 181)[:-1]
    radii = 1.0 + sum(rng.normal(0, 0.012) * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in (2, 3))
    if morphology == "lobulated":  # 3-4 round lobes (circles about the centre) meeting in deep notches
        lobes = int(rng.integers(3, 5))
        offset, lobe = (0.6, 0.47) if lobes == 3 else (0.6, 0.43)
        delta = (angles[:, None] - phase - 2 * np.pi * np.arange(lobes) / lobes) % (2 * np.pi)
        reach = offset * np.cos(delta) + np.sqrt(np.maximum(lobe**2 - (offset * np.sin(delta)) ** 2, 0.0))
        radii = radii - 1.0 + reach.max(axis=1) / (offset + lobe)
    return angles, radii


def _structures(rng: np.random.Generator) -> np.ndarray:
    """(x, y, radius, bright) rows of a heterogeneous lesion's cystic spaces and echogenic foci.

    Positions are in lesion half-widths / half-heights (inside 0.55 of the centre), radii in scene
    units; drawn once per case, so every view shows the same internal structure.
    """
    rows = []
    for bright, (low, high) in ((0.0, CYST_RADIUS), (1.0, FOCUS_RADIUS)):
        for _ in range(int(rng.integers(2, 4))):
            r, a = 0.55 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            rows.append((r * np.cos(a), r * np.sin(a), rng.uniform(low, high), bright))
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
    knot_angles, knot_radii = _outline(case_rng, morphology)
    stretch = case_rng.uniform(0.93, 1.07)
    structures = _structures(case_rng) if attributes["eus.echo_heterogeneity"] == "heterogeneous" else None

    # Lesion geometry, anchored in its origin layer (depths u below the wall surface).
    lesion_h = LESION_HEIGHT * size_scale
    extent_w, extent_h = EXTENT[morphology]
    half_h = lesion_h / 2 * extent_h
    half_w = lesion_h / 2 * extent_w * stretch
    anchor = ANCHOR_DEPTH[layer] * WALL_THICKNESS
    up = GROWTH_UP[attributes["eus.growth_pattern"]]
    centre_u = anchor + (0.5 - up) * 2 * half_h
    # Framing: the sonographer keeps the whole lesion in view, moving the wall up or down if needed.
    low, high = FRAME[0] - centre_u + 1.1 * half_h, FRAME[1] - centre_u - 1.1 * half_h
    wall_top = float(np.clip(WALL_TOP, low, high)) if low <= high else (low + high) / 2

    x, y = grid(height, width)
    px = 1.0 / height  # one render pixel in scene units

    # Pose: the scene (wall + lesion) moves under the fixed fan.
    angle = float(np.clip(image_rng.normal(0.0, 0.12), -0.3, 0.3))
    shift_x, shift_y = image_rng.uniform(-0.06, 0.06), image_rng.uniform(-0.04, 0.04)
    zoom = image_rng.uniform(0.9, 1.1)
    curvature = image_rng.uniform(0.0, 0.3)
    v, w = rotate(x - shift_x, y - 0.5 - shift_y, angle)
    v, w = v / zoom, w / zoom
    u = w + 0.5 - wall_top - curvature * v**2  # depth below the wall surface
    dv = v
    if attributes["eus.growth_pattern"] == "mixed":  # hourglass: pinched where it crosses its layer
        dv = v / (1.0 - 0.2 * np.exp(-(((u - anchor) / (0.25 * half_h)) ** 2)))
    nv, nu = dv / half_w, (u - centre_u) / half_h
    rho = np.hypot(nv, nu)
    outline = np.interp(np.arctan2(nu, nv), knot_angles, knot_radii, period=2 * np.pi)
    distance = signed_distance(rho - outline, px)

    # The wall drapes over the lesion: each band above its anchor runs around the lesion at a fixed distance
    # from its outline (into notches, around spikes), and likewise below, until it meets its own level.
    outside = np.maximum(distance, 0.0)
    u_src = np.where(u < anchor, np.maximum(u, anchor - outside), np.minimum(u, anchor + outside))
    tissue = smooth_noise(image_rng, (height, width), 0.05 * height)
    background = _layer_echo(u_src, WALL_THICKNESS, tissue)

    # Lesion interior: echo level, a faint even texture and, if heterogeneous, coarse internal structures.
    echo = LESION_ECHO[attributes["eus.echo_level"]]
    interior = echo + 0.03 * smooth_noise(image_rng, (height, width), 0.035 * height)
    if structures is not None:  # anechoic cystic spaces (black) and echogenic foci (bright)
        bright = max(0.85, echo + 0.55)
        for bx, by, radius, is_focus in structures:
            blob = soft_inside(np.hypot(dv - bx * half_w, u - centre_u - by * half_h) - radius, 0.6 * px)
            interior = interior * (1 - blob) + (bright if is_focus else 0.01) * blob
    interior = np.clip(interior, 0.01, 1.0)

    # Boundary: a sharp edge lined by a capsule about 2 px wide at 48 px (bright; a dark halo around bright
    # lesions), or a wide, ragged margin that fades into the wall.
    if attributes["eus.boundary"] == "clear":
        inside = soft_inside(distance, 0.6 * px)
        rim = (0.6 if echo < 0.6 else -0.6) * np.exp(-((distance / 0.032) ** 2))
    else:
        ragged = distance + 0.04 * smooth_noise(image_rng, (height, width), 0.035 * height)
        inside = soft_inside(ragged, 0.04)
        rim = 0.0
    scene = background * (1 - inside) + interior * inside + rim

    # Ultrasound physics: speckle, attenuation, near-field ring-down, fan field of view.
    r = np.hypot(x, y - APEX_Y)
    theta = np.arctan2(x, y - APEX_Y)
    grain = max(device.speckle_grain * height, 0.3)
    re = smooth_noise(image_rng, (height, width), grain)
    im = smooth_noise(image_rng, (height, width), grain)
    amplitude = np.hypot(re, im)
    strength = device.speckle * (1 - 0.6 * inside * (structures is None))  # homogeneous: fine, even echoes
    speckle = 1.0 + strength * (amplitude / amplitude.mean() - 1.0)
    scene = scene * speckle * np.exp(-device.attenuation * (r - 0.55))
    scene = scene + 0.7 * np.exp(-(((r - NEAR_FIELD - 0.02) / 0.015) ** 2))
    half_angle = np.deg2rad(device.fan_degrees) / 2
    fan = soft_inside(np.abs(theta) - half_angle, 0.01) * soft_inside(NEAR_FIELD - r, px)
    return np.clip(scene, 0.0, 1.5) * fan
