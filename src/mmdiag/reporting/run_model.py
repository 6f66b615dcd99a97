"""Re-running a saved TMM-Net run on its test samples: features (Fig. 6) and Grad-CAM maps (Figs. 5, 7).

`model.pt` holds `state` and `model_config`; the model is rebuilt with `mmdiag.models.tmmnet.tmmnet` and
fed from the preprocessing cache through `Context`/`SampleSet`, exactly as evaluation fed it, images only.

Grad-CAM (`mmdiag.explain.gradcam`) needs a module whose output is the spatial map it weights. Encoders are
timm `features_only` bodies (CNN stages, or a ViT whose tokens timm reshapes to a map inside its forward),
so no module of every family outputs that map; `tap_feature_map` wraps the body of one modality so its last
map passes through an identity module, the same hook point for every encoder family.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mmdiag.data.batches import SampleSet
from mmdiag.experiments.context import Context
from mmdiag.experiments.evaluation import inference_mode
from mmdiag.explain.gradcam import gradcam_maps
from mmdiag.models.encoders.timm_image import _to_nchw
from mmdiag.models.tmmnet import TMMNet, tmmnet
from mmdiag.reporting.runs import Run


def load_model(run: Run) -> TMMNet:
    """The trained model of a run, on CPU, in eval mode."""
    from mmdiag.engine.checkpoint import load_checkpoint, rebuild_hint

    ckpt = load_checkpoint(run.model_path, hint=rebuild_hint(run.metrics_path))  # weights only (C8)
    model = tmmnet(**ckpt["model_config"])
    model.load_state_dict(ckpt["state"])
    return model.eval()


def test_samples(config: dict[str, Any], meta: str | Path, split: str | Path, modalities: Sequence[str]) -> SampleSet:
    """The `test` partition of `split` for `modalities`, from the cache next to `meta`."""
    return Context.open(config, Path(meta).parent).samples(split, "test", modalities)


def image_batch(samples: SampleSet, index: Sequence[int]) -> dict[str, Any]:
    """The samples at `index` as a model batch without reports (inference is image-only)."""
    batch = samples.batch(torch.as_tensor(list(index), dtype=torch.long))
    batch.pop("text", None)
    return batch


def collect_features(model: TMMNet, samples: SampleSet, batch_size: int = 64) -> dict[str, Any]:
    """Pooled per-modality features (`raw[m]`), fused features, labels and case ids of every sample."""
    raw: dict[str, list[np.ndarray]] = {m: [] for m in model.modalities}
    fused: list[np.ndarray] = []
    with inference_mode(model):
        for start in range(0, len(samples), batch_size):
            out = model(image_batch(samples, range(start, min(start + batch_size, len(samples)))))
            for m in model.modalities:
                raw[m].append(out["features"][m].pooled.float().numpy())
            fused.append(out["fused"].float().numpy())
    return {
        "raw": {m: np.concatenate(v) for m, v in raw.items()},
        "fused": np.concatenate(fused),
        "y": samples.y.numpy(),
        "case_ids": samples.case_ids,
    }


def pick_samples(samples: SampleSet, per_class: int = 1) -> list[int]:
    """The first `per_class` test samples of each class, in test order (deterministic)."""
    y = samples.y.numpy()
    return [int(i) for c in np.unique(y) for i in np.flatnonzero(y == c)[:per_class]]


# ------------------------------------------------------------------------------------------- Grad-CAM
class _TappedBody(nn.Module):
    """An encoder body whose last feature map passes through `tap` (an identity), as NCHW."""

    def __init__(self, body: nn.Module, channels: int) -> None:
        super().__init__()
        self.body = body
        self.channels = channels
        self.tap = nn.Identity()

    def forward(self, x: Tensor) -> list[Tensor]:
        maps = list(self.body(x))
        maps[-1] = self.tap(_to_nchw(maps[-1], self.channels))
        return maps


def tap_feature_map(model: TMMNet, modality: str) -> nn.Module:
    """The identity module that carries `modality`'s last feature map (installed on first use)."""
    encoder = model.image[modality]
    if not isinstance(encoder.body, _TappedBody):
        encoder.body = _TappedBody(encoder.body, encoder.channels[-1])
    return encoder.body.tap


class _AttributeLogits(nn.Module):
    """TMM-Net seen as a model whose `logits` are attribute `k` of `modality` (for Grad-CAM)."""

    def __init__(self, model: TMMNet, modality: str, k: int) -> None:
        super().__init__()
        self.model, self.modality, self.k = model, modality, k

    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"logits": self.model(batch)["attr_logits"][self.modality][self.k]}


def class_cams(model: TMMNet, batch: dict[str, Any], modality: str, class_index: Sequence[int]) -> np.ndarray:
    """Grad-CAM [B, H, W] of the class logits on `modality`'s last feature map."""
    layer = tap_feature_map(model, modality)
    model.set_active({"cls"})
    return gradcam_maps(model, batch, layer, modality, [int(c) for c in class_index])


def attribute_cams(
    model: TMMNet, batch: dict[str, Any], modality: str
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per attribute of `modality`: Grad-CAM [B, H, W] of the predicted value, the value [B], its probability [B]."""
    if not model.has_prototypes:
        raise ValueError("attribute heat maps need a model with attribute classifiers (stage 2 or attributes)")
    layer = tap_feature_map(model, modality)
    model.set_active({"cls", "attr"})
    with torch.no_grad():
        probs = [lg.softmax(-1) for lg in model(batch)["attr_logits"][modality]]
    out = []
    for k, p in enumerate(probs):
        value = p.argmax(-1)
        cams = gradcam_maps(_AttributeLogits(model, modality, k), batch, layer, modality, value.tolist())
        out.append((cams, value.numpy(), p.max(-1).values.numpy()))
    return out
