"""TMM-Net's Tables 1-4 from run metrics (`metrics.json` of each run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mmdiag.io import read_json, write_text

HEADLINE = ["SEN", "SPE", "Acc", "AUC"]


@dataclass
class Table:
    name: str
    caption: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _modality_label(mods: Sequence[str]) -> str:
    return "+".join(m.upper() for m in mods)


def _row(metrics: Mapping[str, Any], evalset: str) -> dict[str, float]:
    m = metrics["eval"][evalset]["metrics"]
    return {k: m.get(k) for k in HEADLINE}


def build_table(table: str, runs: Sequence[str], config: Mapping[str, Any]) -> Table:
    loaded = [read_json(p) for p in runs]
    rows = []
    if table in {"t1", "t2", "t3"}:
        for met in loaded:
            run = met["run"]
            base = {
                "method": f"{run['encoder_label']} {run['arm']}",
                "arm": run["arm"],
                "encoder": run["encoder"],
                "data": _modality_label(run["arm_spec"]["modalities"])
                + ("+text" if run["arm_spec"].get("stage1") else ""),
            }
            if table == "t3":
                for evalset, setting in (("single_centre", "single-centre"), ("multi_centre", "multi-centre")):
                    if evalset in met["eval"]:
                        rows.append({**base, "setting": setting, **_row(met, evalset)})
            elif table == "t2":
                ev = met["eval"]["single_centre"]
                rows.append({**base, "G-Acc": ev["metrics"]["Acc"], "P-Acc": ev["attributes"].get("P-Acc")})
            else:
                rows.append({**base, **_row(met, "single_centre")})
    else:
        for p, met in zip(runs, loaded):
            centre = p.split("/")[-2]
            row = {"centre": centre}
            row.update({f"fold{i + 1}": f["Acc"] for i, f in enumerate(met["folds"])})
            row["mean"] = met["summary"]["Acc"]["mean"]
            row["std"] = met["summary"]["Acc"]["std"]
            rows.append(row)
    frame = pd.DataFrame(rows)
    names = {
        "t1": "tmmnet_t1_comparison",
        "t2": "tmmnet_t2_text_guidance",
        "t3": "tmmnet_t3_ablation",
        "t4": "tmmnet_t4_cv",
    }
    return Table(names[table], names[table], frame)


def write_table(table: Table, csv: str, md: str) -> None:
    write_text(csv, table.frame.to_csv(index=False, float_format="%.4f"))
    write_text(md, f"**{table.caption}**\n\n" + table.frame.to_markdown(index=False, floatfmt=".3f") + "\n")
