# Issue-4 studies: image + report fusion, knowledge distillation, dual-branch ResNet.


rule fusion_study:
    input:
        meta=f"{DATA}/cache/meta.json",
        split=split_file("single_centre"),
    output:
        summary=f"{RUNS}/fusion/{{study}}/summary.json",
    log:
        f"{RUNS}/fusion/{{study}}/study.log",
    benchmark:
        f"{RUNS}/fusion/{{study}}/benchmark.tsv"
    wildcard_constraints:
        study="strategies|hparams|heads_objectives",
    priority: PRIORITY["fusion_study"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    params:
        settings=settings("fusion_study"),
    script:
        entry("fusion_study")


rule distillation:
    input:
        meta=f"{DATA}/cache/meta.json",
        split=split_file("single_centre"),
    output:
        summary=f"{RUNS}/distillation/summary.json",
    log:
        f"{RUNS}/distillation/distillation.log",
    benchmark:
        f"{RUNS}/distillation/benchmark.tsv"
    priority: PRIORITY["distillation"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    params:
        settings=settings("distillation"),
    script:
        entry("distillation")


rule dualbranch:
    input:
        unpack(dualbranch_inputs),
        meta=f"{DATA}/cache/meta.json",
        split=split_file("single_centre"),
    output:
        metrics=f"{RUNS}/dualbranch/{{stage}}/metrics.json",
        model=f"{RUNS}/dualbranch/{{stage}}/model.pt",
    log:
        f"{RUNS}/dualbranch/{{stage}}/train.log",
    benchmark:
        f"{RUNS}/dualbranch/{{stage}}/benchmark.tsv"
    wildcard_constraints:
        stage="unimodal_[A-Za-z0-9_]+|fusion",
    priority: PRIORITY["dualbranch"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    params:
        settings=settings("dualbranch"),
    script:
        entry("dualbranch")
