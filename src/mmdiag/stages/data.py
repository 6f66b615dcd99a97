"""Data rules: `download` (fetch or generate), `build_corpus`, `preprocess` (cache + splits)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mmdiag.stages.declare import stage

log = logging.getLogger(__name__)


@stage(reads=("dataset",))
def download(config: dict[str, Any], data: str, info: str, **_: Any) -> None:
    """Produce the BYO folder `data` from `dataset.source`, validate it, record its checksum in `info`."""
    from mmdiag.data.byo import dataset_checksum, load_dataset
    from mmdiag.data.sources import prepare_source, source_schema
    from mmdiag.io import write_json

    ds_cfg = config["dataset"]
    source = ds_cfg["source"]
    out = Path(data)

    src_cfg = dict(ds_cfg.get(source) or {})
    if "name" in source_schema(source).get("properties", {}):
        src_cfg["name"] = ds_cfg["name"]  # one name for the dataset folder and results/<name>/
    prepare_source(source, src_cfg, out)
    ds = load_dataset(out, validate=True)
    checksum = dataset_checksum(out)
    log.info("dataset %s: %d cases, %d images, sha256 %s", ds.spec.name, len(ds.cases), len(ds.images), checksum)
    write_json(
        info,
        {
            "name": ds.spec.name,
            "source": source,
            "synthetic": ds.spec.synthetic,
            "checksum": checksum,
            "n_cases": len(ds.cases),
            "n_images": len(ds.images),
            "spec": ds.spec.to_dict(),
        },
    )


@stage(reads=("corpus",))
def build_corpus(config: dict[str, Any], data: str, corpus: str, **_: Any) -> None:
    """The character frequency-rank vocabulary of every report (TMM-Net §4.1), saved with counts.

    A dataset without reports gets a corpus of the two special ids only (padding, unknown).
    """
    from mmdiag.data.byo import load_dataset
    from mmdiag.data.corpus import build_corpus as build
    from mmdiag.data.corpus import save_corpus
    from mmdiag.data.preprocess import report_columns

    ds = load_dataset(data, validate=False)
    texts = [t for col in report_columns(ds)[:1] for t in ds.reports[col].astype(str)]
    c = build(texts, int(config["corpus"]["max_length"]))
    longest = max((len(t) for t in texts), default=0)
    if texts:
        log.info(
            "corpus: %d characters from %d reports; longest report %d chars (max_length %d)",
            len(c.counts),
            len(texts),
            longest,
            c.max_length,
        )
    else:
        log.info("corpus: the dataset has no reports (no reports.csv); only the padding and unknown ids")
    save_corpus(c, corpus)


@stage(reads=("preprocess", "splits"))
def preprocess(config: dict[str, Any], data: str, info: str, corpus: str, meta: str, splits: str, **_: Any) -> None:
    """Check the splits, then decode/resize/crop/normalise every image once into `cache/`, encode reports,
    and write the splits.

    The splits are built and checked first (`mmdiag.data.splits.check_splits` via `make_splits`): a split
    that cannot be trained on stops here with one message, before any image is decoded or file written.
    """
    from mmdiag.data.byo import load_dataset
    from mmdiag.data.corpus import load_corpus
    from mmdiag.data.preprocess import preprocess as run_preprocess
    from mmdiag.data.splits import make_splits
    from mmdiag.io import read_json, write_json

    ds = load_dataset(data, validate=False)
    checksum = read_json(info)["checksum"]
    made = make_splits(ds.cases, config["splits"])
    cache_dir = Path(meta).parent
    run_preprocess(
        ds, load_corpus(corpus), cache_dir, config["preprocess"], checksum, progress=bool(config["progress"])
    )
    split_dir = Path(splits).parent
    for name, split in made.items():
        write_json(split_dir / f"{name}.json", split.to_json())
        sizes = {p: len(v) for p, v in split.partitions.items()}
        log.info("split %s: %s", name, sizes)
    write_json(splits, {"splits": sorted(made), "dataset_checksum": checksum})
