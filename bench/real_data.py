"""The pipeline's supervised image baseline on a real MedMNIST `.npz`, beside MedMNIST v2's ResNet-18 (28).

Runs the library code the DAG runs, nothing of its own: the config is layered as a run with the user file
`dataset: {source: medmnist, medmnist: {flag, size, download_dir}}` would be (config/config.yaml, then the
recipe the `recipe` layer picks for a real source, config/recipes/real_data.yaml, then that user file) and
planned on the dataset's facts (`mmdiag.plan`, as rules/common.smk does), then
`mmdiag.stages.data.{download, build_corpus, preprocess}` convert and cache the file (used where it
lies, checked against the MD5 of `medmnist.info.INFO`), and `mmdiag.stages.tmm.train_arm` trains and
evaluates the image-only baseline arm (`baseline1`: one modality, no text) with `tmmnet.encoder`, as the
`train_arm` rule does. Everything is written into a temporary results folder (or `--keep DIR`).

Prints `test ACC <x>` and `test AUC <y>` per seed, their mean ± sd and the seeds' ensemble (mean class
probabilities, as Table 3's `seed ensemble` columns score it), the published figures of the subset, the
validation figures of the chosen epoch, and wall times. Asserts nothing.

    .venv/bin/python bench/real_data.py --npz ../shared/data/medmnist/breastmnist.npz --seeds 0 1 2

`--select-only` evaluates on the official validation split only (no test predictions are made): the mode
used to choose the recipe (docs/real_data.md). `--cv K` is the other selection mode: K stratified folds of
the official train + validation images (the test split never enters), each fold trained on the other K - 1
and scored on itself, so a variant is judged on every one of those images instead of the 78 of validation.
`--set KEY=VALUE` (dotted key, YAML value) adds an override on top of the user file, for trying a variant
of the recipe.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "config" / "config.yaml"
ARM = "baseline1"  # the image-only baseline arm of Table 3: one modality, no text guidance

# MedMNIST v2 (Yang et al., Scientific Data 10, 41 (2023), doi:10.1038/s41597-022-01721-8), Table 3:
# ResNet-18 (28) test (ACC, AUC) per 2D subset, mean of at least three runs (the paper's protocol: the
# 28-px CIFAR-style ResNet-18 of github.com/MedMNIST/experiments, Adam 1e-3, batch 128, 100 epochs,
# x0.1 after 50 and 75, best epoch by validation AUC). `checked`: the pair was found again in an independent
# copy of the table (search of public pages/repositories, 2026); the others are transcribed from Table 3
# and were not cross-checked here.
PUBLISHED_RESNET18_28: dict[str, dict[str, Any]] = {
    "pathmnist": {"acc": 0.907, "auc": 0.983, "checked": True},
    "dermamnist": {"acc": 0.735, "auc": 0.917, "checked": True},
    "octmnist": {"acc": 0.743, "auc": 0.943, "checked": False},
    "pneumoniamnist": {"acc": 0.854, "auc": 0.944, "checked": True},
    "retinamnist": {"acc": 0.524, "auc": 0.717, "checked": True},
    "breastmnist": {"acc": 0.863, "auc": 0.901, "checked": True},
    "bloodmnist": {"acc": 0.958, "auc": 0.998, "checked": False},
    "tissuemnist": {"acc": 0.676, "auc": 0.930, "checked": False},
    "organamnist": {"acc": 0.935, "auc": 0.997, "checked": False},
    "organcmnist": {"acc": 0.900, "auc": 0.992, "checked": False},
    "organsmnist": {"acc": 0.782, "auc": 0.972, "checked": False},
}
PUBLISHED_SOURCE = "MedMNIST v2, Scientific Data 10:41 (2023), Table 3, ResNet-18 (28)"


# ------------------------------------------------------------------------------------------ config
def flag_and_size(npz: Path) -> tuple[str, int]:
    """`breastmnist.npz` -> (breastmnist, 28); `pathmnist_64.npz` -> (pathmnist, 64): the official file names."""
    stem = npz.name.removesuffix(".npz")
    flag, _, size = stem.partition("_")
    if not flag.endswith("mnist") or (size and not size.isdigit()):
        raise SystemExit(f"{npz}: not an official MedMNIST file name (<flag>.npz or <flag>_<size>.npz)")
    return flag, int(size or 28)


def user_config(npz: Path, results: Path) -> dict[str, Any]:
    """What a user writes to point the MedMNIST source at a file they have: nothing about the recipe."""
    flag, size = flag_and_size(npz)
    return {
        "results": str(results),
        "dataset": {
            "name": f"{flag}_{size}",
            "source": "medmnist",
            "medmnist": {"flag": flag, "size": size, "download_dir": str(npz.resolve().parent)},
        },
    }


def set_dotted(config: dict[str, Any], assignment: str) -> None:
    """`a.b.c=VALUE` (VALUE parsed as YAML) into `config`."""
    key, sep, raw = assignment.partition("=")
    if not sep:
        raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE")
    node = config
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(raw)


def layered_config(user: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The validated config of a run whose only config file is `user`: `load_config` applies the recipe
    layer (`recipe: auto` -> config/recipes/real_data.yaml for a MedMNIST source) between the default and it.
    """
    from mmdiag.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "user_config.yaml"
    path.write_text(yaml.safe_dump(dict(user), sort_keys=False), encoding="utf-8")
    return load_config(DEFAULT_CONFIG, path)


