"""Write the synthetic dataset as a BYO folder (the same path real data takes).

Randomness is organised so that results never depend on iteration details: every case draws from its
own streams, `SeedSequence(seed, spawn_key=(centre key, case index, stream[, image index]))`, where the
centre key is a hash of the centre's name. Changing the number of images, or adding a centre, leaves
every other case's attributes, report and images untouched. PNGs are written without timestamps or
other metadata, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from PIL import Image
from tqdm import tqdm

from mmdiag.data.byo import atomic_dir, write_tables
from mmdiag.data.format import DatasetSpec, ModalitySpec
from mmdiag.data.synthetic.config import CentreConfig, SyntheticConfig
from mmdiag.data.synthetic.devices import finish_eus, finish_wle, render_size
from mmdiag.data.synthetic.generative import LABELS, POSITIVE_LABEL, VOCABULARIES, GenerativeModel
from mmdiag.data.synthetic.render_eus import render_eus
from mmdiag.data.synthetic.render_wle import render_wle
from mmdiag.data.synthetic.reports import write_report
from mmdiag.errors import ConfigError

GENERATOR_VERSION = "1.2.0"  # bump whenever the same seed would produce different bytes

# Stream ids of one case's SeedSequence spawn key.
_ATTRIBUTES, _REPORT, _EUS_CASE, _WLE_CASE, _EUS_IMAGE, _WLE_IMAGE = range(6)
# Centre-level stream (spawn key (centre key, _ANNOTATION)) choosing which cases carry attribute labels.
_ANNOTATION = 1 << 30
TRUE_ATTRIBUTES_CSV = "true_attributes.csv"


def _centre_key(name: str) -> int:
    """A stable 32-bit key for a centre name (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _centre_labels(seed: int, centre: CentreConfig, prevalence: float) -> np.ndarray:
    """Class indices of a centre's cases: exactly round(n * prevalence) positives, shuffled."""
    n_positive = round(centre.n_cases * prevalence)
    labels = np.array([1] * n_positive + [0] * (centre.n_cases - n_positive))
    return _rng(seed, _centre_key(centre.name)).permutation(labels)


def _annotated(seed: int, centre: CentreConfig, fraction: float) -> np.ndarray:
    """Which of a centre's cases carry attribute labels: exactly round(n * fraction), from their own stream,
    so the choice never changes any case's attributes, report or images."""
    n = centre.n_cases
    chosen = _rng(seed, _centre_key(centre.name), _ANNOTATION).permutation(n)[: round(n * fraction)]
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return mask


def _save_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG", compress_level=6)


def _dataset_spec(config: SyntheticConfig, model: GenerativeModel) -> DatasetSpec:
    metadata: dict[str, Any] = {
        "generator": "mmdiag.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "seed": config.seed,
        "bayes_accuracy": model.bayes_accuracy(),
        "bayes_accuracy_eus": model.bayes_accuracy(["eus"]),
        "bayes_accuracy_wle": model.bayes_accuracy(["wle"]),
        "bayes_accuracy_note": (
            "exact accuracy of the Bayes-optimal classifier given the true attributes (all, EUS only, "
            "WLE only) under the prior and tables below; images and reports are rendered from the "
            "attributes only, so "
            "no model can exceed these in expectation"
        ),
        "generative_model": model.to_dict(),
        "config": config.to_dict(),
    }
    return DatasetSpec(
        name=config.name,
        description=(
            "Synthetic multi-centre lesion dataset (EUS + WLE images and a findings report per case) from "
            f"mmdiag's embedded generator, version {GENERATOR_VERSION}, seed {config.seed}. See "
            "docs/synthetic_data.md."
        ),
        task="binary",
        labels=LABELS,
        positive_label=POSITIVE_LABEL,
        modalities={
            "eus": ModalitySpec("eus", 1, "endoscopic ultrasound (synthetic, greyscale)"),
            "wle": ModalitySpec("wle", 3, "white-light endoscopy (synthetic, RGB)"),
        },
        attributes={m: dict(attrs) for m, attrs in VOCABULARIES.items()},
        centres=tuple(c.name for c in config.centres),
        synthetic=True,
        metadata=metadata,
    )


def _write_case(
    root: Path,
    config: SyntheticConfig,
    model: GenerativeModel,
    centre: CentreConfig,
    index: int,
    label: int,
    case_id: str,
) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
    """Draw one case, write its images; returns its cases / images / reports rows."""
    seed, key = config.seed, _centre_key(centre.name)
    rng = _rng(seed, key, index, _ATTRIBUTES)
    attributes = model.sample_attributes(rng, label)
    low, high = config.lesion_size_mm
    size_mm = round(float(rng.uniform(low, high)), 1)
    size_scale = 0.85 + 0.3 * (size_mm - low) / (high - low) if high > low else 1.0

    image_rows = []
    for modality, stream, case_stream, render, finish, device in (
        ("eus", _EUS_IMAGE, _EUS_CASE, render_eus, finish_eus, centre.eus),
        ("wle", _WLE_IMAGE, _WLE_CASE, render_wle, finish_wle, centre.wle),
    ):
        height, width = render_size(device.size, device.resolution)
        for k in range(config.images_for(centre)):
            image_rng = _rng(seed, key, index, stream, k)
            case_rng = _rng(seed, key, index, case_stream)  # fresh per image: the same lesion in every view
            scene = render(image_rng, case_rng, attributes, size_scale, device, height, width)
            relative = f"images/{case_id}/{modality}_{k}.png"
            _save_png(finish(scene, device, image_rng), root / relative)
            image_rows.append({"case_id": case_id, "modality": modality, "path": relative})

    report = write_report(_rng(seed, key, index, _REPORT), attributes, size_mm, config.report_omit_probability)
    case_row = {
        "case_id": case_id,
        "centre": centre.name,
        "label": model.labels[label],
        **attributes,
        "size_mm": f"{size_mm:.1f}",
    }
    return case_row, image_rows, {"case_id": case_id, **report}


def generate_dataset(
    out_dir: str | Path, config: SyntheticConfig | dict | None = None, progress: bool = True
) -> DatasetSpec:
    """Generate the synthetic dataset into `out_dir` (replaced atomically) and return its spec.

    `config` is a `SyntheticConfig`, a `dataset.synthetic` mapping, or None for the defaults.
    """
    if not isinstance(config, SyntheticConfig):
        config = SyntheticConfig.from_dict(config)
    model = config.model()
    spec = _dataset_spec(config, model)
    cases, images, reports = [], [], []
    total = sum(c.n_cases for c in config.centres)
    with (
        atomic_dir(out_dir) as root,
        tqdm(total=total, desc=f"synthetic {config.name}", unit="case", file=sys.stderr, disable=not progress) as bar,
    ):
        truth = []
        columns = [t.column for t in model.tables]
        for centre in config.centres:
            labels = _centre_labels(config.seed, centre, config.prevalence)
            annotated = _annotated(config.seed, centre, config.attribute_annotation)
            width = max(4, len(str(centre.n_cases - 1)))
            for index, label in enumerate(labels):
                case_row, image_rows, report_row = _write_case(
                    root, config, model, centre, index, int(label), f"{centre.name}_{index:0{width}d}"
                )
                truth.append({"case_id": case_row["case_id"], **{c: case_row[c] for c in columns}})
                if not annotated[index]:
                    case_row.update(dict.fromkeys(columns, ""))
                cases.append(case_row)
                images.extend(image_rows)
                reports.append(report_row)
                bar.update()
        write_tables(root, spec, pd.DataFrame(cases), pd.DataFrame(images), pd.DataFrame(reports))
        pd.DataFrame(truth).to_csv(root / TRUE_ATTRIBUTES_CSV, index=False)
    return spec


def _read_config(path: str | None) -> dict[str, Any]:
    """A YAML file holding the `dataset.synthetic` mapping, either at its top or under dataset.synthetic."""
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("dataset"), dict) and "synthetic" in data["dataset"]:
        data = data["dataset"]["synthetic"] or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of dataset.synthetic settings")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """`mmdiag generate-synthetic OUT [--config FILE] [--seed N] [--quiet]`."""
    parser = argparse.ArgumentParser(prog="mmdiag generate-synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder (replaced atomically)")
    parser.add_argument("--config", help="YAML with dataset.synthetic settings (default: built-in defaults)")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    settings = _read_config(args.config)
    if args.seed is not None:
        settings = {**settings, "seed": args.seed}
    spec = generate_dataset(args.out, settings, progress=not args.quiet)
    meta = spec.metadata
    print(
        f"wrote {args.out}: {sum(c['n_cases'] for c in meta['config']['centres'])} cases; "
        f"Bayes accuracy {meta['bayes_accuracy']:.4f} (EUS {meta['bayes_accuracy_eus']:.4f}, "
        f"WLE {meta['bayes_accuracy_wle']:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
