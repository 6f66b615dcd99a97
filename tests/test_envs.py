"""The conda environments (`--sdm conda`) carry the same packages, at the same versions, as pyproject.toml.

Not used in CI (no conda here): these checks keep the files honest. Each env must parse, list only
pyproject dependencies with pyproject's version ranges, and cover every third-party import its rules'
scripts can reach (static import closure, as for dvc.yaml's code deps); together the envs cover every
dependency except the workflow tools, which run outside them.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from mmdiag.dvc_yaml import module_closure
from workflow_sandbox import REPO

ENVS = REPO / "envs"
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "dvc"}  # run Snakemake/DVC, not rules
IMPORT_TO_DIST = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn", "pytorch_grad_cam": "grad-cam"}
# which environment each workflow script (= rule group) runs in; rules name it with `conda: "../envs/<env>.yaml"`
ENV_OF_SCRIPT = {
    "download": "data",
    "build_corpus": "data",
    "preprocess": "data",
    "pretrain": "train",
    "train_arm": "train",
    "cv_fold": "train",
    "cross_validate": "train",
    "distillation": "train",
    "dualbranch": "train",
    "fusion_study": "train",
    "table": "report",
    "figure": "report",
    "study_overview": "report",
}


def _pyproject() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in deps}


def _env(name: str) -> dict[str, str]:
    """pip requirements of one env file, name -> specifier."""
    doc = yaml.safe_load((ENVS / f"{name}.yaml").read_text())
    assert doc["name"] == name and "conda-forge" in doc["channels"]
    deps = doc["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert all(isinstance(d, str) for d in deps if not isinstance(d, dict)), "conda packages: python and pip only"
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in pip}


def _third_party(script: Path) -> set[str]:
    """Distributions imported by a workflow script and every mmdiag module it can reach."""
    text = script.read_text()
    roots = {m.split(":")[0] for m in [*_strings(ast.parse(text))] if m.startswith("mmdiag.")}
    files = [script, *module_closure(REPO / "src", roots | {"mmdiag.workflow"})]
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    names -= set(sys.stdlib_module_names) | {"mmdiag", "__future__", "snakemake"}
    return {IMPORT_TO_DIST.get(n, n).lower() for n in names}


def _strings(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


ENV_NAMES = sorted(p.stem for p in ENVS.glob("*.yaml"))


@pytest.mark.parametrize("name", ENV_NAMES)
def test_env_lists_pyproject_dependencies_with_their_versions(name: str) -> None:
    declared = _pyproject()
    for dist, spec in _env(name).items():
        assert dist in declared, f"envs/{name}.yaml: {dist} is not a dependency in pyproject.toml"
        assert spec == declared[dist], f"envs/{name}.yaml: {dist}{spec}, pyproject.toml says {dist}{declared[dist]}"


def test_envs_together_cover_every_dependency() -> None:
    listed = set().union(*(_env(n) for n in ENV_NAMES))
    assert listed == set(_pyproject()) - DRIVER_ONLY


def test_every_workflow_script_has_an_env() -> None:
    scripts = {p.stem for p in (REPO / "workflow_scripts").glob("*.py")}
    assert scripts == set(ENV_OF_SCRIPT), "assign new workflow scripts an env in ENV_OF_SCRIPT (and a conda: line)"
    assert set(ENV_OF_SCRIPT.values()) == set(ENV_NAMES)


@pytest.mark.parametrize("script", sorted(ENV_OF_SCRIPT))
def test_env_covers_what_the_script_imports(script: str) -> None:
    path = REPO / "workflow_scripts" / f"{script}.py"
    if not path.exists():
        pytest.skip(f"no workflow_scripts/{script}.py")
    env = ENV_OF_SCRIPT[script]
    missing = _third_party(path) - set(_env(env))
    assert not missing, f"envs/{env}.yaml lacks {sorted(missing)}, imported by workflow_scripts/{script}.py's code"
