# Data: fetch or generate -> report vocabulary -> decoded/resized/normalised cache + splits.


rule download:
    output:
        data=directory(f"{DATA}/raw"),
        info=f"{DATA}/dataset.json",
    log:
        f"{DATA}/download.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=settings("download"),
    script:
        entry("download")


rule build_corpus:
    input:
        data=f"{DATA}/raw",
    output:
        corpus=f"{DATA}/corpus.json",
    log:
        f"{DATA}/build_corpus.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings("build_corpus"),
    script:
        entry("build_corpus")


rule preprocess:
    input:
        data=f"{DATA}/raw",
        info=f"{DATA}/dataset.json",
        corpus=f"{DATA}/corpus.json",
    output:
        meta=f"{DATA}/cache/meta.json",
        splits=f"{DATA}/splits/index.json",
        split_files=[split_file(n) for n in split_names()],
    log:
        f"{DATA}/preprocess.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=settings("preprocess"),
    script:
        entry("preprocess")
