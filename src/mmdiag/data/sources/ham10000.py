"""HAM10000 (Harvard Dataverse doi:10.7910/DVN/DBW86T) converted into the BYO format.

A case is a lesion (`lesion_id`) with all of its images, so a split can never put two images of one
lesion on both sides (`group_id` = `case_id` = `lesion_id`). Each case gets a short templated report
built from the metadata (age, sex, site, how the diagnosis was established), as in the image+text
fusion study (§3); the diagnosis itself (`dx`) is never written into the text.
"""

from __future__ import annotations

import math
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from mmdiag.config.fields import Section, object_schema, option
from mmdiag.data.byo import atomic_dir, write_tables
from mmdiag.data.format import DatasetSpec, ModalitySpec
from mmdiag.data.sources.config import download_dir, resolve_config
from mmdiag.data.sources.download import RemoteFile, fetch_all, mirror_url
from mmdiag.data.sources.paths import inside, safe_component
from mmdiag.data.sources.sampling import stratified_subsample
from mmdiag.errors import DataFormatError

CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
CLASS_NAMES = {
    "akiec": "actinic keratoses and intraepithelial carcinoma / Bowen's disease",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesions (solar lentigines, seborrheic and lichen-planus like keratoses)",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevi",
    "vasc": "vascular lesions (angiomas, angiokeratomas, pyogenic granulomas, hemorrhage)",
}
METADATA_CSV = "HAM10000_metadata.csv"
IMAGE_ZIPS = ("HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip")
DOI = "doi:10.7910/DVN/DBW86T"
LICENCE = "CC BY-NC 4.0"
CITATION = (
    "Tschandl P, Rosendahl C, Kittler H. The HAM10000 dataset, a large collection of multi-source "
    "dermatoscopic images of common pigmented skin lesions. Scientific Data 5, 180161 (2018). "
    "doi:10.1038/sdata.2018.161"
)
_ACCESS = "https://dataverse.harvard.edu/api/access/datafile/{}"
# (file name, Dataverse file id, MD5 published by Dataverse, query). The metadata file was "ingested"
# into a tab-separated table by Dataverse; `?format=original` asks for the uploaded CSV, whose MD5 this is.
PUBLISHED = (
    (METADATA_CSV, 4338392, "8f85fb1aa29d80a2797247e434deb79d", "?format=original"),
    (IMAGE_ZIPS[0], 3172585, "4639bfa73ab251610530a97c898e6e46", ""),
    (IMAGE_ZIPS[1], 3172584, "da43d6cc50f6613013be07e8986b384b", ""),
)
REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization")
REPORT_FIELDS = ("age", "sex", "localization", "dx_type")
DX_TYPE_PHRASES = {
    "histo": "diagnosis confirmed by histopathology",
    "follow_up": "diagnosis established by follow-up examination",
    "consensus": "diagnosis by expert consensus",
    "confocal": "diagnosis confirmed by in-vivo confocal microscopy",
}
DEFAULT_CENTRE = "ham10000"


@dataclass(frozen=True)
class Ham10000Config(Section):
    """`dataset.ham10000`: where the official files are, and what each case's report says."""

    download_dir: str | None = option(
        None,
        "folder holding (or receiving) HAM10000_metadata.csv and the two image zips; files there with the "
        "published MD5 are used without network access; null: <dataset folder's parent>/downloads/ham10000",
    )
    url_override: str | None = option(
        None,
        "base URL of a mirror serving the three files under their official names (null: the Harvard "
        "Dataverse access URLs)",
    )
    max_cases: int | None = option(
        None,
        "keep at most this many lesions, a seeded subsample stratified by diagnosis (null: all 7,470)",
        minimum=1,
    )
    seed: int = option(0, "seed of the max_cases subsample")
    report_fields: list[str] = option(
        list(REPORT_FIELDS),
        "metadata written into each report; drop dx_type for a text that does not reveal how (hence partly "
        "what) the diagnosis was made",
        items={"enum": list(REPORT_FIELDS)},
        uniqueItems=True,
    )
    name: str | None = option(
        None, "dataset name (null: ham10000, or ham10000_max<N> with max_cases)", pattern="^[a-z0-9_]+$"
    )
    timeout_s: float = option(5, "seconds allowed for connecting and for each network read", exclusiveMinimum=0)


HAM10000_SCHEMA: dict[str, Any] = object_schema(
    Ham10000Config,
    "HAM10000 dermatoscopy (7 classes) from its official Harvard Dataverse files; one case per lesion, "
    "a templated report per case from the metadata.",
)


def remote_files(url_override: str | None = None) -> tuple[RemoteFile, ...]:
    """The metadata CSV and the two image zips, with Dataverse's published MD5s."""
    return tuple(
        RemoteFile(name, mirror_url(url_override, name) if url_override else _ACCESS.format(fid) + query, md5)
        for name, fid, md5, query in PUBLISHED
    )


