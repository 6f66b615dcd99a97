"""What every fusion module declares about the inputs it takes, as class attributes read before it is built.

`min_inputs`/`max_inputs` (None: any number), `needs_levels` (it fuses per-level features when given
`level_dims`, so the model must expose that many image stages and text layers) and `uses_tokens` (it reads
token sequences, falling back to the pooled vector as one token). Study code and tests ask
`mmdiag.models.fusion.fusion_class(name)` instead of keeping their own lists of fusion names.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn


class FusionModule(nn.Module):
    """Base of the fusion families: their capabilities, and the input-count check they all make."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    needs_levels: ClassVar[bool] = False
    uses_tokens: ClassVar[bool] = False

    @classmethod
    def check_inputs(cls, n: int, kind: str) -> None:
        """ValueError unless `n` inputs are within what the family takes (`kind` names it in the message)."""
        if cls.max_inputs is not None and cls.max_inputs == cls.min_inputs and n != cls.min_inputs:
            raise ValueError(f"{kind} fusion takes exactly {cls.min_inputs} inputs (e.g. [image, text]), got {n}")
        if n < cls.min_inputs or (cls.max_inputs is not None and n > cls.max_inputs):
            bound = f"at least {cls.min_inputs}" if cls.max_inputs is None else f"{cls.min_inputs}-{cls.max_inputs}"
            raise ValueError(f"{kind} fusion needs {bound} inputs, got {n}")
