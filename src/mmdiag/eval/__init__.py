"""Evaluation: classification metrics (`mmdiag.eval.metrics`) and uncertainty/significance tests
(`mmdiag.eval.stats`).

Deliberately empty: importing `metrics` alone must not pull in scipy.stats, so callers import the
submodule they use.
"""
