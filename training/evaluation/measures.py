"""The paper's measures as :class:`~.protocol.Measure` objects, each with its typed result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .metrics import (
    ClassHistograms,
    confusion_matrix,
    feature_statistics,
    frechet_distance,
    frequency_groups,
    iou_from_confusion,
    kernel_inception_distance,
    mean_pairwise_ms_ssim,
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

if TYPE_CHECKING:
    from ..data import DatasetInfo
    from .judge import Judge

__all__ = [
    "ColorTexture",
    "ColorTextureResult",
    "FIDResult",
    "FrechetInception",
    "JudgeMIoU",
    "LPIPSDiversity",
    "LPIPSResult",
    "MSSSIMDiversity",
    "MSSSIMResult",
    "SegmentationResult",
]


# ---- FID / KID ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FIDResult(MeasureResult):
    fid: float | None
    kid_mean: float | None
    kid_std: float | None
    images: int  # real and generated images alike

    NOTE = "generated set: the first variation of each layout; features: FID Inception-v3 pool3"

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "kid": {"mean": self.kid_mean, "std": self.kid_std},
            "fid_images": self.images,
            "fid_note": self.NOTE,
        }

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        n = self.images
        return [
            SummaryRow("FID ↓", fmt(self.fid), f"{n} real vs {n} generated images"),
            SummaryRow("KID x 1000 ↓", f"{fmt(self.kid_mean, 1000)} ± {fmt(self.kid_std, 1000)}"),
        ]

    def notes(self) -> list[str]:
        if self.images >= 2048:
            return []
        return [
            (
                f"FID from {self.images} image pairs (< 2048 features: the covariance is rank-deficient); it is "
                "biased upwards and only comparable with FIDs from the same number of images. KID is unbiased."
            )
        ]

    def footnotes(self) -> list[str]:
        return ["FID/KID: " + self.NOTE]

    def headline(self) -> str:
        return f"FID {fmt(self.fid)}"


class FrechetInception:
    """FID and KID between the real photos and the first variation of each layout, in the pool3 features of
    pytorch-fid's Inception-v3."""

    def __init__(self, net: torch.nn.Module, device: torch.device, seed: int) -> None:
        self.net, self.device, self.seed = net, device, seed
        self.real: list[np.ndarray] = []
        self.generated: list[np.ndarray] = []

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        from .inception import InceptionWeightsError, load_inception, standard_fid_weights

        try:
            weights = ctx.opts.inception_weights or standard_fid_weights(download=ctx.opts.download_inception)
            net = load_inception(weights, device=ctx.device)
        except InceptionWeightsError as e:
            reason = f"no usable Inception weights: {e}"
            ctx.log(f"FID/KID not computed: {reason}")
            return Skipped(_no_fid(reason))
        return cls(net, ctx.device, ctx.opts.seed)

    @torch.inference_mode()
    def update(self, batch: Batch) -> None:
        x = torch.from_numpy(np.stack([batch.real, batch.generated[0]])).permute(0, 3, 1, 2).float().div(255)
        f = self.net(x.to(self.device)).double().cpu().numpy()
        self.real.append(f[0])
        self.generated.append(f[1])

    def result(self) -> FIDResult | NotComputed:
        if len(self.real) < 2:
            return _no_fid("FID needs at least 2 layouts")
        real, generated = np.stack(self.real), np.stack(self.generated)
        fid = frechet_distance(*feature_statistics(real), *feature_statistics(generated))
        kid, kid_std = kernel_inception_distance(real, generated, seed=self.seed)
        return FIDResult(rounded(fid, 3), rounded(kid, 6), rounded(kid_std, 6), len(real))


def _no_fid(reason: str) -> NotComputed:
    return NotComputed(("fid", "kid"), "FID / KID ↓", reason, short_name="FID")


# ---- mIoU by a judge -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassIoU:
    pixel_share: float | None
    iou_real: float | None
    iou_generated: float | None


