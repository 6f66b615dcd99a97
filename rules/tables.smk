# Tables: every catalogued table (mmdiag.reporting.catalog) the config produces, written as CSV, Markdown,
# LaTeX and HTML with a provenance sidecar (input functions in report.smk).


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=f"{TABLES}/{{name}}.csv",
        md=f"{TABLES}/{{name}}.md",
        tex=f"{TABLES}/{{name}}.tex",
        html=report_item(f"{TABLES}/{{name}}.html", "table"),
        provenance=f"{TABLES}/{{name}}.provenance.json",
    log:
        f"{TABLES}/{{name}}.log",
    wildcard_constraints:
        name="|".join(TABLE_ENTRIES),
    conda:
        "../envs/report.yaml"
    params:
        settings=settings("table"),
        left_out=lambda w: PLAN.left_out_for_table(w.name),
    script:
        entry("table")
