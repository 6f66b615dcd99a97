"""Distillation students: ~40% of the teacher's parameters by a deterministic width search, for the dual-branch
ResNet and a timm-encoder model (TMM-Net); parameter ratios from specs or built models."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from mmdiag.models.spec import build_model
from mmdiag.models.student import make_student, parameter_ratio, width_key

torch.set_num_threads(1)

DUAL: dict[str, Any] = {"name": "dualbranch_resnet50", "modalities": ["path", "organ"], "num_classes": 9, "width": 0.25}
TIMM: dict[str, Any] = {
    "name": "tmmnet",
    "modalities": ["eus", "wle"],
    "num_classes": 2,
    "in_chans": {"eus": 1, "wle": 3},
    "encoder": {"model_name": "resnet18", "width": 0.25, "pretrained": "off"},
}


@pytest.mark.parametrize("teacher", [DUAL, TIMM], ids=["dualbranch", "tmmnet"])
def test_student_has_about_40_percent(teacher: dict[str, Any]) -> None:
    before = copy.deepcopy(teacher)
    student = make_student(teacher)
    assert teacher == before  # the teacher's spec is not modified
    assert 0.35 <= parameter_ratio(student, teacher) <= 0.45
    path = width_key(teacher["name"])
    t_width, s_width = teacher, student
    for part in path:
        t_width, s_width = t_width[part], s_width[part]
    assert s_width < t_width
    # only the width changes: same family, same everything else
    assert {k: v for k, v in student.items() if k != path[0]} == {k: v for k, v in teacher.items() if k != path[0]}
    assert make_student(teacher) == student  # deterministic


def test_target_ratio_is_followed() -> None:
    small, large = make_student(DUAL, target_ratio=0.25), make_student(DUAL, target_ratio=0.6)
    assert abs(parameter_ratio(small, DUAL) - 0.25) <= 0.05
    assert abs(parameter_ratio(large, DUAL) - 0.6) <= 0.05
    assert small["width"] < large["width"]


def test_ratio_from_built_models_matches_specs() -> None:
    teacher = {**DUAL, "width": 0.125}
    student = make_student(teacher)
    torch.manual_seed(0)
    built = parameter_ratio(build_model(student), build_model(teacher))
    assert built == pytest.approx(parameter_ratio(student, teacher))


def test_unreachable_ratio_and_unknown_families_fail() -> None:
    with pytest.raises(ValueError, match="no width factor gives 40%"):
        make_student(DUAL, key=("drop_rate",))  # a knob that does not change the parameter count
    with pytest.raises(ValueError, match="no width knob known"):
        make_student({"name": "some_other_model"})
    with pytest.raises(ValueError, match="width scaling is not defined"):
        make_student({**TIMM, "encoder": {"model_name": "vit_tiny_patch16_224", "pretrained": "off"}})
    with pytest.raises(ValueError, match="target_ratio"):
        make_student(DUAL, target_ratio=1.5)
