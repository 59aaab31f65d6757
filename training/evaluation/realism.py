"""How photo-like a model's images are, and how well its discriminator turns photos into layouts.

:class:`Realism` measures KID and the Fréchet distance between the first variation generated from each val
layout and the val photos, in the features of ImageNet EfficientNet-Lite2 (pooled head activations, 1280-d,
images resized to its 260x260 training resolution; weights from the `train` extra). A discriminator built on a
network's features can fool that network, so this is not the discriminators' backbone (Lite0/1). Every figure
comes with markers that give it a scale, measured the same way against the same val photos:

- train photos: what real photos of the dataset score (the floor);
- half resolution: the val photos bicubic down to half size and back up (a blurred photo);
- flat colours: the val layouts painted in their class colours (no texture at all; the ceiling).

:class:`PhotoToLayout` is the discriminator's segmentation mIoU on the val photos (the app's photo -> layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from oasis_core.backbone import LITE_SPECS, EfficientNetLite

from .metrics import (
    confusion_matrix,
    feature_statistics,
    frechet_distance,
    iou_from_confusion,
    kernel_inception_distance,
)
from .protocol import (
    Batch,
    EvalContext,
    Measure,
    MeasureResult,
    NotComputed,
    RunInfo,
    Skipped,
    SummaryRow,
    fmt,
    rounded,
)

__all__ = ["PhotoToLayout", "PhotoToLayoutResult", "Realism", "RealismFeatures", "RealismResult", "half_resolution"]

FEATURE_NETWORK = "efficientnet-lite2"
TRAIN_PHOTOS = 1000  # at most this many train photos for the floor marker


class RealismFeatures:
    """uint8 RGB images (B, H, W, 3) -> (B, 1280) float64 features of ImageNet EfficientNet-Lite2."""

    def __init__(self, net: EfficientNetLite, device: torch.device) -> None:
        self.net, self.device = net.to(device), device
        self.size = LITE_SPECS[FEATURE_NETWORK].resolution

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).float()
        x = F.interpolate(x.div(127.5).sub(1), size=(self.size, self.size), mode="bilinear", antialias=True)
        return self.net.pooled(x).double().cpu().numpy()


def half_resolution(images: np.ndarray) -> np.ndarray:
    """The blur marker: uint8 images (B, H, W, 3) bicubic down to half size and back up."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    h, w = x.shape[2:]
    small = F.interpolate(x, size=(h // 2, w // 2), mode="bicubic", align_corners=False, antialias=True)
    back = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    return back.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


@dataclass(frozen=True)
class Distance:
    """One image set against the val photos."""

    images: int
    kid_mean: float | None
    kid_std: float | None
    fd: float | None

    def to_json(self) -> dict[str, Any]:
        return {"images": self.images, "kid": {"mean": self.kid_mean, "std": self.kid_std}, "fd": self.fd}


def distance(features: np.ndarray, reference: np.ndarray, seed: int) -> Distance:
    # Subsets of half the smaller set: their spread says how much the figure moves with the images drawn (with
    # subsets as large as the set every subset is the same, and the spread is 0 whatever the sample size).
    size = max(2, min(len(features), len(reference)) // 2)
    mean, std = kernel_inception_distance(reference, features, subsets=100, subset_size=size, seed=seed)
    fd = frechet_distance(*feature_statistics(reference), *feature_statistics(features))
    return Distance(len(features), rounded(mean, 6), rounded(std, 6), rounded(fd, 3))


MARKERS = {
    "train_photos": "train photos (floor: real photos)",
    "half_resolution": "val photos at half resolution (blurred)",
    "flat_colours": "val layouts in flat class colours (ceiling)",
}


@dataclass(frozen=True)
class RealismResult(MeasureResult):
    generated: Distance
    markers: dict[str, Distance]  # MARKERS' keys, in their order
    val_photos: int

    NOTE = (
        "KID and Fréchet distance to the val photos in ImageNet EfficientNet-Lite2 features (pooled, 1280-d, "
        "260x260), not the discriminators' backbone; generated set: the first variation of each layout"
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "realism": {
                "features": FEATURE_NETWORK,
                "val_photos": self.val_photos,
                "generated": self.generated.to_json(),
                "markers": {k: d.to_json() for k, d in self.markers.items()},
                "note": self.NOTE,
            }
        }

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        marks = ", ".join(f"{MARKERS[k].split(' (')[0]} {fmt(d.kid_mean, 1000)}" for k, d in self.markers.items())
        return [
            SummaryRow(
                "Realism KID x 1000 ↓",
                f"{fmt(self.generated.kid_mean, 1000)} ± {fmt(self.generated.kid_std, 1000)}",
                f"markers: {marks}",
            )
        ]

    def sections(self, run: RunInfo) -> list[str]:
        lines = [
            "## Realism",
            "",
            f"Against the {self.val_photos} val photos ({self.NOTE}).",
            "",
            "| image set | images | KID x 1000 ↓ | FD ↓ |",
            "| --- | --- | --- | --- |",
        ]
        rows = [("generated", self.generated), *((MARKERS[k], d) for k, d in self.markers.items())]
        for name, d in rows:
            lines.append(f"| {name} | {d.images} | {fmt(d.kid_mean, 1000)} ± {fmt(d.kid_std, 1000)} | {fmt(d.fd)} |")
        return [*lines, ""]

    def footnotes(self) -> list[str]:
        return ["Realism: " + self.NOTE]

    def headline(self) -> str:
        return f"realism KID {fmt(self.generated.kid_mean, 1000)}e-3"


class Realism:
    """Features of each layout's photo, first generated variation, half-resolution photo and flat colours; the
    train photos' at the end."""

    def __init__(self, ctx: EvalContext, features: RealismFeatures) -> None:
        self.ctx, self.features = ctx, features
        self.palette = np.asarray(ctx.synth.config.class_colors, np.uint8)
        self.sets: dict[str, list[np.ndarray]] = {k: [] for k in ("val", "generated", "half_resolution", "flat")}

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        from ..pretrained import PretrainedWeightsError, pretrained_lite

        try:
            net = pretrained_lite(FEATURE_NETWORK)
        except PretrainedWeightsError as e:
            ctx.log(f"realism not computed: {e}")
            return Skipped(NotComputed(("realism",), "Realism KID ↓", str(e), short_name="realism"))
        return cls(ctx, RealismFeatures(net, ctx.device))

    def update(self, batch: Batch) -> None:
        real = batch.real[None]
        images = np.concatenate([real, batch.generated[:1], half_resolution(real), self.palette[batch.labels][None]])
        for key, f in zip(self.sets, self.features(images)):
            self.sets[key].append(f)

    def _train_features(self) -> np.ndarray:
        photos = [photo for _, photo in self.ctx.read_split("train", TRAIN_PHOTOS)]
        return np.concatenate([self.features(np.stack(photos[i : i + 16])) for i in range(0, len(photos), 16)])

    def result(self) -> RealismResult | NotComputed:
        if len(self.sets["val"]) < 4:
            return NotComputed(("realism",), "Realism KID ↓", "KID needs at least 4 layouts", short_name="realism")
        val, seed = np.stack(self.sets["val"]), self.ctx.opts.seed
        sets = {
            "train_photos": self._train_features(),
            "half_resolution": np.stack(self.sets["half_resolution"]),
            "flat_colours": np.stack(self.sets["flat"]),
        }
        markers = {k: distance(f, val, seed) for k, f in sets.items()}
        return RealismResult(distance(np.stack(self.sets["generated"]), val, seed), markers, len(val))


@dataclass(frozen=True)
class PhotoToLayoutResult(MeasureResult):
    miou: float | None
    pixel_accuracy: float | None
    photos: int

    def to_json(self) -> dict[str, Any]:
        return {"photo_to_layout": {"miou": self.miou, "pixel_accuracy": self.pixel_accuracy, "photos": self.photos}}

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        return [
            SummaryRow(
                "Photo → layout mIoU ↑",
                fmt(self.miou, 100, 1),
                f"the model's discriminator segmenting the {self.photos} val photos",
            )
        ]

    def headline(self) -> str:
        return f"photo->layout mIoU {fmt(self.miou, 100, 1)}"


class PhotoToLayout:
    """The discriminator as a segmenter (``Synthesizer.segment``) on the val photos: one confusion matrix."""

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self.n, self.ignore = ctx.info.label_nc, ctx.info.dont_care_id
        self.confusion = np.zeros((self.n, self.n), np.int64)
        self.photos = 0

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        if not ctx.synth.can_segment:
            reason = "the model was saved without its discriminator"
            return Skipped(NotComputed(("photo_to_layout",), "Photo → layout mIoU ↑", reason))
        return cls(ctx)

    def update(self, batch: Batch) -> None:
        pred = self.ctx.synth.segment(batch.real)
        self.confusion += confusion_matrix(pred[None], batch.labels[None], self.n, self.ignore)
        self.photos += 1

    def result(self) -> PhotoToLayoutResult:
        iou = iou_from_confusion(self.confusion, [self.ignore] if self.ignore is not None else [])
        return PhotoToLayoutResult(rounded(iou.miou), rounded(iou.pixel_accuracy), self.photos)
