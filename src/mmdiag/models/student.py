"""Knowledge-distillation students: the teacher's architecture at a smaller width, with ~40% of its parameters.

The hybrid Swin paper (§1, METHODS.md §4) distils its model into a student with 40% of the parameters but
does not say how the student is built. Our choice: keep the teacher's topology (same depth, same blocks) and
shrink its channel-width factor, so the comparison isolates capacity. The factor is the point of a 0.01 grid
whose parameter ratio is nearest the target, found by bisection (the parameter count never decreases with
width), so the same teacher always gives the same student. Candidates are built on the `meta` device: no
memory is allocated and no weights initialised, only shapes counted.

Model specs are `{"name": <MODELS name>, **registry kwargs}`. The width knob of each family is listed in
`WIDTH_KEYS` (a key path into the spec).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mmdiag.models import dualbranch, tmmnet  # noqa: F401  (registers the model families)
from mmdiag.models.encoders.timm_image import count_parameters
from mmdiag.models.spec import build_model

WIDTH_KEYS: dict[str, tuple[str, ...]] = {
    "dualbranch_resnet": ("width",),  # every dualbranch_resnet* variant
    "tmmnet": ("encoder", "width"),  # the timm image encoders (CNN families with a width factor)
    "image_text": ("encoder", "width"),
}
GRID = 100  # width factors k / GRID, k = 1..GRID
# A student is trained against its teacher's outputs on the same samples (mmdiag.models.image_text.Distiller):
# cases without every modality are dropped for the pair (data.missing_modality: drop), never tokenised.
SUPPORTS_MISSING_MODALITY = False


def width_key(name: str) -> tuple[str, ...]:
    """The key path of `name`'s width factor (longest matching family prefix)."""
    matches = [family for family in WIDTH_KEYS if name.startswith(family)]
    if not matches:
        raise ValueError(f"no width knob known for model '{name}' (families: {', '.join(WIDTH_KEYS)})")
    return WIDTH_KEYS[max(matches, key=len)]


def spec_parameters(spec: Mapping[str, Any]) -> int:
    """Parameter count of a spec, built on the meta device (shapes only)."""
    with torch.device("meta"):
        return count_parameters(build_model(spec))


def parameter_ratio(student: nn.Module | Mapping[str, Any], teacher: nn.Module | Mapping[str, Any]) -> float:
    """Student parameters / teacher parameters, from built models or specs."""

    def count(x: nn.Module | Mapping[str, Any]) -> int:
        return count_parameters(x) if isinstance(x, nn.Module) else spec_parameters(x)

    return count(student) / count(teacher)


def make_student(
    teacher_cfg: Mapping[str, Any],
    target_ratio: float = 0.4,
    tolerance: float = 0.05,
    key: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A student spec: `teacher_cfg` with its width factor scaled so the parameter ratio is nearest `target_ratio`.

    Args:
        teacher_cfg: the teacher's spec `{"name": ..., **kwargs}`.
        target_ratio: wanted student / teacher parameter ratio.
        tolerance: the chosen ratio must lie within target_ratio ± tolerance (default: 35-45%), else ValueError.
        key: path of the width factor in the spec; default from `WIDTH_KEYS` by model name.

    Returns:
        A new spec (the teacher's is not modified).
    """
    if not 0.0 < target_ratio < 1.0:
        raise ValueError(f"target_ratio must be in (0, 1), got {target_ratio}")
    path = tuple(key) if key is not None else width_key(teacher_cfg["name"])
    base = _get(teacher_cfg, path)
    base = 1.0 if base is None else float(base)
    teacher_params = spec_parameters(teacher_cfg)

    def candidate(k: int) -> dict[str, Any]:
        return _set(teacher_cfg, path, round(base * k / GRID, 6))

    @functools.cache
    def ratio(k: int) -> float:
        return spec_parameters(candidate(k)) / teacher_params

    lo, hi = 1, GRID  # invariant: ratio(hi) >= target (ratio(GRID) = 1)
    while lo < hi:
        mid = (lo + hi) // 2
        if ratio(mid) >= target_ratio:
            hi = mid
        else:
            lo = mid + 1
    best = min((k for k in (hi - 1, hi) if k >= 1), key=lambda k: (abs(ratio(k) - target_ratio), -k))
    got = ratio(best)
    if abs(got - target_ratio) > tolerance:
        raise ValueError(
            f"no width factor gives {target_ratio:.0%} ± {tolerance:.0%} of the parameters of '{teacher_cfg['name']}' "
            f"(nearest: {got:.1%} at width {base * best / GRID:.4g}); parts without a width knob may dominate"
        )
    return candidate(best)


def _get(cfg: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = cfg
    for part in path[:-1]:
        if not isinstance(node.get(part), Mapping):
            raise KeyError(f"model spec has no '{'.'.join(path[:-1])}' section for its width factor")
        node = node[part]
    return node.get(path[-1])


def _set(cfg: Mapping[str, Any], path: tuple[str, ...], value: float) -> dict[str, Any]:
    out = copy.deepcopy(dict(cfg))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out
