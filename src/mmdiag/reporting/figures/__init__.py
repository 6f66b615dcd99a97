"""Plotting functions of the paper figures: one style (`style`), one concern per module.

Each function draws on axes it is given (or returns a `Figure`) from plain arrays and frames, so figures are
testable on small synthetic inputs; the study modules (`tmm_figures`) feed them from run folders.
"""