def planned_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the plan written in (roles resolved, splits chosen from the data), as every DAG job gets it
    (`rules/common.smk`: `plan_for(config)`, then `resolved_config`)."""
    from mmdiag.plan import plan_for

    plan = plan_for(config)
    if ARM not in plan.arms:
        raise SystemExit(f"the plan left out arm {ARM}: " + "; ".join(plan.lines()))
    return plan.resolved_config(config)


# ------------------------------------------------------------------------------------------ pipeline
def prepare_data(config: dict[str, Any]) -> dict[str, str]:
    """`download` (conversion of the local file), `build_corpus`, `preprocess`: the DAG's first three rules."""
    from mmdiag.stages import data as stages

    base = Path(config["results"]) / config["dataset"]["name"] / "data"
    paths = {
        "data": str(base / "dataset"),
        "info": str(base / "dataset_info.json"),
        "corpus": str(base / "corpus.json"),
        "meta": str(base / "cache" / "meta.json"),
        "splits": str(base / "splits" / "index.json"),
    }
    stages.download(config, data=paths["data"], info=paths["info"])
    stages.build_corpus(config, data=paths["data"], corpus=paths["corpus"])
    stages.preprocess(
        config,
        data=paths["data"],
        info=paths["info"],
        corpus=paths["corpus"],
        meta=paths["meta"],
        splits=paths["splits"],
    )
    return paths


def train_baseline(
    config: dict[str, Any], paths: Mapping[str, str], seed: int, run_dir: Path, select_only: bool
) -> dict[str, Any]:
    """One seed of the baseline arm, as the `train_arm` rule runs it (test set) or on validation only."""
    cfg = copy.deepcopy(config)
    cfg["seed"] = seed
    split = str(Path(paths["splits"]).parent / "single_centre.json")
    encoder = cfg["tmmnet"]["encoder"]
    if select_only:  # choose the recipe on validation: never predict the test split
        from mmdiag.experiments.context import Context
        from mmdiag.experiments.tmm import train_arm

        ctx = Context.open(cfg, Path(paths["meta"]).parent)
        return train_arm(ctx, ARM, encoder, split, {"val": (split, "val")}, run_dir)
    from mmdiag.io import read_json
    from mmdiag.stages.tmm import train_arm as rule

    metrics = run_dir / "metrics.json"
    rule(cfg, meta=paths["meta"], split=split, metrics=str(metrics), encoder=encoder, arm=ARM, seed=str(seed))
    return read_json(metrics)


