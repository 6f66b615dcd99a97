"""Exceptions that carry enough context for a one-line, actionable message."""

from __future__ import annotations


class MmdiagError(Exception):
    """Base class: the CLI prints these as one line and exits 1, without a traceback."""


class ConfigError(MmdiagError):
    """A configuration file or key is invalid; the message names the file and key."""


class DataFormatError(MmdiagError):
    """A dataset folder violates the BYO format; holds every violation found."""

    def __init__(self, root: str, violations: list) -> None:
        self.root = root
        self.violations = list(violations)
        shown = "\n".join(f"  {v}" for v in self.violations[:50])
        more = f"\n  ... and {len(self.violations) - 50} more" if len(self.violations) > 50 else ""
        super().__init__(f"{root}: {len(self.violations)} format error(s)\n{shown}{more}")


class DownloadError(MmdiagError):
    """A dataset file could not be fetched or verified; says where to put a manual download."""


class CorruptInputError(MmdiagError):
    """A file a job reads (metrics, checkpoint) is unreadable; the message names it and the command that
    rebuilds it, so a damaged or truncated upstream output costs one rerun, not a debugging session."""


class CheckpointError(CorruptInputError):
    """A checkpoint cannot be loaded with `weights_only=True` (corrupt, truncated, or holding pickled code)."""
