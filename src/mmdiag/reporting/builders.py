"""Imports every study module that registers tables or figures, so the catalogue sees all names.

Add a study here when it registers its own (e.g. `fusion_tables`, `dualbranch_tables`).
"""

from mmdiag.reporting import study_figures, study_tables, tmm_figures, tmm_tables

__all__ = ["study_figures", "study_tables", "tmm_figures", "tmm_tables"]