def cv_splits(paths: Mapping[str, str], folds: int, seed: int = 0) -> list[Path]:
    """`folds` split files over the official train + val cases: split k has fold k as `val`, the rest as `train`.

    Stratified by label with `mmdiag.data.splits.stratified_group_kfold` (one fixed generator, so every
    variant is scored on the same folds); the test split's cases are in none of them.
    """
    import numpy as np
    import pandas as pd

    from mmdiag.data.format import CASES_CSV
    from mmdiag.data.splits import Split, stratified_group_kfold
    from mmdiag.io import read_json, write_json

    folder = Path(paths["splits"]).parent
    official = read_json(folder / "single_centre.json")["partitions"]
    pool = set(official["train"]) | set(official["val"])
    cases = pd.read_csv(Path(paths["data"]) / CASES_CSV, dtype=str, keep_default_na=False)
    cases = cases[cases["case_id"].isin(pool)]
    buckets = stratified_group_kfold(cases, folds, np.random.default_rng(seed))
    out = []
    for k, held in enumerate(buckets):
        rest = sorted(pool - set(held))
        split = Split(f"cv{folds}_fold{k}", {"train": rest, "val": sorted(held)}, {"folds": folds, "fold": k})
        path = folder / f"{split.name}.json"
        write_json(path, split.to_json())
        out.append(path)
    return out


def cross_validate(config: dict[str, Any], paths: Mapping[str, str], seed: int, folds: int, out: Path) -> None:
    """Train the baseline arm on each fold's `train`, score it on the fold; print per-fold and pooled figures.

    Per fold: the held fold's ACC/AUC at the epoch chosen on it (optimistic, alike for every variant) and the
    mean over the last five epochs run (no choice made on it). Pooled: ACC/AUC/BAcc of the chosen epochs'
    predictions over all held images (one prediction per image), scored as every run is
    (`mmdiag.experiments.evaluation.score`).
    """
    import pandas as pd

    from mmdiag.experiments.context import Context
    from mmdiag.experiments.evaluation import score
    from mmdiag.experiments.tmm import train_arm
    from mmdiag.run_folder import predictions_file

    cfg = copy.deepcopy(config)
    cfg["seed"] = seed
    ctx = Context.open(cfg, Path(paths["meta"]).parent)
    encoder = cfg["tmmnet"]["encoder"]
    rows, preds = [], []
    for k, split in enumerate(cv_splits(paths, folds)):
        run_dir = out / f"seed{seed}_fold{k}"
        t0 = time.perf_counter()
        metrics = train_arm(ctx, ARM, encoder, split, {"val": (split, "val")}, run_dir)
        history = [h for h in (metrics["run"].get("history") or _history(run_dir)) if "val_AUC" in h]
        last = history[-5:]
        m = metrics["eval"]["val"]["metrics"]
        row = {
            "fold": k,
            "ACC": float(m["Acc"]),
            "AUC": float(m["AUC"]),
            "ACC_last5": statistics.mean(float(h["val_Acc"]) for h in last),
            "AUC_last5": statistics.mean(float(h["val_AUC"]) for h in last),
            "epochs": len(history),
            "wall_s": time.perf_counter() - t0,
        }
        rows.append(row)
        print(
            f"seed {seed} fold {k}: held ACC {row['ACC']:.3f} AUC {row['AUC']:.3f} (chosen epoch); last five ACC "
            f"{row['ACC_last5']:.3f} AUC {row['AUC_last5']:.3f}; {row['epochs']} epochs, {row['wall_s']:.0f} s",
            flush=True,
        )
        preds.append(pd.read_csv(run_dir / predictions_file("val")))
    table = pd.DataFrame(rows)
    keys = ("ACC", "AUC", "ACC_last5", "AUC_last5")
    means = "  ".join(f"{c} {table[c].mean():.3f} ± {table[c].std():.3f}" for c in keys)
    print(f"seed {seed} cv{folds} mean over folds: {means}")
    pooled = pd.concat(preds, ignore_index=True)
    pred = {
        "y": pooled["y"].to_numpy(dtype=int),
        "probs": pooled[[f"p_{x}" for x in ctx.labels]].to_numpy(dtype=float),
        "case_ids": pooled["case_id"].astype(str).to_numpy(),
    }
    m = score(pred, ctx.task, ctx.labels, ctx.positive_index)
    print(
        f"seed {seed} cv{folds} pooled over {len(pooled)} held images: ACC {m['Acc']:.3f}  AUC {m['AUC']:.3f}  "
        f"BAcc {m['BAcc']:.3f}"
    )


