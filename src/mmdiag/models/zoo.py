"""Every whole-model family; importing this module registers them in `MODELS`."""

from mmdiag.models import (
    dualbranch,  # noqa: F401  (registers)
    image_text,  # noqa: F401  (registers)
    tmmnet,  # noqa: F401  (registers)
)
