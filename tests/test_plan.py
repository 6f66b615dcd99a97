"""The plan: which studies, arms and rows run on a dataset, decided from config + dataset facts before any job.

Fake facts stand for the datasets of issue 11 (one modality with or without reports and attributes, a
multiclass set, two modalities with missing images); the real default config is planned on each.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mmdiag.config import load_config, validate_config
from mmdiag.data.facts import DatasetFacts, declared_facts, folder_facts
from mmdiag.errors import ConfigError
from mmdiag.plan import LeftOut, make_plan, resolve_modality

REPO = Path(__file__).resolve().parents[1]
PAPER_ARMS = [
    "baseline1",
    "baseline2",
    "baseline1_eus_stage1",
    "baseline2_wle_stage1",
    "direct_fusion",
    "stage1",
    "stages12",
    "attributes_no_text",
    "tmmnet",
]


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return load_config(REPO / "config" / "config.yaml")


def facts(**kw: Any) -> DatasetFacts:
    base: dict[str, Any] = {
        "modalities": {"us": 1},
        "labels": ["benign", "malignant"],
        "has_reports": False,
        "centres": ["site1"],
        "cases_per_centre": {"site1": 100},
    }
    return DatasetFacts(**{**base, **kw})


def whats(plan: Any) -> dict[str, str]:
    return {item.what: item.reason for item in plan.left_out}


def test_embedded_dataset_keeps_every_paper_arm_and_name(default: dict[str, Any]) -> None:
    plan = make_plan(default, declared_facts(default))
    assert list(plan.arms) == PAPER_ARMS
    assert plan.arms["tmmnet"]["modalities"] == ["eus", "wle"] and plan.arms["baseline2"]["modalities"] == ["wle"]
    assert plan.left_out == []
    assert plan.studies == ["tmmnet", "fusion_study", "distillation", "dualbranch"]
    assert plan.comparison["arms"] == ["baseline1", "baseline2", "direct_fusion"]
    assert plan.text_guidance["arms"] == ["direct_fusion", "stage1", "stages12"]
    assert (plan.full_arm, plan.guided_fusion_arm, plan.cv_arm) == ("tmmnet", "stages12", "tmmnet")
    assert (plan.single_centre, plan.multi_centre, plan.cv_centres) == (
        "centre_a",
        "centre_b",
        ["centre_a", "centre_b"],
    )
    assert plan.fusion == {"image_modalities": ["eus"], "text": "report.wle", "studies": list(plan.fusion["studies"])}
    assert (plan.distillation, plan.dualbranch, plan.seeds) == (["eus", "wle"], ["eus", "wle"], [0])


def test_resolved_config_is_valid_and_names_the_datasets_modalities(default: dict[str, Any]) -> None:
    plan = make_plan(default, declared_facts(default))
    resolved = validate_config(plan.resolved_config(default))
    assert resolved["tmmnet"]["arms"]["stage1"]["modalities"] == ["eus", "wle"]
    assert resolved["splits"]["multi_centre"]["target"] == "centre_b"
    assert resolved["splits"]["cv"]["centres"] == ["centre_a", "centre_b"]
    assert resolved["fusion_study"]["text"] == "report.wle"
    assert default["tmmnet"]["arms"]["stage1"]["modalities"] == ["first", "second"]  # the input is not modified


def test_one_modality_without_reports_or_attributes(default: dict[str, Any]) -> None:
    """MedMNIST-like: only the image baseline of TMM-Net, no text or fusion rows, no dual-branch."""
    plan = make_plan(default, facts())
    assert list(plan.arms) == ["baseline1"] and plan.arms["baseline1"]["modalities"] == ["us"]
    out = whats(plan)
    assert "second modality" in out["arm baseline2"] and "second modality" in out["arm direct_fusion"]
    assert "reports" in out["arm baseline1_eus_stage1"]
    assert "study dualbranch" in out and "multi-centre evaluation" in out
    assert "tmmnet_t2_text_guidance" in out and "tmmnet_t3_ablation_tests" in out
    assert plan.studies == ["tmmnet", "fusion_study", "distillation"]
    assert plan.comparison["arms"] == ["baseline1"] and plan.text_guidance["arms"] == []
    assert plan.cv_arm == "baseline1" and "instead" in out["cross-validation of arm tmmnet"]
    assert plan.fusion is not None and plan.fusion["text"] is None and "strategies" not in plan.fusion["studies"]
    assert "modality_disagreement" not in plan.objectives and "objective modality_disagreement" in out
    assert plan.distillation == ["us"] and plan.dualbranch is None
    assert (plan.single_centre, plan.multi_centre, plan.cv_centres) == ("site1", None, ["site1"])
    for item in plan.left_out:  # one line each, saying what and why
        assert "\n" not in item.line and item.reason


def test_one_modality_with_reports_gets_stage1_and_the_whole_report(default: dict[str, Any]) -> None:
    plan = make_plan(default, facts(has_reports=True))
    assert list(plan.arms) == ["baseline1", "baseline1_eus_stage1"]
    assert "attribute" not in " ".join(whats(plan).get("arm baseline1_eus_stage1", ""))
    assert plan.fusion["text"] == "report" and "strategies" in plan.fusion["studies"]
    assert "report.second" in " ".join(whats(plan))  # the fusion study says which report it uses instead


def test_attributes_without_reports_leave_out_only_the_text_arms(default: dict[str, Any]) -> None:
    f = facts(modalities={"ct": 1, "mr": 1}, attributes={"ct": {"margin": ["smooth", "spiculated"]}})
    plan = make_plan(default, f)
    assert list(plan.arms) == ["baseline1", "baseline2", "direct_fusion", "attributes_no_text"]
    out = whats(plan)
    assert all("reports" in out[f"arm {a}"] for a in ("stage1", "stages12", "tmmnet"))


def test_no_attributes_leaves_out_stage2_and_attributes_no_text(default: dict[str, Any]) -> None:
    plan = make_plan(default, facts(modalities={"ct": 1, "mr": 1}, has_reports=True))
    assert "stages12" not in plan.arms and "attributes_no_text" not in plan.arms and "tmmnet" not in plan.arms
    assert "attribute" in whats(plan)["arm stages12"]
    assert "stage1" in plan.arms and plan.cv_arm == "stage1"


def test_literal_names_that_collapse_are_scheduled_once(default: dict[str, Any]) -> None:
    """A user who points every baseline at the one modality gets one row, the others say whose copy they are."""
    cfg = copy.deepcopy(default)
    cfg["tmmnet"]["arms"] = {
        "baseline1": {"modalities": ["us"]},
        "baseline2": {"modalities": ["us"]},
        "direct_fusion": {"modalities": ["us"]},
        "guided": {"modalities": ["first"], "stage1": True},
    }
    cfg["tmmnet"]["comparison"]["arms"] = ["baseline1", "baseline2", "direct_fusion"]
    cfg["tmmnet"]["text_guidance"]["arms"] = ["guided", "stages12"]  # stages12 is no longer an arm
    plan = make_plan(cfg, facts(has_reports=True))
    assert list(plan.arms) == ["baseline1", "guided"]
    out = whats(plan)
    assert (
        "same run as arm baseline1" in out["arm baseline2"] and "same run as arm baseline1" in out["arm direct_fusion"]
    )
    assert plan.comparison["arms"] == ["baseline1"] and plan.text_guidance["arms"] == ["guided"]
    assert "names no arm" in out["tmmnet_t2_text_guidance row stages12"]
    assert plan.left_out_for_table("tmmnet_t1_comparison") == [
        f"arm {a}: {out[f'arm {a}']}" for a in ("baseline2", "direct_fusion")
    ]


def test_an_unknown_literal_modality_is_a_config_error(default: dict[str, Any]) -> None:
    cfg = copy.deepcopy(default)
    cfg["tmmnet"]["arms"]["baseline1"] = {"modalities": ["eus"]}
    with pytest.raises(ConfigError, match=r"tmmnet.arms.baseline1.modalities: modality 'eus' is not in the dataset"):
        make_plan(cfg, facts())


def test_multiclass_dataset_runs_the_same_rows_as_binary(default: dict[str, Any]) -> None:
    binary = make_plan(default, facts(has_reports=True))
    multi = make_plan(default, facts(has_reports=True, labels=["a", "b", "c", "d"], task="multiclass"))
    assert list(multi.arms) == list(binary.arms) and multi.studies == binary.studies


def test_missing_modalities_are_named_and_the_token_less_models_drop(default: dict[str, Any]) -> None:
    f = facts(
        modalities={"ct": 1, "mr": 1},
        complete=False,
        coverage={("ct", "mr"): 70, ("ct",): 20, ("mr",): 10},
    )
    plan = make_plan(default, f)
    assert "30 of 100 cases lack a modality" in whats(plan)["cases lacking a modality"]
    cfg = copy.deepcopy(default)
    cfg["data"] = {**cfg.get("data", {}), "missing_modality": "token"}
    out = whats(make_plan(cfg, f))
    assert "dualbranch on cases lacking a modality" in out and "distillation on cases lacking a modality" in out
    assert "cases lacking a modality" not in out


def test_centres_follow_the_data(default: dict[str, Any]) -> None:
    f = facts(centres=["x", "y", "z"], cases_per_centre={"x": 50, "y": 6, "z": 40})
    plan = make_plan(default, f)
    assert (plan.single_centre, plan.multi_centre) == ("x", "y")
    assert plan.cv_centres == ["x", "z"] and "6 cases" in whats(plan)["cross-validation of centre y"]
    cfg = copy.deepcopy(default)
    cfg["splits"]["multi_centre"]["target"] = "nowhere"
    with pytest.raises(ConfigError, match=r"splits\.multi_centre\.target: centre 'nowhere'"):
        make_plan(cfg, f)


def test_seeds_default_to_the_config_seed(default: dict[str, Any]) -> None:
    cfg = copy.deepcopy(default)
    assert make_plan(cfg, facts()).seeds == [cfg["seed"]]
    cfg["tmmnet"]["seeds"] = [3, 1, 2]
    plan = make_plan(cfg, facts())
    assert plan.seeds == [3, 1, 2] and plan.first_seed == 3
    assert plan.resolved_config(cfg)["tmmnet"]["seeds"] == [3, 1, 2]


def test_overview_pages_name_their_study_and_the_studies_left_out(default: dict[str, Any]) -> None:
    plan = make_plan(default, facts())
    tmm = plan.left_out_for_overview("tmmnet_overview")
    distill = plan.left_out_for_overview("distill_overview")
    assert any(line.startswith("arm baseline2:") for line in tmm)
    assert any(line.startswith("study dualbranch:") for line in distill)  # no page of its own
    assert not any(line.startswith("arm baseline2:") for line in distill)


def test_roles_resolve_in_dataset_order() -> None:
    assert resolve_modality("second", ["a", "b"], "x") == "b"
    assert LeftOut("arm x", "why").line == "arm x: why"


def test_folder_facts_read_tables_only(tmp_path: Path) -> None:
    from byo_fixtures import delete_line, write_valid_dataset

    root = write_valid_dataset(tmp_path / "ds")
    got = folder_facts(root)
    assert got.modalities == {"eus": 1, "wle": 3} and got.centres == ["centre_a", "centre_b"]
    assert got.has_reports and got.report_sections == ["eus", "wle"] and got.complete
    assert got.attributes["wle"]["location"][0] == "cardia" and got.cases_per_centre == {"centre_a": 2, "centre_b": 2}
    delete_line(root / "images.csv", "c2,wle,images/c2/wle_0.jpg")
    (root / "reports.csv").unlink()
    got = folder_facts(root)
    assert got.complete is False and got.coverage == {("eus", "wle"): 3, ("eus",): 1} and not got.has_reports


def test_a_folder_not_made_yet_plans_blind_and_says_so(default: dict[str, Any], tmp_path: Path) -> None:
    """A preset for your own data must still dry-run before the folder exists (the download job then stops)."""
    cfg = copy.deepcopy(default)
    cfg["dataset"] = {"name": "mine", "source": "folder", "folder": {"path": str(tmp_path / "not_yet")}}
    f = declared_facts(cfg)
    assert not f.known and "holds no dataset.yaml" in f.unknown_reason
    plan = make_plan(cfg, f)
    assert list(plan.arms) == PAPER_ARMS and plan.arms["tmmnet"]["modalities"] == ["first", "second"]
    assert [i.what for i in plan.left_out] == ["checks against the data"]