# ------------------------------------------------------------------------------------------ report
def best_record(history: Sequence[Mapping[str, Any]], select: str) -> Mapping[str, Any]:
    """The history row of the epoch the engine kept (first best by `select`, minimised for losses)."""
    rows = [h for h in history if h.get("phase", "classify") == "classify" and select in h]
    if not rows:
        return {}
    sign = 1.0 if "loss" in select else -1.0
    return min(rows, key=lambda h: sign * float(h[select]))


def mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def seed_ensemble(runs: Sequence[Mapping[str, Any]], eval_set: str, meta: str) -> dict[str, float]:
    """The seeds' ensemble as Table 3 scores it (`mmdiag.reporting.seeds.ensemble_metrics`)."""
    from mmdiag.reporting.columns import task_of
    from mmdiag.reporting.runs import Run, dataset_labels
    from mmdiag.reporting.seeds import ensemble_metrics
    from mmdiag.run_folder import METRICS

    loaded = [Run.load(Path(r["run_dir"]) / METRICS) for r in runs]
    labels, positive = dataset_labels(meta)
    return ensemble_metrics(loaded, eval_set, labels, task_of(loaded, eval_set)[0], positive)


def summarise(flag: str, runs: list[dict[str, Any]], select_only: bool, prep_s: float, meta: str) -> None:
    eval_set = "val" if select_only else "single_centre"
    accs, aucs = [], []
    for r in runs:
        m = r["metrics"]["eval"][eval_set]["metrics"]
        accs.append(float(m["Acc"]))
        aucs.append(float(m["AUC"]))
        h = r["best"]
        name = "val" if select_only else "test"
        print(
            f"seed {r['seed']}: {name} ACC {m['Acc']:.3f}  {name} AUC {m['AUC']:.3f}  "
            f"(chosen epoch {int(h.get('epoch', -1)) + 1}/{r['epochs']}: val ACC {h.get('val_Acc', float('nan')):.3f}"
            f" val AUC {h.get('val_AUC', float('nan')):.3f}; train {r['train_s']:.0f} s at {r['img_s']:.0f} img/s;"
            f" run {r['wall_s']:.0f} s, with data preparation {r['wall_s'] + prep_s:.0f} s)"
        )
        per_class = [f"{k} {m[k]:.3f}" for k in ("SEN", "SPE", "BAcc", "F1_macro") if k in m]
        per_class += [f"{k} {v:.3f}" for k, v in m.items() if k.startswith("SEN/")]
        print(f"        {name} {'  '.join(per_class)}")
        for warning in r["metrics"]["eval"][eval_set].get("warnings") or []:
            print(f"        warning: {warning}")
    name = "val" if select_only else "test"
    print(f"{name} ACC {mean_sd(accs)}")
    print(f"{name} AUC {mean_sd(aucs)}")
    if len(runs) > 1:
        ens = seed_ensemble(runs, eval_set, meta)
        print(
            f"seed ensemble ({len(runs)} models, mean class probabilities; Table 3's 'seed ensemble' columns): "
            f"{name} ACC {ens['Acc']:.3f}  {name} AUC {ens['AUC']:.3f}  "
            + "  ".join(f"{k} {ens[k]:.3f}" for k in ("SEN", "SPE", "BAcc", "F1_macro") if k in ens)
        )
    pub = PUBLISHED_RESNET18_28.get(flag)
    if pub:
        note = "" if pub["checked"] else " (transcribed, not cross-checked)"
        print(f"published ACC {pub['acc']:.3f}  published AUC {pub['auc']:.3f}  [{PUBLISHED_SOURCE}{note}]")
    else:
        print(f"published: no ResNet-18 (28) figure for {flag} in {PUBLISHED_SOURCE}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npz", required=True, type=Path, help="an official MedMNIST file, e.g. breastmnist.npz")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine is shared)")
    parser.add_argument("--keep", type=Path, default=None, help="results folder to keep (default: a temporary one)")
    parser.add_argument("--select-only", action="store_true", help="evaluate on the validation split only")
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold CV on official train+val (no test)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch log lines")
    args = parser.parse_args(argv)
    if not args.npz.is_file():
        raise SystemExit(f"{args.npz}: no such file")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s: %(message)s",
    )
    flag, _ = flag_and_size(args.npz)
    with tempfile.TemporaryDirectory(prefix="mmdiag_real_") as tmp:
        results = args.keep or Path(tmp)
        user = user_config(args.npz, results)
        for s in args.sets:
            set_dotted(user, s)
        config = planned_config(layered_config(user, results))
        config["progress"] = False
        tm = config["tmmnet"]
        print(
            f"{flag}: encoder {tm['encoder']} ({config['encoders'][tm['encoder']].get('label', '')}), "
            f"{tm['schedule']['classify']} epochs max, preprocess {config['preprocess']['size']} px, "
            f"{args.threads} threads; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        t0 = time.perf_counter()
        paths = prepare_data(config)
        prep_s = time.perf_counter() - t0
        print(f"data: download/convert + corpus + preprocess {prep_s:.1f} s")
        if args.cv:
            for seed in args.seeds:
                cross_validate(config, paths, seed, args.cv, results / config["dataset"]["name"] / "runs" / "bench_cv")
            print(f"wall time: {time.perf_counter() - t0:.0f} s for {len(args.seeds)} seed(s) x {args.cv} folds")
            return 0
        runs = []
        for seed in args.seeds:
            run_dir = results / config["dataset"]["name"] / "runs" / "bench_real_data" / f"seed{seed}"
            t1 = time.perf_counter()
            metrics = train_baseline(config, paths, seed, run_dir, args.select_only)
            wall = time.perf_counter() - t1
            history = metrics["run"].get("history") or _history(run_dir)
            rows = [h for h in history if h.get("phase", "classify") == "classify"]
            train_s = sum(float(h.get("train_seconds", 0.0)) for h in rows)
            n_train = int(metrics["run"].get("n_train_samples") or _n_train(paths))
            runs.append(
                {
                    "seed": seed,
                    "run_dir": str(run_dir),
                    "metrics": metrics,
                    "best": best_record(rows, config["trainer"].get("select", "val_loss")),
                    "epochs": len(rows),
                    "train_s": train_s,
                    "img_s": n_train * len(rows) / train_s if train_s else float("nan"),
                    "wall_s": wall,
                }
            )
        summarise(flag, runs, args.select_only, prep_s, paths["meta"])
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"wall time: {time.perf_counter() - t0:.0f} s for {len(args.seeds)} seed(s); load average now {load}")
    return 0


def _history(run_dir: Path) -> list[dict[str, Any]]:
    import pandas as pd

    path = run_dir / "history.csv"
    return pd.read_csv(path).to_dict("records") if path.exists() else []


def _n_train(paths: Mapping[str, str]) -> int:
    from mmdiag.io import read_json

    return len(read_json(Path(paths["splits"]).parent / "single_centre.json")["partitions"]["train"])


if __name__ == "__main__":
    raise SystemExit(main())
