# Figures: every catalogued figure (mmdiag.reporting.catalog) the config produces, as PNG and PDF, and one
# overview page per study with all of its tables and figures (input functions in report.smk).


rule figure:
    input:
        unpack(lambda w: FIGURE_INPUTS[w.name]),
    output:
        png=report_item(f"{FIGURES}/{{name}}.png", "figure"),
        pdf=f"{FIGURES}/{{name}}.pdf",
    log:
        f"{FIGURES}/{{name}}.log",
    wildcard_constraints:
        name="|".join(FIGURE_INPUTS),
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("figure"),
        description=lambda w: catalog_caption(w.name),
    script:
        entry("figure")


rule study_overview:
    input:
        tables=lambda w: study_items(w.name, TABLES, table_names(), "html"),
        figures=lambda w: study_items(w.name, FIGURES, figure_names(), "png"),
    output:
        html=report_item(f"{REPORT}/{{name}}.html", "overview"),
    log:
        f"{REPORT}/{{name}}.log",
    wildcard_constraints:
        name="[a-z]+_overview",
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("study_overview"),
        title=lambda w: study_of(w.name),
        left_out=lambda w: PLAN.left_out_for_overview(w.name),
    script:
        entry("study_overview")
