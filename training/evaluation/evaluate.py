"""One evaluation run: generate N variations per validation layout and measure them against the real images.

:func:`evaluate` returns a JSON-ready dict (what ``metrics.json`` holds) plus the contact-sheet rows;
:mod:`.report` turns them into files. Measures that need weights that are not there (FID/KID without the
Inception file, mIoU without a judge, LPIPS) come out as ``null`` with a ``*_reason`` saying why; the
others still run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from oasis_core import noise as noise_ops

from .metrics import (
    ClassHistograms,
    confusion_matrix,
    feature_statistics,
    frechet_distance,
    frequency_groups,
    iou_from_confusion,
    kernel_inception_distance,
    mean_pairwise_ms_ssim,
    nan_to_none,
)

if TYPE_CHECKING:
    from oasis_core import Synthesizer

__all__ = ["EvalError", "EvalOptions", "evaluate"]


class EvalError(RuntimeError):
    """An evaluation that cannot run (model and dataset do not match, no pairs, bad judge)."""


@dataclass
class EvalOptions:
    model: str
    dataset: str
    dataroot: str
    classes_file: str | None = None
    split: str = "val"
    judge: str | None = None
    variations: int = 3
    limit: int | None = None
    device: str = "auto"
    inception_weights: str | None = None
    download_inception: bool = False  # without inception_weights: fetch pytorch-fid's file into torch.hub's cache
    lpips_weights: list[str] | None = None
    seed: int = 0
    contact_rows: int = 8
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _r(v: float | None, nd: int = 4) -> float | None:
    v = nan_to_none(v) if v is not None else None
    return None if v is None else round(v, nd)


def contact_indices(count: int, rows: int) -> set[int]:
    """Which of `count` layouts the contact sheet shows: `rows` spread evenly over the split, since neighbours in
    a video dataset (CamVid) are near-identical frames."""
    return set(np.linspace(0, count - 1, min(rows, count)).round().astype(int).tolist()) if count else set()


def _reroll_class(labels: np.ndarray, ignore: int | None) -> int:
    """The layout's largest class (not don't-care): the region the contact sheet re-rolls."""
    counts = np.bincount(labels.ravel())
    if ignore is not None and ignore < len(counts):
        counts[ignore] = 0
    return int(counts.argmax())


def reroll_largest_class(
    synth: Synthesizer, labels: np.ndarray, noise: torch.Tensor, seed: int, ignore: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The image of `noise` (1, z, H, W) re-sampled from `seed` only on the layout's largest class, and that
    class's mask: the sample sheets' local re-roll."""
    mask = labels == _reroll_class(labels, ignore)
    fresh = noise_ops.resample(noise, mask, seed, pixel_channels=synth.config.noise_pixel_channels)
    return synth.generate(labels, fresh), mask


