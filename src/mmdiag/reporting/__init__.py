"""Reporting: paper tables, figures and the HTML report, built from run outputs only.

- `runs`: read-only view of a run folder (metrics, CIs, provenance record, predictions, history);
- `table`, `render`, `provenance`: the generic table (values with 95% CIs, best per column) written as
  CSV, Markdown, LaTeX and HTML with a provenance sidecar;
- `comparisons`: case-level McNemar/DeLong/z/χ² tests between two models' predictions;
- `columns`: the metric columns of a table for the runs' task (binary or multiclass);
- `seeds`: runs grouped by (encoder, arm) over seeds, and arms that resolve to the same setup;
- `ceiling`: the test split's own ceiling (Bayes decision from the true attributes, synthetic data);
- `catalog`: the fixed table and figure names, their builders and captions (`builders` imports them all);
- `tmm_tables`, `tmm_figures`: TMM-Net's Tables 1-4 and Figures 5-8;
- `figures`: the plotting functions and one style for every figure;
- `overview`: one HTML page per study (all its tables and figures) for the Snakemake report.
"""
