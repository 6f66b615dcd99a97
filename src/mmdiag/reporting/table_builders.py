"""Imports the study modules that register tables (not figures): a table job then never imports matplotlib,
seaborn or scikit-learn (about 3 s per job here). `builders` imports every study module, for figures."""

from mmdiag.reporting import study_tables, tmm_tables

__all__ = ["study_tables", "tmm_tables"]
