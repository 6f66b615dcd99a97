"""Config layering: `_replace: true` replaces a default mapping, recipes sit between the default and the user's
files, and Snakemake sees the same config as `mmdiag.config.load_config`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mmdiag.config import load_config
from mmdiag.config.layering import layer_all, layered_config, load_layered, recipe_name
from mmdiag.errors import ConfigError
from workflow_sandbox import REPO, copy_workflow, run, sandbox_env, tool


def test_a_mapping_merges_unless_it_says_replace() -> None:
    default = {"arms": {"a": {"x": 1}, "b": {"x": 2}}, "keep": {"k": 1}, "lst": [1, 2, 3]}
    merged = layer_all([default, {"arms": {"c": {"x": 3}}, "lst": [9]}])
    assert list(merged["arms"]) == ["a", "b", "c"] and merged["lst"] == [9]  # lists always replace
    replaced = layer_all([default, {"arms": {"_replace": True, "c": {"x": 3}}}])
    assert replaced["arms"] == {"c": {"x": 3}} and replaced["keep"] == {"k": 1}
    nested = layer_all([default, {"arms": {"a": {"_replace": True, "y": 0}}}])
    assert nested["arms"] == {"a": {"y": 0}, "b": {"x": 2}}
    assert layer_all([default, {"arms": {"_replace": False, "c": {}}}])["arms"].keys() == {"a", "b", "c"}


def test_recipe_sits_between_the_default_and_the_users_files(tmp_path: Path) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "real_data.yaml").write_text(yaml.safe_dump({"trainer": {"batch_size": 64, "select": "val_AUC"}}))
    default = {"dataset": {"source": "synthetic"}, "trainer": {"batch_size": 32, "select": "val_loss"}}
    assert layered_config(default, recipes_dir=recipes)["trainer"]["batch_size"] == 32  # embedded: no file
    user = {"dataset": {"source": "folder"}, "trainer": {"select": "val_Acc"}}
    got = layered_config(default, [user], recipes_dir=recipes)
    assert got["recipe"] == "real_data"
    assert got["trainer"] == {"batch_size": 64, "select": "val_Acc"}  # the user's explicit setting wins
    assert layered_config(default, [{**user, "recipe": "embedded"}], recipes_dir=recipes)["trainer"]["batch_size"] == 32
    with pytest.raises(ConfigError, match="recipe: 'nope' has no file"):
        layered_config(default, [{"recipe": "nope"}], recipes_dir=recipes)


def test_recipe_auto_follows_the_source() -> None:
    assert recipe_name({"dataset": {"source": "synthetic"}}) == "embedded"
    assert recipe_name({"dataset": {"source": "medmnist"}}) == "real_data"
    assert recipe_name({"recipe": "mine", "dataset": {"source": "synthetic"}}) == "mine"


def test_load_config_replaces_the_default_arms(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "tmmnet:\n  arms:\n    _replace: true\n    only: {modalities: [first]}\n"
        "  comparison: {arms: [only]}\n  text_guidance: {arms: []}\n  cv: {arm: only}\n"
    )
    cfg = load_config(REPO / "config" / "config.yaml", mine)
    assert list(cfg["tmmnet"]["arms"]) == ["only"] and "_replace" not in cfg["tmmnet"]["arms"]
    assert cfg["recipe"] == "embedded"
    assert load_layered([REPO / "config" / "config.yaml", mine])["tmmnet"]["cv"]["arm"] == "only"


@pytest.mark.slow
def test_snakemake_layers_the_same_way(tmp_path: Path) -> None:
    """A dry run with the user file above: only the one arm's jobs, and the left-out line in the log."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "studies: [tmmnet]\n"
        "tmmnet:\n  arms:\n    _replace: true\n    only: {modalities: [first]}\n    again: {modalities: [eus]}\n"
        "  comparison: {backbones: [], arms: []}\n  text_guidance: {backbones: [], arms: []}\n"
        "  cv: {arm: only}\nsplits: {cv: {centres: []}}\n"
    )
    cmd = [tool("snakemake"), "-n", "--cores", "1", "--configfile", str(mine), "--config", "seed=3", "--", "all"]
    proc = run(cmd, copy_workflow(tmp_path / "wf"), 120, sandbox_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "runs/tmmnet/resnet18_os8/only/seed3/metrics.json" in proc.stdout
    assert "/runs/tmmnet/resnet18_os8/baseline1/" not in proc.stdout
    assert "mmdiag: left out: arm again: same run as arm only" in proc.stdout
