"""The embedded synthetic dataset: a documented generative model rendered into EUS/WLE images and reports.

`generate_dataset(out_dir, config)` writes a BYO folder (docs/data_format.md); `SyntheticConfig` and
`SYNTHETIC_SCHEMA` describe its settings; `GenerativeModel.bayes_accuracy` gives the exact ceiling.
See docs/synthetic_data.md. Rendering (scipy, PIL, pandas) is imported only when generating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmdiag.data.synthetic.config import (
    DEVICE_PRESETS,
    SYNTHETIC_SCHEMA,
    CentreConfig,
    EusDevice,
    SyntheticConfig,
    WleDevice,
)
from mmdiag.data.synthetic.generative import (
    DEFAULT_TABLES,
    LABELS,
    POSITIVE_LABEL,
    VOCABULARIES,
    AttributeTable,
    GenerativeModel,
    bayes_accuracy,
    default_model,
)

if TYPE_CHECKING:
    from mmdiag.data.synthetic.generate import GENERATOR_VERSION, generate_dataset

__all__ = [
    "DEFAULT_TABLES",
    "DEVICE_PRESETS",
    "GENERATOR_VERSION",
    "LABELS",
    "POSITIVE_LABEL",
    "SYNTHETIC_SCHEMA",
    "VOCABULARIES",
    "AttributeTable",
    "CentreConfig",
    "EusDevice",
    "GenerativeModel",
    "SyntheticConfig",
    "WleDevice",
    "bayes_accuracy",
    "default_model",
    "generate_dataset",
]


def __getattr__(name: str) -> Any:
    """Import the generator lazily, so reading the schema or the model stays light."""
    if name in ("generate_dataset", "GENERATOR_VERSION"):
        from mmdiag.data.synthetic import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
