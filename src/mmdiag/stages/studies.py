"""Rules of the fusion study, the distillation pair and the dual-branch model (issue #4 studies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdiag.experiments.context import Context
from mmdiag.io import write_json


def _context(config: dict[str, Any], meta: str) -> Context:
    return Context.open(config, Path(meta).parent)


def _test_set(split: str) -> dict[str, tuple[str, str]]:
    return {"single_centre": (split, "test")}


def fusion_study(config: dict[str, Any], meta: str, split: str, summary: str, study: str, **_: Any) -> None:
    """Every run of one fusion-study table, in one process, each in its own resumable run folder."""
    from mmdiag.experiments.studies import fusion_runs
    from mmdiag.experiments.supervised import run_all

    ctx = _context(config, meta)
    out = Path(summary).parent
    results = run_all(ctx, fusion_runs(ctx, study), split, _test_set(split), out)
    write_json(summary, {"study": f"fusion_{study}", "runs": {k: str(out / k / "metrics.json") for k in results}})


def distillation(config: dict[str, Any], meta: str, split: str, summary: str, **_: Any) -> None:
    """Teacher (hybrid-paper recipe), then the ~40% student trained against it; both measured for efficiency."""
    import torch

    from mmdiag.engine.device import pick_device
    from mmdiag.engine.efficiency import measure_efficiency
    from mmdiag.experiments.studies import distillation_runs
    from mmdiag.experiments.supervised import load_model, train_model
    from mmdiag.models.student import parameter_ratio

    ctx = _context(config, meta)
    out = Path(summary).parent
    teacher_run, student_run = distillation_runs(ctx)
    train_model(ctx, teacher_run, split, _test_set(split), out / "teacher")
    teacher = load_model(out / "teacher" / "model.pt")
    train_model(ctx, student_run, split, _test_set(split), out / "student", teacher=teacher)
    student = load_model(out / "student" / "model.pt")
    device = pick_device(config["trainer"].get("device", "auto"))
    samples = ctx.samples(split, "test", teacher_run["modalities"])
    batch = samples.batch(torch.arange(min(len(samples), int(config["distillation"].get("efficiency_batch", 64)))))
    models = {"teacher": teacher, "student": student}
    efficiency = {name: measure_efficiency(m, batch, device) for name, m in models.items()}
    write_json(
        summary,
        {
            "study": "distillation",
            "runs": {
                "teacher": str(out / "teacher" / "metrics.json"),
                "student": str(out / "student" / "metrics.json"),
            },
            "efficiency": efficiency,
            "parameter_ratio": parameter_ratio(student, teacher),
        },
    )


def dualbranch(config: dict[str, Any], meta: str, split: str, metrics: str, stage: str, **inputs: Any) -> None:
    """A dual-branch stage: `unimodal_<m>` from scratch, or `fusion` initialised from the unimodal runs."""
    import torch

    from mmdiag.experiments.studies import dualbranch_run
    from mmdiag.experiments.supervised import train_model

    ctx = _context(config, meta)
    run = dualbranch_run(ctx, stage)
    init = None
    if stage == "fusion":
        states = {
            m: torch.load(inputs[f"unimodal_{m}"], map_location="cpu", weights_only=False)["state"]
            for m in run["modalities"]
        }

        def init(model: torch.nn.Module) -> None:
            model.load_unimodal(states)

    eval_sets = _test_set(split)
    if inputs.get("external"):
        eval_sets["multi_centre"] = (inputs["external"], "test")
    train_model(ctx, run, split, eval_sets, Path(metrics).parent, init=init)