def _change_inside_outside(before: np.ndarray, after: np.ndarray, mask: np.ndarray, margin: int = 8) -> tuple[float, float]:
    """Mean absolute RGB change inside `mask` and outside it beyond `margin` pixels (the generator's convolutions
    legitimately carry a change a little past the region's border)."""
    diff = np.abs(after.astype(np.float32) - before.astype(np.float32)).mean(-1)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    inside = float(diff[mask].mean()) if mask.any() else 0.0
    outside = float(diff[~near].mean()) if (~near).any() else 0.0
    return inside, outside


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the border of `mask` drawn in magenta."""
    m = mask.astype(np.uint8)
    edge = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - m).astype(bool)
    out = image.copy()
    out[edge] = (255, 0, 255)
    return out


def _seeds(index: int, variations: int, base: int) -> list[int]:
    """Noise seeds of layout ``index`` (its position in the split): fixed, whatever --limit is."""
    return [base + index * 1000 + v for v in range(variations)]


@torch.inference_mode()
def _mean_pairwise_lpips(net, images: np.ndarray, device) -> float:
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(device)
    i, j = torch.triu_indices(len(t), len(t), offset=1)
    return float(net(t[i], t[j]).mean())


def evaluate(opts: EvalOptions, log=print) -> tuple[dict[str, Any], list[list[np.ndarray]]]:
    from tqdm import tqdm

    from oasis_core import Synthesizer, colorize, load_model

    from ..data import SegmentationDataset, validate
    from .inception import InceptionWeightsError, load_inception, standard_fid_weights
    from .judge import JudgeError, load_judge

    t0 = time.perf_counter()
    notes: list[str] = []
    model = load_model(opts.model)
    cfg = model.config
    synth = Synthesizer(model, device=opts.device)
    dev = synth.device
    rep = validate(opts.dataset, opts.dataroot, opts.split, opts.classes_file)
    info = rep.info
    if info.label_nc != cfg.label_nc:
        raise EvalError(
            f"the model has {cfg.label_nc} label channels but the dataset {info.label_nc} "
            f"({', '.join(info.class_names)}); evaluate a model on the dataset it was trained for"
        )
    if tuple(info.class_names) != tuple(cfg.class_names):
        notes.append(f"class names differ between model and dataset; the dataset's are used: {list(info.class_names)}")
    if cfg.dont_care_id != info.dont_care_id:
        notes.append(f"don't-care id: model {cfg.dont_care_id}, dataset {info.dont_care_id}; the dataset's is used")
    if rep.problems:
        notes.append(f"{len(rep.problems)} problem(s) in the {opts.split} split; those pairs are skipped")
    pairs = rep.pairs[: opts.limit] if opts.limit else rep.pairs
    if not pairs:
        raise EvalError(f"no usable image/label pairs in the {opts.split} split:\n{rep.format()}")
    n_cls, ignore = info.label_nc, info.dont_care_id
    exclude = [ignore] if ignore is not None else []
    variations = max(1, int(opts.variations)) if cfg.noise_3d else 1
    if not cfg.noise_3d:
        notes.append("the model has no 3D noise: one image per layout; diversity is not measured")

    # ---- judges and feature networks --------------------------------------------------------------
    judge = None
    judge_reason = None
    if opts.judge:
        try:
            judge, warnings = load_judge(opts.judge, n_cls, ignore, tuple(info.class_names), device=dev)
        except JudgeError as e:
            raise EvalError(f"judge: {e}") from e
        notes.extend(f"judge: {w}" for w in warnings)
    else:
        judge_reason = (
            "no judge given (--judge); train one with `oasis-eval train-judge`, pass a TorchScript segmenter "
            "or, for CamVid, espnet-camvid:PATH (the published ESPNet weights)"
        )
    inception = None
    fid_reason = None
    try:
        if opts.inception_weights:
            inception = load_inception(opts.inception_weights, device=dev)
        else:
            inception = load_inception(standard_fid_weights(download=opts.download_inception), device=dev)
    except InceptionWeightsError as e:
        fid_reason = f"no usable Inception weights: {e}"
    if fid_reason:
        log(f"FID/KID not computed: {fid_reason}")
    lpips_net = None
    lpips_reason = (
        "no LPIPS weights: pass --lpips-weights with torchvision's AlexNet state dict and the lpips package's "
        "v0.1 alex.pth linear layers; nothing is downloaded"
    )
    if opts.lpips_weights:
        from .lpips import load_lpips

        try:
            lpips_net = load_lpips(opts.lpips_weights, device=dev)
        except InceptionWeightsError as e:
            lpips_reason = f"LPIPS weights could not be used: {e}"

    # ---- the loop over layouts --------------------------------------------------------------------
    ds = SegmentationDataset(info, pairs, synth.size, train=False)
    cm_real = np.zeros((n_cls, n_cls), np.int64)
    cm_fake = np.zeros((n_cls, n_cls), np.int64)
    gt_counts = np.zeros(n_cls, np.int64)
    hist = ClassHistograms(n_cls, ignore)
    feats_real: list[np.ndarray] = []
    feats_fake: list[np.ndarray] = []
    ms_vals: list[float] = []
    lpips_vals: list[float] = []
    ms_scales = None
    rows: list[list[np.ndarray]] = []
    reroll_stats: list[tuple[float, float]] = []
    gen_seconds = 0.0
    all_index = {p.name: i for i, p in enumerate(rep.pairs)}
    shown = contact_indices(len(ds), opts.contact_rows)
    for k in tqdm(range(len(ds)), desc="oasis-eval", unit="layout", disable=not opts.progress):
        item = ds[k]
        labels = item["labels"].numpy()
        real = ((item["image"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        tg = time.perf_counter()
        if cfg.noise_3d:
            noise = synth.sample_noise(_seeds(all_index[pairs[k].name], variations, opts.seed))
            gen = synth.generate_batch(labels, noise)
        else:
            gen = synth.generate_batch(labels, None)
        gen_seconds += time.perf_counter() - tg
        gt_counts += np.bincount(labels.ravel(), minlength=n_cls)[:n_cls]
        if judge is not None:
            cm_real += confusion_matrix(judge.predict(real[None]), labels[None], n_cls, ignore)
            pred = judge.predict(gen)
            cm_fake += confusion_matrix(pred, np.repeat(labels[None], len(pred), 0), n_cls, ignore)
        if inception is not None:
            with torch.inference_mode():
                x = torch.from_numpy(np.stack([real, gen[0]])).permute(0, 3, 1, 2).float().div(255).to(dev)
                f = inception(x).double().cpu().numpy()
            feats_real.append(f[0])
            feats_fake.append(f[1])
        if len(gen) >= 2:
            v, ms_scales = mean_pairwise_ms_ssim(gen)
            ms_vals.append(v)
            if lpips_net is not None:
                try:
                    lpips_vals.append(_mean_pairwise_lpips(lpips_net, gen, dev))
                except RuntimeError as e:  # images too small for AlexNet's pooling
                    lpips_net, lpips_reason = None, f"LPIPS failed at {cfg.height}x{cfg.width}: {e}"
        hist.add(real, labels, generated=False)
        for g in gen:
            hist.add(g, labels, generated=True)
        if k in shown:
            row = [colorize(labels, cfg), real, *gen]
            if cfg.noise_3d:
                rerolled, mask = reroll_largest_class(synth, labels, noise[:1], opts.seed + 7 + k, ignore)
                inside, outside = _change_inside_outside(gen[0], rerolled, mask)
                reroll_stats.append((inside, outside))
                row.append(outline(rerolled, mask))
            rows.append(row)

    # ---- results ----------------------------------------------------------------------------------
    names = list(info.class_names)
    result: dict[str, Any] = {
        "model": {"path": str(opts.model), "name": cfg.name, "size": [cfg.height, cfg.width], "label_nc": cfg.label_nc},
        "dataset": {
            "kind": opts.dataset,
            "root": str(opts.dataroot),
            "split": opts.split,
            "classes_file": opts.classes_file,
        },
        "layouts": len(pairs),
        "variations": variations,
        "noise_seeds": f"seed {opts.seed} + 1000 * (index of the layout in the split) + variation (global 3D noise)",
        "device": synth.describe(),
    }

    # frequency bands (Tables B-D): the judge's training-split pixel shares when known, else this split's labels
    share_source = "pixel shares of the evaluated split's labels"
    counts = gt_counts.astype(np.float64)
    if judge is not None and judge.config is not None and len(judge.config.class_pixel_share) == n_cls:
        counts = np.asarray(judge.config.class_pixel_share, np.float64)
        share_source = "pixel shares of the judge's training split"
    valid = [i for i in range(n_cls) if i not in exclude]
    share = counts / max(counts[valid].sum(), 1e-12)
    groups = frequency_groups(counts, exclude)

    if judge is not None:
        iou_r = iou_from_confusion(cm_real, exclude)
        iou_f = iou_from_confusion(cm_fake, exclude)
        per_class = {
            names[c]: {
                "pixel_share": _r(share[c]),
                "iou_real": _r(iou_r.per_class[c]),
                "iou_generated": _r(iou_f.per_class[c]),
            }
            for c in valid
        }
        band_names = (
            ["frequent", "common", "rare"] if len(groups) == 3 else [f"band {i + 1}" for i in range(len(groups))]
        )
        bands = []
        for name, ids in zip(band_names, groups):
            r = iou_r.per_class[ids]
            f = iou_f.per_class[ids]
            bands.append(
                {
                    "band": name,
                    "classes": [names[i] for i in ids],
                    "pixel_share": _r(share[ids].sum()),
                    "miou_real": _r(float(np.nanmean(r))) if not np.isnan(r).all() else None,
                    "miou_generated": _r(float(np.nanmean(f))) if not np.isnan(f).all() else None,
                }
            )
        result["miou"] = {
            "generated": _r(iou_f.miou),
            "real": _r(iou_r.miou),
            "ratio_generated_to_real": _r(iou_f.miou / iou_r.miou) if iou_r.miou and iou_r.miou > 0 else None,
            "pixel_accuracy_generated": _r(iou_f.pixel_accuracy),
            "pixel_accuracy_real": _r(iou_r.pixel_accuracy),
            "judge": judge.describe(),
            "evaluated_at": [cfg.height, cfg.width],
            "per_class": per_class,
            "frequency_bands": bands,
            "frequency_source": share_source,
            "confusion_generated": cm_fake.tolist(),
            "confusion_real": cm_real.tolist(),
        }
    else:
        result["miou"] = None
        result["miou_reason"] = judge_reason

    if inception is not None and len(feats_real) >= 2:
        fr, ff = np.stack(feats_real), np.stack(feats_fake)
        fid = frechet_distance(*feature_statistics(fr), *feature_statistics(ff))
        kid, kid_std = kernel_inception_distance(fr, ff, seed=opts.seed)
        result["fid"] = _r(fid, 3)
        result["kid"] = {"mean": _r(kid, 6), "std": _r(kid_std, 6)}
        result["fid_images"] = len(fr)
        result["fid_note"] = "generated set: the first variation of each layout; features: FID Inception-v3 pool3"
        if len(fr) < 2048:
            notes.append(
                f"FID from {len(fr)} image pairs (< 2048 features: the covariance is rank-deficient); it is biased "
                "upwards and only comparable with FIDs from the same number of images. KID is unbiased."
            )
    else:
        result["fid"] = None
        result["kid"] = None
        result["fid_reason"] = fid_reason or "FID needs at least 2 layouts"

    if ms_vals:
        result["diversity"] = {
            "ms_ssim": _r(float(np.mean(ms_vals))),
            "layouts": len(ms_vals),
            "scales": ms_scales,
            "note": "mean pairwise MS-SSIM between the variations of one layout, averaged over layouts (lower = more diverse)",
        }
        if ms_scales is not None and ms_scales < 5:
            result["diversity"]["note"] += (
                f"; at {cfg.height}x{cfg.width} only {ms_scales} of the 5 standard scales fit (the standard needs a short "
                f"side of at least 161 px), so the first {ms_scales} weights are renormalised: not comparable with 5-scale values"
            )
    else:
        result["diversity"] = None
        result["diversity_reason"] = "needs at least 2 variations per layout (--variations) and a model with 3D noise"
    if lpips_vals and lpips_net is not None:
        result["lpips"] = _r(float(np.mean(lpips_vals)))
        result["lpips_note"] = (
            "mean pairwise LPIPS (AlexNet, v0.1) between the variations of one layout (higher = more diverse)"
        )
    else:
        result["lpips"] = None
        result["lpips_reason"] = lpips_reason if lpips_net is None else "needs at least 2 variations per layout"

    dists = hist.distances()
    if dists:
        result["color_texture"] = {
            "color_emd": _r(float(np.mean([d[0] for d in dists.values()]))),
            "texture_chi2": _r(float(np.mean([d[1] for d in dists.values()]))),
            "classes": len(dists),
            "per_class": {names[c]: {"color_emd": _r(e), "texture_chi2": _r(x)} for c, (e, x) in dists.items()},
            "note": (
                "per class, real vs generated pixels over the split: LAB colour histograms (64 bins per channel) compared "
                "with the 1-D earth mover's distance per channel (in LAB units, mean of L, a, b), LBP (8 neighbours, "
                "radius 1, 256 codes) histograms compared with chi2 = 0.5 sum (p-q)^2/(p+q); then the mean over classes "
                "present in both; don't-care excluded"
            ),
        }
    else:
        result["color_texture"] = None
    columns = ["layout", "real", *(f"generated {i + 1}" for i in range(variations))]
    if reroll_stats:
        columns.append("1, re-rolled inside the outline")
        inside, outside = (float(np.mean(v)) for v in zip(*reroll_stats))
        result["local_reroll"] = {
            "change_inside": _r(inside),
            "change_outside": _r(outside),
            "layouts": len(reroll_stats),
            "note": (
                "contact-sheet rows: variation 1 with its noise re-sampled only on the pixels of the layout's largest "
                "class; mean absolute RGB change (0-255) inside that region and outside it, more than 8 px away"
            ),
        }
    result["contact_sheet_columns"] = columns
    result["notes"] = notes
    result["seconds"] = {"total": round(time.perf_counter() - t0, 1), "generation": round(gen_seconds, 1)}
    return result, rows
