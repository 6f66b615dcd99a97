"""The preprocessing cache's files, named once: `mmdiag.data.preprocess` writes them, `mmdiag.data.batches` reads.

Layout (`results/<dataset>/data/cache/`), a format of its own (not the BYO folder's, whose names are in
`mmdiag.data.format`):
- `images_<modality>.npy`: float16 [N, C, S, S], normalised;
- `images.csv`: case_id, modality, path, row (row into that modality's array), in images.csv order;
- `cases.csv`: case_id, centre, label (name), y (class index), one int column per attribute
  (-1 where the attribute is not annotated for that case);
- `text_<column>.npy`: int32 [n_cases, L] report token ids (corpus ranks, 0 = padding), rows in
  cases.csv order, for `report` and every `report.<modality>` column; none without reports.csv;
- `meta.json`: sizes, normalisation, image modes and bit depth per modality, `report_columns` and
  `has_reports`, the dataset spec and checksum.

A modality may have no image for some cases (or none at all: its array then has 0 rows).
"""

from __future__ import annotations

META = "meta.json"  # written last: the preprocess rule's declared output
IMAGE_INDEX = "images.csv"
CASES = "cases.csv"


def image_array(modality: str) -> str:
    """File of one modality's decoded images."""
    return f"images_{modality}.npy"


def text_array(column: str) -> str:
    """File of one report column's token ids."""
    return f"text_{column}.npy"