@dataclass(frozen=True)
class FrequencyBand:
    band: str
    classes: list[str]
    pixel_share: float | None
    miou_real: float | None
    miou_generated: float | None


@dataclass(frozen=True)
class SegmentationResult(MeasureResult):
    generated: float | None
    real: float | None
    ratio_generated_to_real: float | None
    pixel_accuracy_generated: float | None
    pixel_accuracy_real: float | None
    judge: dict[str, Any]  # Judge.describe()
    evaluated_at: tuple[int, int]
    per_class: dict[str, ClassIoU]  # classes other than don't-care, in id order
    frequency_bands: list[FrequencyBand]
    frequency_source: str
    confusion_generated: np.ndarray  # rows truth, columns prediction
    confusion_real: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {
            "miou": {
                "generated": self.generated,
                "real": self.real,
                "ratio_generated_to_real": self.ratio_generated_to_real,
                "pixel_accuracy_generated": self.pixel_accuracy_generated,
                "pixel_accuracy_real": self.pixel_accuracy_real,
                "judge": self.judge,
                "evaluated_at": list(self.evaluated_at),
                "per_class": {name: asdict(c) for name, c in self.per_class.items()},
                "frequency_bands": [asdict(b) for b in self.frequency_bands],
                "frequency_source": self.frequency_source,
                "confusion_generated": self.confusion_generated.tolist(),
                "confusion_real": self.confusion_real.tolist(),
            }
        }

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        h, w = self.evaluated_at
        return [
            SummaryRow("mIoU, judge on generated images ↑", fmt(self.generated, 100, 1), f"at {h}x{w}"),
            SummaryRow("mIoU, judge on real images (its ceiling)", fmt(self.real, 100, 1), "same layouts, same size"),
        ]

    def sections(self, run: RunInfo) -> list[str]:
        return self._judge_check(run.split) + self._per_class()

    def _judge_check(self, split: str) -> list[str]:
        h, w = self.evaluated_at
        judge, ratio = self.judge, self.ratio_generated_to_real
        return [
            "## Judge check",
            "",
            f"**The judge scores mIoU {fmt(self.real, 100, 1)} on the real {split} images and "
            f"{fmt(self.generated, 100, 1)} on the generated ones"
            + (f" ({ratio * 100:.0f}% of its real-image score)" if ratio is not None else "")
            + f"**, both at the model's size {h}x{w}, one confusion matrix over the split, don't-care ignored. "
            "A generated mIoU near the real one means the images follow their layouts as well as photos do, "
            "as far as this judge can tell; a low real-image mIoU means the judge itself is weak.",
            "",
            f"Judge: {judge['kind']} `{judge['source']}`"
            + (f", runs at {judge['input_size'][0]}x{judge['input_size'][1]}" if judge.get("input_size") else "")
            + (f", trained on {judge['trained_on']}" if judge.get("trained_on") else "")
            + (
                f" (val mIoU {judge['val_miou_at_training'] * 100:.1f} at its own size)"
                if judge.get("val_miou_at_training") is not None
                else ""
            )
            + ".",
            "",
        ]

    def _per_class(self) -> list[str]:
        out = [
            "## Per-class IoU by class frequency (as the paper's Tables B-D)",
            "",
            f"Classes sorted by pixel frequency ({self.frequency_source}) and cut into bands of equal class count.",
            "",
            "| band | classes | pixel share | mIoU real | mIoU generated |",
            "|---|---|---|---|---|",
        ]
        for b in self.frequency_bands:
            out.append(
                f"| {b.band} | {', '.join(b.classes)} | {fmt(b.pixel_share, 100, 1)}% | "
                f"{fmt(b.miou_real, 100, 1)} | {fmt(b.miou_generated, 100, 1)} |"
            )
        out += ["", "| class | pixel share | IoU real | IoU generated |", "|---|---|---|---|"]
        for name in (c for b in self.frequency_bands for c in b.classes):
            c = self.per_class[name]
            out.append(
                f"| {name} | {fmt(c.pixel_share, 100, 2)}% | {fmt(c.iou_real, 100, 1)} | "
                f"{fmt(c.iou_generated, 100, 1)} |"
            )
        return out + [""]

    def headline(self) -> str:
        return f"mIoU generated {fmt(self.generated, 100, 1)} / real {fmt(self.real, 100, 1)}"


