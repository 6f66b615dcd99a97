"""What a dataset declares, known before any job runs: the facts the DAG is shaped by (contract C4).

`declared_facts(config)` reads only what is cheap and already on disk, never downloading or decoding
an image, so Snakemake can decide at parse time which studies, arms and table rows exist:

- `folder`: `dataset.yaml`, the header of `reports.csv` (or its absence), and the `centre` /
  `case_id,modality` columns of `cases.csv` / `images.csv` (centres, cases per centre, coverage);
- `synthetic`: the generator's config (its modalities, labels and attribute vocabularies are fixed);
- `medmnist`, `medmnist_pair`: the subset table of the installed `medmnist` package (`medmnist/info.py`,
  loaded on its own: importing the package pulls in torch); no reports (contract C1);
- `ham10000`: the dataset's fixed facts (7 classes, one dermoscopy modality, templated reports, the four
  image sources of its metadata as centres).

`mmdiag.plan` turns these facts and the config into what runs.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mmdiag.errors import ConfigError

# The `dataset` column of HAM10000_metadata.csv (the image source), which the converter uses as centre.
HAM10000_CENTRES = ("rosendahl", "vidir_modern", "vidir_molemax", "vienna_dias")


@dataclass(frozen=True)
class DatasetFacts:
    """The dataset as the plan sees it.

    Attributes:
        modalities: name -> channels, in the dataset's order (the roles `first`, `second` follow it).
        labels: class names; `task` binary | multiclass; `positive_label` the class SEN refers to.
        attributes: modality -> attribute -> vocabulary (empty: no attribute annotation).
        has_reports: whether the dataset has reports at all (a folder without `reports.csv` has none).
        report_sections: the `<section>` of every `report.<section>` column (e.g. `eus`, `wle`).
        centres: centres in order (dataset.yaml's when declared, else first appearance in cases.csv).
        complete: every case has every modality (None: not known before the data is read).
        cases_per_centre: number of cases per centre, when known.
        coverage: sorted tuple of present modalities -> number of cases, when known.
        known: False when the dataset is not there yet (a folder still to be made): nothing is known, and
            `unknown_reason` says why.
    """

    modalities: dict[str, int]
    labels: list[str]
    task: str = "binary"
    positive_label: str | None = None
    attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    has_reports: bool = True
    report_sections: list[str] = field(default_factory=list)
    centres: list[str] = field(default_factory=list)
    complete: bool | None = True
    name: str = ""
    source: str = ""
    cases_per_centre: dict[str, int] = field(default_factory=dict)
    coverage: dict[tuple[str, ...], int] = field(default_factory=dict)
    known: bool = True
    unknown_reason: str = ""

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    def has_attributes(self, modalities: list[str] | None = None) -> bool:
        """Whether any of `modalities` (default: any modality) declares at least one attribute."""
        mods = self.modalities if modalities is None else modalities
        return any(self.attributes.get(m) for m in mods)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "coverage"}
        out["coverage"] = {"+".join(k): v for k, v in self.coverage.items()}
        return out


def declared_facts(config: Mapping[str, Any]) -> DatasetFacts:
    """The facts of the configured dataset (`dataset.source` and its section), without touching images.

    Raises:
        ConfigError: unknown source, or a folder that is not there / has no dataset.yaml.
    """
    from mmdiag.config.sections import DatasetConfig

    ds = config.get("dataset") or {}
    source = ds.get("source", DatasetConfig.source)
    section = dict(ds.get(source) or {})
    readers = {
        "folder": _folder,
        "synthetic": _synthetic,
        "medmnist": _medmnist,
        "medmnist_pair": _medmnist_pair,
        "ham10000": _ham10000,
    }
    if source not in readers:
        raise ConfigError(f"dataset.source: no facts reader for source {source!r} (known: {', '.join(readers)})")
    facts = readers[source](section)
    return DatasetFacts(**{**facts.__dict__, "name": str(ds.get("name", facts.name)), "source": source})


def facts_from_meta(meta: Mapping[str, Any]) -> DatasetFacts:
    """Facts of a preprocessed dataset from its cache `meta.json` (for library code run without the DAG)."""
    spec = meta.get("dataset") or {}
    columns = list(meta.get("report_columns") or [])
    return DatasetFacts(
        modalities={m: int((v or {}).get("channels", 3)) for m, v in (spec.get("modalities") or {}).items()},
        labels=[str(x) for x in spec.get("labels") or []],
        task=str(spec.get("task", "binary")),
        positive_label=spec.get("positive_label"),
        attributes={m: {a: list(v) for a, v in av.items()} for m, av in (spec.get("attributes") or {}).items()},
        has_reports=bool(meta.get("has_reports", bool(columns))),
        report_sections=[c.removeprefix("report.") for c in columns if c.startswith("report.")],
        centres=[str(c) for c in spec.get("centres") or []],
        complete=None,
        name=str(spec.get("name", "")),
    )


# ------------------------------------------------------------------------------------------ folder
def folder_facts(root: str | Path) -> DatasetFacts:
    """Facts of a BYO folder from its tables (images are never opened)."""
    from mmdiag.data.format import CASES_CSV, IMAGES_CSV, REPORTS_CSV, read_spec

    root = Path(root)
    spec = read_spec(root)
    cases = _csv_columns(root / CASES_CSV, ("case_id", "centre"))
    order: dict[str, int] = {}
    for centre in cases["centre"]:
        order[centre] = order.get(centre, 0) + 1
    declared = [c for c in spec.centres if c in order]
    centres = declared + [c for c in order if c not in declared]
    images = _csv_columns(root / IMAGES_CSV, ("case_id", "modality"))
    present: dict[str, set[str]] = {cid: set() for cid in cases["case_id"]}
    for cid, modality in zip(images["case_id"], images["modality"]):
        present.setdefault(cid, set()).add(modality)
    names = list(spec.modalities)
    coverage: dict[tuple[str, ...], int] = {}
    for mods in present.values():
        key = tuple(m for m in names if m in mods)
        coverage[key] = coverage.get(key, 0) + 1
    reports = root / REPORTS_CSV
    header = _csv_header(reports) if reports.is_file() else []
    return DatasetFacts(
        modalities={m: s.channels for m, s in spec.modalities.items()},
        labels=list(spec.labels),
        task=spec.task,
        positive_label=spec.positive_label,
        attributes={m: {a: list(v) for a, v in av.items()} for m, av in spec.attributes.items()},
        has_reports=reports.is_file(),
        report_sections=[c.removeprefix("report.") for c in header if c.startswith("report.")],
        centres=centres or list(spec.centres),
        complete=all(len(k) == len(names) for k in coverage) if coverage else None,
        name=spec.name,
        cases_per_centre={c: order[c] for c in centres},
        coverage=coverage,
    )


def _folder(section: Mapping[str, Any]) -> DatasetFacts:
    path = section.get("path")
    if not path:
        raise ConfigError("dataset.folder.path: required; set it to your dataset folder (docs/data_format.md)")
    from mmdiag.data.format import DATASET_YAML

    root = Path(path).expanduser()
    if not (root / DATASET_YAML).is_file():  # not made yet (a preset for your own data): plan blind
        return DatasetFacts(
            modalities={},
            labels=[],
            complete=None,
            known=False,
            unknown_reason=f"dataset.folder.path: {root} holds no {DATASET_YAML} (yet)",
        )
    return folder_facts(root)


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [c.strip() for c in next(csv.reader(fh), [])]


def _csv_columns(path: Path, columns: tuple[str, ...]) -> dict[str, list[str]]:
    """Only `columns` of a CSV (cheap: no pandas); a missing file or column gives empty lists
    (the validator of the download job names such problems with their line)."""
    out: dict[str, list[str]] = {c: [] for c in columns}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for c in columns:
                out[c].append(str(row.get(c) or "").strip())
    return out


# ------------------------------------------------------------------------------------------ generated
def _synthetic(section: Mapping[str, Any]) -> DatasetFacts:
    from mmdiag.data.synthetic import LABELS, POSITIVE_LABEL, VOCABULARIES, SyntheticConfig

    cfg = SyntheticConfig.from_dict(dict(section))
    mods = {"eus": 1, "wle": 3}  # what mmdiag.data.synthetic.generate renders
    return DatasetFacts(
        modalities=mods,
        labels=list(LABELS),
        task="binary",
        positive_label=POSITIVE_LABEL,
        attributes={m: {a: list(v) for a, v in av.items()} for m, av in VOCABULARIES.items()},
        has_reports=True,
        report_sections=list(mods),
        centres=[c.name for c in cfg.centres],
        complete=True,
        name=str(getattr(cfg, "name", "")),
        cases_per_centre={c.name: int(c.n_cases) for c in cfg.centres},
        coverage={tuple(mods): sum(int(c.n_cases) for c in cfg.centres)},
    )


def _medmnist_info() -> dict[str, dict[str, Any]]:
    """`medmnist.info.INFO`, loaded from its file alone (the package's __init__ imports torch)."""
    spec = importlib.util.find_spec("medmnist")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the MedMNIST sources need the 'medmnist' package (pip install medmnist)")
    path = Path(next(iter(spec.submodule_search_locations))) / "info.py"
    module_spec = importlib.util.spec_from_file_location("_mmdiag_medmnist_info", path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot read the MedMNIST subset table {path}")
    module = ModuleType(module_spec.name)
    module.__file__ = str(path)
    module_spec.loader.exec_module(module)
    return module.INFO


def _medmnist_subset(
    info: Mapping[str, Any], flag: str, positive: str | None
) -> tuple[list[str], str, str | None, int]:
    """(labels, task, positive label, channels) of one subset, by the converter's own rules."""
    from mmdiag.data.sources import medmnist as mm

    if flag not in info:
        raise ConfigError(f"unknown MedMNIST flag {flag!r}")
    entry = info[flag]
    names = tuple(entry["label"][str(i)] for i in range(len(entry["label"])))
    labels = tuple(mm.label_slug(n) for n in names)
    task = mm.TASKS.get(entry["task"], "multiclass") if len(labels) > 2 else "binary"
    pos = mm._positive(flag, labels, names, positive) if task == "binary" else None
    return list(labels), task, pos, int(entry["n_channels"])


def _medmnist(section: Mapping[str, Any]) -> DatasetFacts:
    from mmdiag.data.sources.medmnist import MedmnistConfig

    flag = str(section.get("flag", MedmnistConfig.flag))  # the section is filled only when the config names it
    labels, task, pos, channels = _medmnist_subset(_medmnist_info(), flag, section.get("positive_label"))
    modality = flag.removesuffix("mnist")
    return DatasetFacts(
        modalities={modality: channels},
        labels=labels,
        task=task,
        positive_label=pos,
        has_reports=False,
        centres=[flag],
        complete=True,
    )


def _medmnist_pair(section: Mapping[str, Any]) -> DatasetFacts:
    flags = list(section.get("flags") or ["pathmnist", "organamnist"])
    mods = list(section.get("modalities") or ["path", "organ"])
    info = _medmnist_info()
    labels, task, pos, ch1 = _medmnist_subset(info, flags[0], None)
    ch2 = _medmnist_subset(info, flags[1], None)[3]
    return DatasetFacts(
        modalities={mods[0]: ch1, mods[1]: ch2},
        labels=labels,
        task=task,
        positive_label=pos,
        has_reports=False,
        centres=[flags[0]],
        complete=True,
    )


def _ham10000(section: Mapping[str, Any]) -> DatasetFacts:
    from mmdiag.data.sources.ham10000 import CLASSES

    return DatasetFacts(
        modalities={"derm": 3},
        labels=list(CLASSES),
        task="multiclass",
        has_reports=True,
        centres=list(HAM10000_CENTRES),
        complete=True,
    )
