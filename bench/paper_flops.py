"""FLOPs of one training sample of the paper-preset TMM-Net (config/paper_tmmnet.yaml), counted by torch.

Prints forward FLOPs per EUS+WLE pair (with its report) for the full model, and the training cost
estimated as 3x forward (forward + backward), which the README turns into time estimates. No GPU needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmdiag.config import load_config
from mmdiag.models.tmmnet import tmmnet

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    cfg = load_config(REPO / "config" / "config.yaml", REPO / "config" / "paper_tmmnet.yaml")
    size, length = cfg["preprocess"]["size"], cfg["corpus"]["max_length"]
    enc = dict(cfg["encoders"][cfg["tmmnet"]["encoder"]], pretrained="off")
    enc.pop("label", None)
    text = dict(cfg["text_encoders"][cfg["tmmnet"]["text_encoder"]])
    model = tmmnet(
        modalities=["eus", "wle"],
        num_classes=2,
        in_chans={"eus": 3, "wle": 3},
        attribute_sizes={"eus": [4, 4, 3, 2, 3, 2], "wle": [4, 4, 3, 4, 2]},
        encoder=enc,
        text_encoder=text,
        vocab_size=200,
        text_length=length,
        stage1=True,
        stage2=True,
        attention=True,
        text_sections={"eus": "report", "wle": "report"},
    )
    model.set_active({"cls", "clip", "proto", "attr"})
    batch = {
        "images": {m: torch.randn(2, 3, size, size) for m in ("eus", "wle")},
        "text": {"report": torch.randint(2, 200, (2, length))},
        "case": torch.tensor([0, 1]),
        "label": torch.tensor([0, 1]),
    }
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(batch)
    per_pair = counter.get_total_flops() / 2
    params = sum(p.numel() for p in model.parameters())
    print(f"paper-preset TMM-Net: {params / 1e6:.1f} M parameters, {size} px, report length {length}")
    print(f"forward FLOPs per EUS+WLE pair (with report): {per_pair / 1e9:.1f} GFLOP")
    print(f"training FLOPs per pair (~3x forward):        {3 * per_pair / 1e9:.1f} GFLOP")


if __name__ == "__main__":
    main()
