"""Knowledge distillation (METHODS.md §4): the teacher, then the ~40% student trained against it, both measured.

The run specs come from `mmdiag.experiments.studies.distillation_runs`; each model trains in its own resumable
run folder (`teacher/`, `student/`) through the generic supervised runner, and the pair is then timed on one
test batch (`mmdiag.engine.efficiency`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdiag.experiments.context import Context
from mmdiag.run_folder import METRICS, MODEL


def run_distillation(ctx: Context, split: str, eval_sets: dict[str, tuple[str, str]], out: Path) -> dict[str, Any]:
    """Train the teacher, then the student against it, into `out/teacher` and `out/student`; return the
    study's summary (its runs' metrics files, the efficiency of both models, their parameter ratio)."""
    import torch

    from mmdiag.engine.device import pick_device
    from mmdiag.engine.efficiency import measure_efficiency
    from mmdiag.experiments.studies import distillation_runs
    from mmdiag.experiments.supervised import load_model, train_model
    from mmdiag.models.student import parameter_ratio

    teacher_run, student_run = distillation_runs(ctx)
    train_model(ctx, teacher_run, split, eval_sets, out / "teacher")
    teacher = load_model(out / "teacher" / MODEL)
    train_model(ctx, student_run, split, eval_sets, out / "student", teacher=teacher)
    student = load_model(out / "student" / MODEL)
    device = pick_device(ctx.config["trainer"]["device"])
    samples = ctx.samples(split, "test", teacher_run["modalities"])
    batch = samples.batch(torch.arange(min(len(samples), int(ctx.config["distillation"]["efficiency_batch"]))))
    models = {"teacher": teacher, "student": student}
    efficiency = {name: measure_efficiency(m, batch, device) for name, m in models.items()}
    return {
        "study": "distillation",
        "runs": {
            "teacher": str(out / "teacher" / METRICS),
            "student": str(out / "student" / METRICS),
        },
        "efficiency": efficiency,
        "parameter_ratio": parameter_ratio(student, teacher),
    }