NO_JUDGE = (
    "no judge given (--judge); train one with `oasis-eval train-judge`, pass a TorchScript segmenter "
    "or, for CamVid, espnet-camvid:PATH (the published ESPNet weights)"
)


class JudgeMIoU:
    """mIoU of a judge segmenter on the generated images against their layouts, and on the real photos (its
    ceiling): one confusion matrix each over the split, don't-care ignored, per class and by frequency band."""

    def __init__(self, judge: Judge, info: DatasetInfo, size: tuple[int, int]) -> None:
        self.judge, self.size = judge, size
        self.names = list(info.class_names)
        self.n, self.ignore = info.label_nc, info.dont_care_id
        self.confusion_real = np.zeros((self.n, self.n), np.int64)
        self.confusion_generated = np.zeros((self.n, self.n), np.int64)
        self.label_counts = np.zeros(self.n, np.int64)

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        if ctx.judge is None:
            return Skipped(NotComputed(("miou",), "mIoU ↑", NO_JUDGE, short_name="mIoU"))
        return cls(ctx.judge, ctx.info, ctx.size)

    def update(self, batch: Batch) -> None:
        labels = batch.labels
        self.label_counts += np.bincount(labels.ravel(), minlength=self.n)[: self.n]
        self.confusion_real += confusion_matrix(self.judge.predict(batch.real[None]), labels[None], self.n, self.ignore)
        pred = self.judge.predict(batch.generated)
        self.confusion_generated += confusion_matrix(pred, np.repeat(labels[None], len(pred), 0), self.n, self.ignore)

    def _pixel_shares(self) -> tuple[np.ndarray, str]:
        """Class pixel counts for the frequency bands: the judge's training split's when known (as the paper's
        tables, fixed whatever is evaluated), else the evaluated split's labels."""
        cfg = self.judge.config
        if cfg is not None and len(cfg.class_pixel_share) == self.n:
            return np.asarray(cfg.class_pixel_share, np.float64), "pixel shares of the judge's training split"
        return self.label_counts.astype(np.float64), "pixel shares of the evaluated split's labels"

    def result(self) -> SegmentationResult:
        exclude = [self.ignore] if self.ignore is not None else []
        valid = [i for i in range(self.n) if i not in exclude]
        counts, source = self._pixel_shares()
        share = counts / max(counts[valid].sum(), 1e-12)
        iou_r = iou_from_confusion(self.confusion_real, exclude)
        iou_f = iou_from_confusion(self.confusion_generated, exclude)
        per_class = {
            self.names[c]: ClassIoU(rounded(share[c]), rounded(iou_r.per_class[c]), rounded(iou_f.per_class[c]))
            for c in valid
        }
        groups = frequency_groups(counts, exclude)
        band_names = (
            ["frequent", "common", "rare"] if len(groups) == 3 else [f"band {i + 1}" for i in range(len(groups))]
        )
        bands = [
            FrequencyBand(
                name,
                [self.names[i] for i in ids],
                rounded(share[ids].sum()),
                _mean_defined(iou_r.per_class[ids]),
                _mean_defined(iou_f.per_class[ids]),
            )
            for name, ids in zip(band_names, groups)
        ]
        ratio = iou_f.miou / iou_r.miou if iou_r.miou and iou_r.miou > 0 else None
        return SegmentationResult(
            rounded(iou_f.miou), rounded(iou_r.miou), rounded(ratio),
            rounded(iou_f.pixel_accuracy), rounded(iou_r.pixel_accuracy),
            self.judge.describe(), self.size, per_class, bands, source,
            self.confusion_generated.copy(), self.confusion_real.copy(),
        )  # fmt: skip


