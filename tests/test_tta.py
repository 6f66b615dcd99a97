"""Test-time augmentation: mean softmax over views, same view for every image modality."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from mmdiag.models.tta import TTA_TRANSFORMS, tta_predict, tta_view

torch.set_num_threads(1)

B, K = 4, 3


def _images(seed: int = 0, size: tuple[int, int] = (8, 8)) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"eus": torch.randn(B, 3, *size, generator=g), "wle": torch.randn(B, 3, *size, generator=g)}


def _position_sensitive(images: dict[str, Tensor]) -> Tensor:
    """Logits that depend on where pixels are, so views change them."""
    x = images["eus"] + images["wle"]
    weights = torch.arange(x[0].numel(), dtype=x.dtype).reshape(x.shape[1:]) / x[0].numel()
    score = (x * weights).flatten(1).sum(1)
    return torch.stack([score, -score, 0.5 * score], dim=1)


def _invariant(images: dict[str, Tensor]) -> Tensor:
    """Global average pooling then a fixed linear map: invariant to flips and 90-degree rotations."""
    pooled = images["eus"].mean((-2, -1)) - images["wle"].mean((-2, -1))
    return pooled @ torch.tensor([[1.0, -1.0, 0.0], [0.5, 0.0, 2.0], [0.0, 1.0, -1.0]])


def test_identity_is_plain_softmax() -> None:
    images = _images()
    got = tta_predict(_position_sensitive, images, transforms=("identity",))
    torch.testing.assert_close(got, _position_sensitive(images).softmax(-1))


def test_mean_of_view_softmaxes() -> None:
    images = _images()
    views = ("identity", "hflip", "rot90", "center_crop")
    expected = torch.stack(
        [_position_sensitive({m: tta_view(x, v) for m, x in images.items()}).softmax(-1) for v in views]
    ).mean(0)
    got = tta_predict(_position_sensitive, images, transforms=views)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(-1), torch.ones(B))
    assert not torch.allclose(got, tta_predict(_position_sensitive, images, transforms=("identity",)))


def test_flip_and_rotation_invariant_model_unchanged() -> None:
    images = _images()
    plain = tta_predict(_invariant, images, transforms=("identity",))
    torch.testing.assert_close(tta_predict(_invariant, images, transforms=("hflip",)), plain)
    torch.testing.assert_close(
        tta_predict(_invariant, images, transforms=("identity", "hflip", "vflip", "rot90")), plain
    )


def test_views_are_the_geometric_transforms() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(tta_view(x, "hflip"), x[..., torch.arange(3, -1, -1)])
    torch.testing.assert_close(tta_view(x, "rot90"), torch.rot90(x, 1, (-2, -1)))
    # Central half of a linear ramp, resized back to 4x4, keeps its centre and shrinks the range.
    crop = tta_view(x, "center_crop", crop_fraction=0.5)
    assert crop.shape == x.shape
    assert crop.mean().item() == pytest.approx(x.mean().item())
    assert crop.min() >= x[..., 1:3, 1:3].min() and crop.max() <= x[..., 1:3, 1:3].max()
    # Constant image: any view is the same image.
    const = torch.full((2, 3, 8, 6), 0.3)
    for name in TTA_TRANSFORMS:
        torch.testing.assert_close(tta_view(const, name), const)


def test_same_transform_for_every_modality() -> None:
    seen: list[tuple[Tensor, Tensor]] = []

    def predict(images: dict[str, Tensor]) -> Tensor:
        seen.append((images["eus"], images["wle"]))
        return torch.zeros(B, K)

    base = _images()["eus"]
    tta_predict(predict, {"eus": base, "wle": base.clone()})
    assert len(seen) == 4
    for eus, wle in seen:
        torch.testing.assert_close(eus, wle)
        assert eus.shape == base.shape


def test_non_square_rot90_keeps_input_size() -> None:
    x = torch.randn(2, 3, 6, 10)
    assert tta_view(x, "rot90").shape == x.shape


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"unknown TTA transform.*known: identity"):
        tta_predict(_invariant, _images(), transforms=("identity", "shear"))
    with pytest.raises(ValueError, match="empty"):
        tta_predict(_invariant, _images(), transforms=())
    with pytest.raises(ValueError, match="crop_fraction"):
        tta_predict(_invariant, _images(), crop_fraction=0.0)
