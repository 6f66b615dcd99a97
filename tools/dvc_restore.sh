#!/usr/bin/env bash
# Restore results versioned by DVC and make Snakemake trust them:   make restore
#
#   tools/dvc_restore.sh [--checkout] [snakemake options, e.g. --configfile config/paper_tmmnet.yaml]
#
# `dvc pull` (or, with --checkout, `dvc checkout` from the local cache after a `git checkout`)
# writes every file with a fresh modification time, in no particular order. Snakemake judges
# staleness by modification times, so it would retrain everything downstream of the first file
# restored late (dvc #8602, #10347; measured on the TMM-Net tiny DAG: 22 of 23 jobs). Excluding the
# mtime trigger (`--rerun-triggers code input params software-env`) does not help: the
# "updated input files" check still compares times. What works is `snakemake --touch`: it walks
# the DAG in order and touches outputs without running anything (about 8 s on the tiny config),
# after which `snakemake -n all` reports nothing to do.
#
# Touching hides staleness, so it is only done when DVC vouches for the results: `dvc status`
# must be clean, i.e. the restored outputs were produced by the code, configs and inputs that are
# checked out now. Otherwise this script stops and says which stages are out of date.
set -euo pipefail
export DVC_NO_ANALYTICS=1

mode=pull
if [ "${1:-}" = "--checkout" ]; then
    mode=checkout
    shift
fi

dvc "$mode"
status=$(dvc status --json)
if [ "$status" != "{}" ]; then
    echo "dvc_restore: the restored results do not match the checked-out code/config (dvc status below);" >&2
    echo "dvc_restore: not touching them. Rerun those stages (snakemake all, or dvc repro)." >&2
    dvc status >&2
    exit 1
fi
snakemake all --cores 1 --touch --quiet "$@"
snakemake all --dry-run --quiet "$@"