def _mean_defined(ious: np.ndarray) -> float | None:
    return None if np.isnan(ious).all() else rounded(float(np.nanmean(ious)))


# ---- diversity -------------------------------------------------------------------------------------------

NO_DIVERSITY = "needs at least 2 variations per layout (--variations) and a model with 3D noise"


@dataclass(frozen=True)
class MSSSIMResult(MeasureResult):
    ms_ssim: float | None
    layouts: int
    scales: int
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "diversity": {"ms_ssim": self.ms_ssim, "layouts": self.layouts, "scales": self.scales, "note": self.note}
        }

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        detail = f"{self.scales} of 5 scales, {self.layouts} layouts"
        return [SummaryRow("MS-SSIM ↓ (diversity)", fmt(self.ms_ssim, nd=3), detail)]

    def footnotes(self) -> list[str]:
        return ["Diversity: " + self.note]

    def headline(self) -> str:
        return f"MS-SSIM {fmt(self.ms_ssim, nd=3)}"


class MSSSIMDiversity:
    """Mean pairwise MS-SSIM between the variations of one layout, averaged over layouts."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.values: list[float] = []
        self.scales = 0

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        return cls(ctx.size)

    def update(self, batch: Batch) -> None:
        if len(batch.generated) >= 2:
            v, self.scales = mean_pairwise_ms_ssim(batch.generated)
            self.values.append(v)

    def result(self) -> MSSSIMResult | NotComputed:
        if not self.values:
            return NotComputed(("diversity",), "MS-SSIM ↓ (diversity)", NO_DIVERSITY, short_name="MS-SSIM")
        note = (
            "mean pairwise MS-SSIM between the variations of one layout, averaged over layouts (lower = more diverse)"
        )
        if self.scales < 5:
            h, w = self.size
            note += (
                f"; at {h}x{w} only {self.scales} of the 5 standard scales fit (the standard needs a short "
                f"side of at least 161 px), so the first {self.scales} weights are renormalised: not comparable "
                "with 5-scale values"
            )
        return MSSSIMResult(rounded(float(np.mean(self.values))), len(self.values), self.scales, note)


@dataclass(frozen=True)
class LPIPSResult(MeasureResult):
    lpips: float | None

    NOTE = "mean pairwise LPIPS (AlexNet, v0.1) between the variations of one layout (higher = more diverse)"

    def to_json(self) -> dict[str, Any]:
        return {"lpips": self.lpips, "lpips_note": self.NOTE}

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        return [SummaryRow("LPIPS ↑ (diversity)", fmt(self.lpips, nd=3), "AlexNet v0.1, mean pairwise")]


class LPIPSDiversity:
    """Mean pairwise LPIPS between the variations of one layout, averaged over layouts."""

    def __init__(self, net: torch.nn.Module, device: torch.device, size: tuple[int, int]) -> None:
        self.net, self.device, self.size = net, device, size
        self.values: list[float] = []
        self.failure: str | None = None

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        if not ctx.opts.lpips_weights:
            return Skipped(_no_lpips(
                "no LPIPS weights: pass --lpips-weights with torchvision's AlexNet state dict and the lpips "
                "package's v0.1 alex.pth linear layers; nothing is downloaded"
            ))  # fmt: skip
        from .inception import InceptionWeightsError
        from .lpips import load_lpips

        try:
            net = load_lpips(ctx.opts.lpips_weights, device=ctx.device)
        except InceptionWeightsError as e:
            return Skipped(_no_lpips(f"LPIPS weights could not be used: {e}"))
        return cls(net, ctx.device, ctx.size)

    @torch.inference_mode()
    def update(self, batch: Batch) -> None:
        if self.failure is not None or len(batch.generated) < 2:
            return
        t = torch.from_numpy(np.ascontiguousarray(batch.generated)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        t = t.to(self.device)
        i, j = torch.triu_indices(len(t), len(t), offset=1)
        try:
            self.values.append(float(self.net(t[i], t[j]).mean()))
        except RuntimeError as e:  # images too small for AlexNet's pooling
            self.failure = f"LPIPS failed at {self.size[0]}x{self.size[1]}: {e}"

    def result(self) -> LPIPSResult | NotComputed:
        if self.failure is not None:
            return _no_lpips(self.failure)
        if not self.values:
            return _no_lpips("needs at least 2 variations per layout")
        return LPIPSResult(rounded(float(np.mean(self.values))))


def _no_lpips(reason: str) -> NotComputed:
    return NotComputed(("lpips",), "LPIPS ↑ (diversity)", reason, status="not available")


# ---- colour and texture ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassColorTexture:
    color_emd: float | None
    texture_chi2: float | None


@dataclass(frozen=True)
class ColorTextureResult(MeasureResult):
    color_emd: float | None  # means over the classes
    texture_chi2: float | None
    per_class: dict[str, ClassColorTexture]  # classes with pixels in both sets

    NOTE = (
        "per class, real vs generated pixels over the split: LAB colour histograms (64 bins per channel) compared "
        "with the 1-D earth mover's distance per channel (in LAB units, mean of L, a, b), LBP (8 neighbours, "
        "radius 1, 256 codes) histograms compared with chi2 = 0.5 sum (p-q)^2/(p+q); then the mean over classes "
        "present in both; don't-care excluded"
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "color_texture": {
                "color_emd": self.color_emd,
                "texture_chi2": self.texture_chi2,
                "classes": len(self.per_class),
                "per_class": {name: asdict(c) for name, c in self.per_class.items()},
                "note": self.NOTE,
            }
        }

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        over = f"mean over {len(self.per_class)} classes"
        return [
            SummaryRow("colour: LAB histogram EMD ↓", fmt(self.color_emd), over),
            SummaryRow("texture: LBP histogram χ² ↓", fmt(self.texture_chi2, nd=4), over),
        ]

    def sections(self, run: RunInfo) -> list[str]:
        out = ["## Colour and texture per class (Fig. 6)", "", self.NOTE + ".", ""]
        out += ["| class | colour EMD | texture χ² |", "|---|---|---|"]
        out += [f"| {n} | {fmt(c.color_emd)} | {fmt(c.texture_chi2, nd=4)} |" for n, c in self.per_class.items()]
        return out + [""]

    def headline(self) -> str:
        return f"colour EMD {fmt(self.color_emd)}, texture chi2 {fmt(self.texture_chi2, nd=4)}"


class ColorTexture:
    """Per class, real vs generated pixels over the split: LAB colour histogram EMD and LBP texture chi2."""

    def __init__(self, info: DatasetInfo) -> None:
        self.names = list(info.class_names)
        self.histograms = ClassHistograms(info.label_nc, info.dont_care_id)

    @classmethod
    def create(cls, ctx: EvalContext) -> Measure:
        return cls(ctx.info)

    def update(self, batch: Batch) -> None:
        self.histograms.add(batch.real, batch.labels, generated=False)
        for g in batch.generated:
            self.histograms.add(g, batch.labels, generated=True)

    def result(self) -> ColorTextureResult | NotComputed:
        dists = self.histograms.distances()
        if not dists:  # no class has pixels in both sets: nothing to compare, nothing to explain
            return NotComputed(("color_texture",), "colour / texture", None)
        return ColorTextureResult(
            rounded(float(np.mean([d[0] for d in dists.values()]))),
            rounded(float(np.mean([d[1] for d in dists.values()]))),
            {self.names[c]: ClassColorTexture(rounded(e), rounded(x)) for c, (e, x) in dists.items()},
        )
