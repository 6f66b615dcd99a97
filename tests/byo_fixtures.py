"""Builders for tiny BYO dataset folders, written as literal text so tests can name exact lines.

The valid folder has 4 cases at 2 centres, 2 modalities (greyscale EUS PNGs; RGB WLE as PNG, JPEG and
BMP), attributes for both modalities, an official split with groups, an extra column, and reports whose
first two rows span two physical lines each (so reports.csv line 6 holds case c3, not row 3).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

DATASET_YAML = """\
name: tiny_gist
description: four-case fixture for the validator tests
task: binary
labels: [non_gist, gist]
positive_label: gist
modalities:
  eus: {channels: 1, description: endoscopic ultrasound}
  wle: {channels: 3, description: white-light endoscopy}
attributes:
  eus:
    origin_layer: [mucosa, submucosa, muscularis_propria]
    echo: [hypo, iso, hyper]
  wle:
    location: [cardia, fundus, body, antrum]
centres: [centre_a, centre_b]
synthetic: true
metadata: {generator: tests/byo_fixtures.py}
"""

CASES_CSV = """\
case_id,centre,label,group_id,split,eus.origin_layer,eus.echo,wle.location,notes
c1,centre_a,gist,p1,train,muscularis_propria,hypo,fundus,
c2,centre_a,non_gist,p2,train,mucosa,iso,antrum,"extra columns are kept, and ignored"
c3,centre_b,gist,p3,test,submucosa,hypo,body,
c4,centre_b,non_gist,p3,test,mucosa,hyper,cardia,
"""

IMAGES_CSV = """\
case_id,modality,path
c1,eus,images/c1/eus_0.png
c1,eus,images/c1/eus_1.png
c1,wle,images/c1/wle_0.png
c2,eus,images/c2/eus_0.png
c2,wle,images/c2/wle_0.jpg
c3,eus,images/c3/eus_0.png
c3,wle,images/c3/wle_0.bmp
c4,eus,images/c4/eus_0.png
c4,wle,images/c4/wle_0.png
c4,wle,images/c4/wle_1.png
"""

REPORTS_CSV = """\
case_id,report,report.eus,report.wle
c1,"EUS: hypoechoic mass, muscularis propria.
WLE: submucosal bulge in the fundus.",hypoechoic mass of the muscularis propria,submucosal bulge in the fundus
c2,"EUS: isoechoic lesion of the mucosa.
WLE: flat lesion in the antrum.",isoechoic lesion confined to the mucosa,flat lesion in the antrum
c3,EUS: hypoechoic submucosal lesion. WLE: bulge in the body.,hypoechoic submucosal lesion,bulge in the body
c4,EUS: hyperechoic mucosal lesion. WLE: polyp in the cardia.,hyperechoic mucosal lesion,polyp near the cardia
"""

IMAGE_SIZE = (16, 12)


def write_image(path: Path, modality: str, seed: int = 0) -> None:
    """A small deterministic image: greyscale for EUS, RGB otherwise; format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if modality == "eus" else "RGB"
    image = Image.linear_gradient("L").resize(IMAGE_SIZE).point(lambda v: (v + 37 * seed) % 256)
    if mode == "RGB":
        image = Image.merge("RGB", (image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), image))
    image.save(path)


def write_valid_dataset(root: Path) -> Path:
    """Write the valid fixture folder into `root` (created if needed) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in [
        ("dataset.yaml", DATASET_YAML),
        ("cases.csv", CASES_CSV),
        ("images.csv", IMAGES_CSV),
        ("reports.csv", REPORTS_CSV),
    ]:
        (root / name).write_text(text, encoding="utf-8")
    for seed, row in enumerate(IMAGES_CSV.splitlines()[1:]):
        _, modality, rel_path = row.split(",")
        write_image(root / rel_path, modality, seed)
    return root


def replace_text(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path` (fails loudly if the fixture drifted)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def delete_line(path: Path, line: str) -> None:
    replace_text(path, line + "\n", "")


SMALL_YAML = """\
name: small
task: binary
labels: [non_gist, gist]
positive_label: gist
modalities:
  eus: {channels: 1}
  wle: {channels: 3}
"""


def write_cases_dataset(
    root: Path,
    cases: list[dict[str, str]],
    *,
    yaml_text: str = SMALL_YAML,
    modalities: tuple[str, ...] = ("eus", "wle"),
    missing: set[tuple[str, str]] = frozenset(),
    reports: bool = True,
) -> Path:
    """A valid BYO folder from case rows (dicts of cases.csv cells): one image per case and modality
    (except the (case, modality) pairs in `missing`), distinct pixels per image, and a report per case."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.yaml").write_text(yaml_text, encoding="utf-8")
    columns = list(dict.fromkeys(k for row in cases for k in row))
    lines = [",".join(columns)] + [",".join(row.get(c, "") for c in columns) for row in cases]
    (root / "cases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["case_id,modality,path"]
    for k, row in enumerate(cases):
        for m, modality in enumerate(modalities):
            if (row["case_id"], modality) in missing:
                continue
            rel = f"images/{row['case_id']}/{modality}.png"
            write_image(root / rel, modality, seed=len(modalities) * k + m)  # distinct pixels: no shared image
            rows.append(f"{row['case_id']},{modality},{rel}")
    (root / "images.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    if reports:
        texts = ["case_id,report"] + [f"{row['case_id']},report of {row['case_id']}" for row in cases]
        (root / "reports.csv").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return root
