"""Diagnostic reports written from a case's attributes, like an endoscopist's findings.

Each report has an EUS section and a WLE section. A section opens with a noun phrase for the lesion
(some attributes folded in as adjectives), then states the remaining attributes as short clauses in a
random order, with synonyms for every value and, now and then, a neutral filler sentence. The wording
depends only on the attributes, the lesion size and the case's own random stream, never on the label,
and the vocabulary never names a diagnosis (no lesion types, no "benign"/"malignant").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

# For each attribute value: adjectives usable inside the noun phrase (may be empty) and full clauses.
# "{s}" in a clause is the subject ("the lesion", "it", ...).
EUS_ADJECTIVES: dict[str, dict[str, list[str]]] = {
    "morphology": {
        "round": ["round", "rounded", "circular"],
        "oval": ["oval", "ovoid", "elliptical"],
        "lobulated": ["lobulated", "multilobulated"],
        "irregular": ["irregular", "irregularly shaped"],
    },
    "echo_level": {
        "hypoechoic": ["hypoechoic", "low-echo"],
        "isoechoic": ["isoechoic", "iso-echoic"],
        "hyperechoic": ["hyperechoic", "high-echo"],
    },
    "echo_heterogeneity": {
        "homogeneous": ["homogeneous", "uniformly echoic"],
        "heterogeneous": ["heterogeneous", "inhomogeneous"],
    },
}
EUS_CLAUSES: dict[str, dict[str, list[str]]] = {
    "origin_layer": {
        "mucosa": [
            "{s} arises from the mucosa",
            "{s} originates in the first layer (mucosa)",
            "{s} is located within the mucosal layer",
        ],
        "muscularis_mucosae": [
            "{s} arises from the muscularis mucosae",
            "{s} originates from the second layer (muscularis mucosae)",
            "{s} is continuous with the muscularis mucosae",
        ],
        "submucosa": [
            "{s} arises from the submucosa",
            "{s} originates in the third layer (submucosa)",
            "{s} is located within the submucosal layer",
        ],
        "muscularis_propria": [
            "{s} arises from the muscularis propria",
            "{s} originates from the fourth layer (muscularis propria)",
            "{s} is continuous with the muscularis propria",
        ],
    },
    "morphology": {
        "round": ["{s} is round", "{s} has a round shape", "{s} appears circular in cross-section"],
        "oval": ["{s} is oval", "{s} has an ovoid shape", "{s} appears elliptical"],
        "lobulated": ["{s} is lobulated", "{s} has a lobulated contour", "{s} shows several lobes"],
        "irregular": [
            "{s} is irregular in shape",
            "{s} has an irregular contour",
            "{s} is irregularly shaped",
        ],
    },
    "echo_level": {
        "hypoechoic": [
            "{s} is hypoechoic",
            "{s} shows low internal echoes",
            "{s} is hypoechoic relative to the wall",
        ],
        "isoechoic": [
            "{s} is isoechoic",
            "{s} shows internal echoes similar to the surrounding wall",
            "{s} is isoechoic to the muscle layer",
        ],
        "hyperechoic": [
            "{s} is hyperechoic",
            "{s} shows high internal echoes",
            "{s} is markedly hyperechoic",
        ],
    },
    "echo_heterogeneity": {
        "homogeneous": [
            "the internal echo is homogeneous",
            "{s} has a homogeneous echo pattern",
            "internal echoes are uniform",
        ],
        "heterogeneous": [
            "the internal echo is heterogeneous",
            "{s} has a heterogeneous echo pattern",
            "internal echoes are uneven, with scattered foci",
        ],
    },
    "growth_pattern": {
        "intraluminal": [
            "{s} grows into the lumen",
            "{s} shows an intraluminal growth pattern",
            "{s} protrudes towards the lumen",
        ],
        "extraluminal": [
            "{s} grows outward from the wall",
            "{s} shows an extraluminal growth pattern",
            "{s} bulges outward beyond the serosa",
        ],
        "mixed": [
            "{s} grows both into the lumen and outward",
            "{s} shows a mixed growth pattern",
            "{s} extends to both sides of the wall",
        ],
    },
    "boundary": {
        "clear": ["the margin is clear", "{s} is well demarcated", "{s} has a sharp, smooth boundary"],
        "unclear": ["the margin is unclear", "{s} is poorly demarcated", "{s} has an ill-defined boundary"],
    },
}
WLE_ADJECTIVES: dict[str, dict[str, list[str]]] = {
    "morphology": {
        "hemispherical": ["hemispherical", "dome-shaped"],
        "semipedunculated": ["semipedunculated", "subpedunculated"],
        "flat": ["flat", "low, flat"],
        "lobulated": ["lobulated", "multilobulated"],
    },
    "colour": {
        "normal": ["normal-coloured"],
        "yellowish": ["yellowish", "yellow-tinged"],
        "reddish": ["reddish", "erythematous"],
        "bluish": ["bluish", "blue-tinged"],
    },
}
WLE_CLAUSES: dict[str, dict[str, list[str]]] = {
    "location": {
        "cardia": [
            "{s} is located at the cardia",
            "{s} lies in the cardia, seen in retroflexion",
            "{s} sits near the gastro-oesophageal junction (cardia)",
        ],
        "fundus": [
            "{s} is located in the fundus",
            "{s} lies in the gastric fundus",
            "{s} sits in the fundus near the mucus lake",
        ],
        "body": [
            "{s} is located in the gastric body",
            "{s} lies in the corpus",
            "{s} sits on the body folds",
        ],
        "antrum": [
            "{s} is located in the antrum",
            "{s} lies in the gastric antrum",
            "{s} sits in the antrum, close to the pylorus",
        ],
    },
    "morphology": {
        "hemispherical": ["{s} is hemispherical", "{s} is dome-shaped", "{s} forms a hemispherical bulge"],
        "semipedunculated": [
            "{s} is semipedunculated",
            "{s} has a short, broad stalk",
            "{s} is subpedunculated",
        ],
        "flat": ["{s} is flat", "{s} is only slightly elevated", "{s} forms a flat elevation"],
        "lobulated": [
            "{s} is lobulated",
            "{s} consists of several lobes",
            "{s} has a lobulated surface contour",
        ],
    },
    "surface_mucosa": {
        "smooth": [
            "the overlying mucosa is smooth",
            "{s} is covered by smooth, intact mucosa",
            "the mucosal surface is smooth",
        ],
        "erosion": [
            "the overlying mucosa shows erosions",
            "{s} has superficial erosions on its surface",
            "small erosions are seen on the surface",
        ],
        "ulceration": [
            "the surface is ulcerated",
            "{s} has a central ulcer with a fibrin base",
            "an ulcer crater is seen on its top",
        ],
    },
    "colour": {
        "normal": [
            "{s} has the same colour as the surrounding mucosa",
            "its colour is normal",
            "{s} is of normal colour",
        ],
        "yellowish": ["{s} is yellowish", "{s} has a yellow tinge", "its colour is yellowish"],
        "reddish": ["{s} is reddish", "{s} appears erythematous", "its colour is reddish"],
        "bluish": ["{s} is bluish", "{s} has a blue tinge", "its colour is bluish"],
    },
    "translucency": {
        "absent": ["{s} is not translucent", "{s} appears opaque", "no translucency is seen"],
        "present": ["{s} is translucent", "{s} has a semi-transparent appearance", "translucency is present"],
    },
}
EUS_OPENERS = ["EUS:", "Endoscopic ultrasound:", "EUS findings:", "Endoscopic ultrasonography:"]
WLE_OPENERS = ["Gastroscopy:", "White-light endoscopy:", "WLE:", "Endoscopy findings:"]
EUS_NOUNS = ["lesion", "mass", "subepithelial lesion"]
WLE_NOUNS = ["elevation", "protrusion", "subepithelial bulge"]
EUS_FILLERS = [
    "No enlarged perigastric lymph nodes are seen.",
    "The adjacent wall layers are preserved.",
    "Scanning was performed with water filling.",
    "Views were limited at times by peristalsis.",
]
WLE_FILLERS = [
    "The remaining gastric mucosa is unremarkable.",
    "No active bleeding is seen.",
    "The lesion moves with the wall on air insufflation.",
    "Biopsy forceps indentation was not attempted.",
]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(phrase: str) -> str:
    """'A' or 'An' by sound, numbers included ("an 8 mm", "an 11 mm", "a 1.8 cm")."""
    first = phrase.split()[0]
    if first[0].isdigit():
        whole = first.split(".")[0]
        vowel_sound = whole.startswith("8") or (len(whole) in (2, 5) and whole[:2] in ("11", "18"))
    else:
        vowel_sound = first[0].lower() in "aeiou"
    return "An" if vowel_sound else "A"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _section(
    rng: np.random.Generator,
    values: Mapping[str, str],
    adjectives: Mapping[str, Mapping[str, list[str]]],
    clauses: Mapping[str, Mapping[str, list[str]]],
    opener: str,
    noun: str,
    size_mm: float | None,
    fillers: list[str],
) -> str:
    """One section: an opening noun phrase, then every remaining attribute as a clause."""
    names = list(values)
    adjectival = [n for n in names if n in adjectives and rng.uniform() < 0.5]
    words = [_pick(rng, adjectives[n][values[n]]) for n in adjectival]
    size = ""
    if size_mm is not None:
        size = _pick(rng, [f"{size_mm:.0f} mm ", f"{size_mm / 10:.1f} cm ", f"approximately {size_mm:.0f} mm "])
    body = f"{size}{', '.join(words) + ' ' if words else ''}{noun}"
    phrase = f"{_article(body)} {body}"
    rest = [n for n in names if n not in adjectival]
    rng.shuffle(rest)
    sentences = [f"{opener} {phrase} is seen."]
    subjects = ["the lesion", "it", f"the {noun}"]
    i = 0
    while i < len(rest):
        take = 2 if i + 1 < len(rest) and rng.uniform() < 0.5 else 1
        parts = [_pick(rng, list(clauses[n][values[n]])).format(s=_pick(rng, subjects)) for n in rest[i : i + take]]
        joiner = _pick(rng, [", and ", "; "])
        sentences.append(_capitalise(joiner.join(parts)) + ".")
        i += take
    if rng.uniform() < 0.35:
        sentences.insert(int(rng.integers(1, len(sentences) + 1)), _pick(rng, fillers))
    return " ".join(sentences)


def write_report(
    rng: np.random.Generator, attributes: Mapping[str, str], size_mm: float, omit_probability: float = 0.0
) -> dict[str, str]:
    """`report`, `report.eus` and `report.wle` texts for one case.

    Each attribute is left out with `omit_probability`, independently of everything else.
    """
    sections = {}
    for modality, adjectives, clauses, openers, nouns, fillers in (
        ("eus", EUS_ADJECTIVES, EUS_CLAUSES, EUS_OPENERS, EUS_NOUNS, EUS_FILLERS),
        ("wle", WLE_ADJECTIVES, WLE_CLAUSES, WLE_OPENERS, WLE_NOUNS, WLE_FILLERS),
    ):
        values = {
            name: attributes[f"{modality}.{name}"]
            for name in clauses
            if not (omit_probability > 0 and rng.uniform() < omit_probability)
        }
        size = size_mm if rng.uniform() < 0.6 else None
        sections[modality] = _section(
            rng, values, adjectives, clauses, _pick(rng, openers), _pick(rng, nouns), size, fillers
        )
    order = ["eus", "wle"] if rng.uniform() < 0.7 else ["wle", "eus"]
    return {
        "report": " ".join(sections[m] for m in order),
        "report.eus": sections["eus"],
        "report.wle": sections["wle"],
    }