def read_metadata(path: str | Path) -> pd.DataFrame:
    """The metadata table, checked: required columns, unique images, known dx, one dx per lesion.

    Raises:
        DataFormatError: listing every problem with its line in the CSV.
    """
    meta = pd.read_csv(path, dtype=str, keep_default_na=False).apply(lambda col: col.str.strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        hint = next(
            (
                f"; the file seems to use {sep!r} as its separator"
                for sep in ";\t"
                if len(meta.columns) == 1 and sep in meta.columns[0]
            ),
            "",
        )
        raise DataFormatError(str(path), [f"missing column(s) {', '.join(missing)}{hint}"])
    meta["line"] = range(2, len(meta) + 2)
    problems = [
        f"line {r.line}: empty {col}" for col in ("lesion_id", "image_id") for r in meta[meta[col] == ""].itertuples()
    ]
    problems += [
        f"line {r.line}: dx {r.dx!r} is not one of {', '.join(CLASSES)}"
        for r in meta[~meta["dx"].isin(CLASSES)].itertuples()
    ]
    problems += [
        f"line {r.line}: image_id {r.image_id!r} appears more than once"
        for r in meta[meta["image_id"].duplicated()].itertuples()
    ]
    for lesion, dx in meta.groupby("lesion_id")["dx"]:
        if dx.nunique() > 1:
            problems.append(f"lesion {lesion!r} has several diagnoses ({', '.join(sorted(set(dx)))})")
    if problems:
        raise DataFormatError(str(path), problems)
    return meta.sort_values(["lesion_id", "image_id"], kind="stable").reset_index(drop=True)


def lesion_cases(meta: pd.DataFrame) -> pd.DataFrame:
    """One row per lesion: its first image's metadata (by image_id) and its number of images."""
    first = meta.groupby("lesion_id", sort=True).first().reset_index()
    first["n_images"] = meta.groupby("lesion_id", sort=True).size().to_numpy()
    has_source = "dataset" in meta.columns
    first["centre"] = [
        (row["dataset"] if has_source and row["dataset"] else DEFAULT_CENTRE) for _, row in first.iterrows()
    ]
    return first


def case_report(row: Mapping[str, str], fields: Sequence[str] = REPORT_FIELDS) -> str:
    """A short report from the metadata, never naming the diagnosis.

    E.g. 'A 45-year-old male patient; lesion on the back; diagnosis confirmed by histopathology.'
    """
    age = _age(row.get("age", "")) if "age" in fields else None
    sex = row.get("sex", "") if "sex" in fields else ""
    parts = [_patient(age, sex)]
    if "localization" in fields:
        parts.append(_site(row.get("localization", "")))
    if "dx_type" in fields and row.get("dx_type", ""):
        dx_type = row["dx_type"]
        parts.append(DX_TYPE_PHRASES.get(dx_type, f"diagnosis by {dx_type.replace('_', ' ')}"))
    return "; ".join(parts) + "."


def _patient(age: int | None, sex: str) -> str:
    """'A 45-year-old male patient', 'An 80-year-old patient', 'A patient' (unknown sex is left out)."""
    words = [f"{age}-year-old"] if age is not None else []
    words += [sex] if sex in ("male", "female") else []
    article = "An" if age is not None and (str(age).startswith("8") or age in (11, 18)) else "A"
    return " ".join([article, *words, "patient"])


def _age(value: str) -> int | None:
    try:
        age = float(value)
    except ValueError:
        return None
    return None if math.isnan(age) else round(age)


def _site(localization: str) -> str:
    loc = localization.strip().lower()
    if loc in ("", "unknown", "nan"):
        return "lesion site not recorded"
    if loc == "acral":
        return "lesion on an acral site"
    if loc == "genital":
        return "lesion in the genital area"
    return f"lesion on the {loc}"


def _zip_index(zips: Sequence[zipfile.ZipFile]) -> dict[str, tuple[int, str]]:
    """image_id (file stem) -> (which zip, member name); the first zip wins if both hold an image."""
    index: dict[str, tuple[int, str]] = {}
    for k, zf in enumerate(zips):
        for member in zf.namelist():
            stem, _, ext = Path(member).name.rpartition(".")
            if ext.lower() in ("jpg", "jpeg", "png") and stem:
                index.setdefault(stem, (k, member))
    return index


def convert(
    metadata_csv: str | Path,
    image_zips: Sequence[str | Path],
    out_dir: str | Path,
    *,
    max_cases: int | None = None,
    seed: int = 0,
    report_fields: Sequence[str] = REPORT_FIELDS,
    name: str | None = None,
    files: Sequence[RemoteFile] = (),
) -> DatasetSpec:
    """Write the BYO tables and images (original JPEG bytes, not re-encoded) into `out_dir`.

    Args:
        metadata_csv: HAM10000_metadata.csv.
        image_zips: the image archives; images are found by file name (`<image_id>.jpg`).
        out_dir: the (temporary) dataset folder.
        max_cases: keep this many lesions, stratified by dx with `seed`.
        report_fields: metadata used in the reports.
        name: dataset name (default ham10000[_max<N>]).
        files: the verified source files, recorded in metadata.
    """
    out_dir = Path(out_dir)
    meta = read_metadata(metadata_csv)
    lesions = lesion_cases(meta)
    if max_cases is not None:
        lesions = lesions.iloc[stratified_subsample(lesions["dx"].to_numpy(), max_cases, seed)]
    meta = meta[meta["lesion_id"].isin(set(lesions["lesion_id"]))]
    images: list[dict[str, str]] = []
    archives = [zipfile.ZipFile(p) for p in image_zips]
    try:
        index = _zip_index(archives)
        absent = [
            f"line {r.line}: image {r.image_id} is in none of {', '.join(Path(p).name for p in image_zips)}"
            for r in meta.itertuples()
            if r.image_id not in index
        ]
        if absent:
            raise DataFormatError(str(metadata_csv), absent)
        for r in tqdm(
            meta.itertuples(),
            total=len(meta),
            desc="ham10000 images",
            unit="img",
            file=sys.stderr,
            leave=False,
        ):
            k, member = index[r.image_id]
            # ids come from someone else's CSV: one safe path component each, never `../`
            rel = f"images/{safe_component(r.lesion_id)}/{safe_component(r.image_id)}{Path(member).suffix.lower()}"
            target = inside(out_dir, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archives[k].read(member))
            images.append({"case_id": r.lesion_id, "modality": "derm", "path": rel})
    finally:
        for zf in archives:
            zf.close()
    cases = pd.DataFrame(
        {
            "case_id": lesions["lesion_id"],
            "centre": lesions["centre"],
            "label": lesions["dx"],
            "group_id": lesions["lesion_id"],
            "n_images": lesions["n_images"],
            **{c: lesions[c] for c in ("age", "sex", "localization", "dx_type")},
        }
    )
    reports = pd.DataFrame(
        {
            "case_id": lesions["lesion_id"],
            "report": [case_report(row.to_dict(), report_fields) for _, row in lesions.iterrows()],
        }
    )
    spec = DatasetSpec(
        name=name or ("ham10000" + (f"_max{max_cases}" if max_cases else "")),
        labels=CLASSES,
        modalities={"derm": ModalitySpec("derm", 3, "dermatoscopic image")},
        task="multiclass",
        centres=tuple(sorted(set(cases["centre"]))),
        synthetic=False,
        description="HAM10000 dermatoscopic images of pigmented skin lesions (7 diagnoses), one case per "
        "lesion, converted by mmdiag from the official Harvard Dataverse files.",
        metadata=_metadata(cases, images, max_cases, seed, report_fields, files),
    )
    write_tables(out_dir, spec, cases, pd.DataFrame(images, columns=["case_id", "modality", "path"]), reports)
    return spec


def _metadata(
    cases: pd.DataFrame,
    images: list[dict[str, str]],
    max_cases: int | None,
    seed: int,
    report_fields: Sequence[str],
    files: Sequence[RemoteFile],
) -> dict[str, Any]:
    with_dx_type = "dx_type" in report_fields
    return {
        "source": "ham10000",
        "doi": DOI,
        "files": [{"name": f.filename, "url": f.url, "md5": f.md5} for f in files],
        "licence": LICENCE,
        "citation": CITATION,
        "class_names": CLASS_NAMES,
        "case_unit": "lesion: all images of a lesion_id form one case (group_id = lesion_id), so no split "
        "separates images of one lesion",
        "centre": "the metadata's 'dataset' column (the image source) when present, else 'ham10000'",
        "converted": {
            "cases": len(cases),
            "images": len(images),
            "cases_per_label": {k: int(v) for k, v in cases["label"].value_counts().sort_index().items()},
        },
        "max_cases": max_cases,
        "seed": seed,
        "subsampling": "lesions stratified by dx, numpy default_rng(seed)",
        "report_fields": list(report_fields),
        "report_template": "A <age>-year-old <sex> patient; lesion on the <localization>; <how dx was established>.",
        "report_contains_diagnosis": False,
        "report_carries_label_information": with_dx_type,
        "report_note": (
            "dx is never written. Age, sex and site are clinical context. "
            + (
                "dx_type (how the diagnosis was established) is included, as in the fusion study; it is "
                "known "
                "only after diagnosis and correlates with dx (follow-up applies to nevi, histopathology "
                "dominates melanoma): remove it from report_fields for a leak-free text."
                if with_dx_type
                else "dx_type is excluded."
            )
        ),
    }


def prepare(cfg: Mapping[str, Any], out_dir: Path) -> DatasetSpec:
    """Fetch (or find) the three official files, verify their MD5s and convert atomically into `out_dir`."""
    c = resolve_config(cfg, HAM10000_SCHEMA, "dataset.ham10000")
    files = remote_files(c["url_override"])
    where = download_dir(c["download_dir"], out_dir, "ham10000")
    paths = fetch_all(files, where, timeout=c["timeout_s"], config_key="dataset.ham10000.download_dir")
    with atomic_dir(out_dir) as tmp:
        return convert(
            paths[0],
            paths[1:],
            tmp,
            max_cases=c["max_cases"],
            seed=c["seed"],
            report_fields=c["report_fields"],
            name=c["name"],
            files=files,
        )
