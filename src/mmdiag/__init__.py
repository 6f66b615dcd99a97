"""mmdiag: reproducible text-guided multimodal medical image diagnosis.

The package root stays import-light (no torch): workflow entry points import only what they use, since
every Python process here pays about 5 s for torch + timm + transformers.
"""

__version__ = "0.1.0"
