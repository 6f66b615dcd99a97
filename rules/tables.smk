# Tables: one rule per paper table, built from the run metrics (mmdiag.reporting).


rule tmmnet_table:
    input:
        runs=lambda w: tmm_table_inputs({v: k for k, v in TMM_TABLES.items()}[w.name]),
    output:
        csv=f"{TABLES}/{{name}}.csv",
        md=f"{TABLES}/{{name}}.md",
    log:
        f"{TABLES}/{{name}}.log",
    params:
        table=lambda w: {v: k for k, v in TMM_TABLES.items()}[w.name],
    wildcard_constraints:
        name="tmmnet_t[1-4]_[a-z_]+",
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        entry("tmmnet_table")
