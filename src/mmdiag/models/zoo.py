"""Every whole-model family; importing this module registers them in `MODELS`."""

from mmdiag.models import tmmnet  # noqa: F401  (registers)
