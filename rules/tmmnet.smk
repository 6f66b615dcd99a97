# TMM-Net: stage-1 pretraining per modality and seed -> arms (full model, ablations, backbones) per seed
# (tmmnet.seeds) -> k-fold CV (first seed). Which arms exist is the plan's business (rules/common.smk).


rule pretrain:
    input:
        meta=f"{DATA}/cache/meta.json",
        split=split_file("single_centre"),
    output:
        ckpt=f"{RUNS}/pretrain/{{encoder}}/{{modality}}/seed{{seed}}/stage1.pt",
    log:
        f"{RUNS}/pretrain/{{encoder}}/{{modality}}/seed{{seed}}/pretrain.log",
    benchmark:
        f"{RUNS}/pretrain/{{encoder}}/{{modality}}/seed{{seed}}/benchmark.tsv"
    priority: PRIORITY["pretrain"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=120,
        gpu=1,
    params:
        settings=settings("pretrain"),
    script:
        entry("pretrain")


rule train_fusion:
    input:
        unpack(stage1_inputs),
        meta=f"{DATA}/cache/meta.json",
        split=split_file("single_centre"),
        external=external_split(),
    output:
        metrics=f"{RUNS}/tmmnet/{{encoder}}/{{arm}}/seed{{seed}}/metrics.json",
    log:
        f"{RUNS}/tmmnet/{{encoder}}/{{arm}}/seed{{seed}}/train.log",
    benchmark:
        f"{RUNS}/tmmnet/{{encoder}}/{{arm}}/seed{{seed}}/benchmark.tsv"
    wildcard_constraints:
        arm=one_of([PLAN.full_arm] if PLAN.full_arm else []),
    priority: PRIORITY["train_fusion"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    params:
        settings=settings("train_fusion"),
    script:
        entry("train_arm")


# The ablation arms and backbone comparisons share the recipe; the full model keeps its own rule name.
use rule train_fusion as ablation with:
    wildcard_constraints:
        arm=one_of(TM["arms"]),


ruleorder: train_fusion > ablation


rule cv_fold:
    input:
        meta=f"{DATA}/cache/meta.json",
        split=split_file("cv_{centre}_fold{fold}"),
    output:
        metrics=f"{RUNS}/tmmnet_cv/{{centre}}/fold{{fold}}/metrics.json",
    log:
        f"{RUNS}/tmmnet_cv/{{centre}}/fold{{fold}}/train.log",
    benchmark:
        f"{RUNS}/tmmnet_cv/{{centre}}/fold{{fold}}/benchmark.tsv"
    wildcard_constraints:
        fold="[0-9]+",
    priority: PRIORITY["cv_fold"]
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=6000,
        runtime=240,
        gpu=1,
    params:
        settings=settings("cv_fold"),
        seed=str(PLAN.first_seed),
    script:
        entry("cv_fold")


rule cross_validate:
    input:
        folds=lambda w: [f"{RUNS}/tmmnet_cv/{w.centre}/fold{i}/metrics.json" for i in range(int(SPLITS["cv"]["folds"]))],
    output:
        metrics=f"{RUNS}/tmmnet_cv/{{centre}}/metrics.json",
    log:
        f"{RUNS}/tmmnet_cv/{{centre}}/cv.log",
    conda:
        "../envs/train.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=settings("cross_validate"),
    script:
        entry("cross_validate")
