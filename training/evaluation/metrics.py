"""The quality measures of the OASIS paper (Section 4, Fig. 6, Tables 1, 2, B-D), as plain numpy/torch math.

Everything here works on arrays the caller already has; no network is built and nothing is read from disk.

* **Segmentation**: :func:`confusion_matrix` (one matrix accumulated over a whole split, don't-care pixels
  ignored) and :func:`iou_from_confusion` (per-class IoU = TP / (TP + FP + FN); classes that appear neither
  in the ground truth nor in the prediction get NaN and are left out of the mean). :func:`frequency_groups`
  splits classes into bands of pixel frequency as in the paper's Tables B-D.
* **Diversity**: :func:`ms_ssim` (Wang et al. 2003: 11x11 Gaussian window, sigma 1.5, the 5 standard
  scales and weights) and :func:`mean_pairwise_ms_ssim`.
* **Colour and texture** (Fig. 6): :class:`ClassHistograms` gathers, per class, LAB colour histograms and
  LBP texture histograms of real and of generated pixels; colour is compared with the earth mover's
  distance (per channel, the exact 1-D EMD = L1 distance between the CDFs times the bin width, in LAB
  units), texture with the chi-squared distance ``0.5 * sum (p - q)^2 / (p + q)`` (0 = same, 1 = disjoint).
* **FID/KID**: :func:`frechet_distance` (matrix square root through symmetric eigen-decompositions) and
  :func:`kernel_inception_distance` (unbiased MMD^2 with the cubic polynomial kernel, averaged over subsets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MS_SSIM_WEIGHTS",
    "ClassHistograms",
    "chi2_distance",
    "confusion_matrix",
    "emd_1d",
    "feature_statistics",
    "frechet_distance",
    "frequency_groups",
    "iou_from_confusion",
    "kernel_inception_distance",
    "lbp_codes",
    "mean_pairwise_ms_ssim",
    "ms_ssim",
    "ms_ssim_scales",
    "rgb_to_lab",
]


# ---- segmentation ---------------------------------------------------------------------------------


def confusion_matrix(
    pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, num_classes: int, ignore_id: int | None = None
) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = ground truth, columns = prediction.

    Pixels whose ground truth is ``ignore_id`` (don't-care) or outside 0..num_classes-1 are not counted.
    A prediction outside 0..num_classes-1 is an error (a judge with other classes), not a pixel to drop.
    Sum the matrices of all images of a split to get the split's single confusion matrix.
    """
    p = torch.as_tensor(pred).reshape(-1).long().cpu()
    t = torch.as_tensor(target).reshape(-1).long().cpu()
    if p.shape != t.shape:
        raise ValueError(f"prediction has {p.numel()} pixels, ground truth {t.numel()}")
    if p.numel() and (p.min() < 0 or p.max() >= num_classes):
        raise ValueError(f"predicted ids {p.min().item()}..{p.max().item()} are outside 0..{num_classes - 1}")
    keep = (t >= 0) & (t < num_classes)
    if ignore_id is not None:
        keep &= t != ignore_id
    idx = t[keep] * num_classes + p[keep]
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes).numpy()


@dataclass(frozen=True)
class IoUResult:
    per_class: np.ndarray  # float64 (num_classes,), NaN where undefined (class absent from truth and prediction)
    miou: float  # mean over the defined classes, ignoring excluded ids
    pixel_accuracy: float
    classes_counted: int


def iou_from_confusion(cm: np.ndarray, exclude: Sequence[int] = ()) -> IoUResult:
    """Per-class IoU and mIoU from a confusion matrix (rows truth, columns prediction).

    A class counts towards the mean when it occurs in the ground truth or in the prediction (a class
    predicted but never present scores 0, as in the usual mmseg/cityscapes evaluation). ``exclude``
    (e.g. the don't-care id) is left out of the mean and reported as NaN.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    for c in exclude:
        if c is not None and 0 <= c < len(iou):
            iou[c] = np.nan
    defined = ~np.isnan(iou)
    miou = float(iou[defined].mean()) if defined.any() else float("nan")
    total = cm.sum()
    acc = float(tp.sum() / total) if total > 0 else float("nan")
    return IoUResult(iou, miou, acc, int(defined.sum()))


def frequency_groups(
    pixel_counts: np.ndarray, exclude: Sequence[int] = (), n_groups: int | None = None
) -> list[list[int]]:
    """Class ids sorted by pixel frequency (most frequent first) and cut into ``n_groups`` bands of
    (nearly) equal size, as the paper's Tables B-D (ADE20K: 5 bands of 30 classes). Default: 5 bands for
    15 or more classes, else 3 (frequent / common / rare), fewer if there are fewer classes."""
    counts = np.asarray(pixel_counts, dtype=np.float64)
    ids = [i for i in range(len(counts)) if i not in set(exclude)]
    ids.sort(key=lambda i: (-counts[i], i))
    if not ids:
        return []
    if n_groups is None:
        n_groups = 5 if len(ids) >= 15 else 3
    n_groups = max(1, min(n_groups, len(ids)))
    bounds = [round(k * len(ids) / n_groups) for k in range(n_groups + 1)]
    return [ids[bounds[k] : bounds[k + 1]] for k in range(n_groups)]


# ---- MS-SSIM --------------------------------------------------------------------------------------

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_parts(
    x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image (valid filtering, as the reference code)."""
    c = x.shape[1]
    k = win.numel()
    wh = win.view(1, 1, 1, k).repeat(c, 1, 1, 1)
    wv = win.view(1, 1, k, 1).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, wh, groups=c), wv, groups=c)

    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs
    return ssim.flatten(1).mean(1), cs.flatten(1).mean(1)


def ms_ssim_scales(height: int, width: int, win_size: int = 11) -> int:
    """How many of the 5 standard scales fit: the window must fit the image at the coarsest scale."""
    side = min(height, width)
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and side >= win_size:
        scales += 1
        side = (side + 1) // 2  # odd sides are padded before the 2x2 average pooling
    return scales


def ms_ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0, win_size: int = 11, sigma: float = 1.5
) -> tuple[torch.Tensor, int]:
    """MS-SSIM of image batches (B, C, H, W) -> ((B,) values, scales used).

    The standard definition uses 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), which
    needs images of at least 161 pixels on the short side (an 11x11 window at the coarsest scale).
    Smaller images use as many scales as fit, with the first weights renormalised to sum to 1 (the
    returned count says how many); images under 11 pixels use one scale with a window as large as fits.
    Negative contrast-structure values are clamped at 0 (as the widely used pytorch-msssim does).
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(
            f"ms_ssim needs two (B, C, H, W) batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    x, y = x.double(), y.double()
    h, w = x.shape[-2:]
    if min(h, w) < win_size:
        win_size = max(1, min(h, w) - (1 - min(h, w) % 2))  # largest odd size that fits
    scales = max(1, ms_ssim_scales(h, w, win_size))
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64, device=x.device)
    weights = weights / weights.sum()
    win = _gaussian_window(win_size, sigma, x.device, torch.float64)
    values = []
    for s in range(scales):
        ssim, cs = _ssim_parts(x, y, win, data_range)
        if s < scales - 1:
            values.append(cs.clamp_min(0))
            pad = (0, w % 2, 0, h % 2)
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate") if any(pad) else x, 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate") if any(pad) else y, 2)
            h, w = x.shape[-2:]
        else:
            values.append(ssim.clamp_min(0))
    stacked = torch.stack(values, dim=1)  # (B, scales)
    return torch.prod(stacked ** weights[None], dim=1), scales


def mean_pairwise_ms_ssim(images: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> tuple[float, int]:
    """Mean MS-SSIM over all pairs of N images (N, H, W, 3) uint8 of one layout -> (value, scales used)."""
    t = torch.as_tensor(np.asarray(images)).to(device)
    if t.dim() != 4 or t.shape[0] < 2:
        raise ValueError("need at least two (H, W, 3) images")
    t = t.permute(0, 3, 1, 2).double()
    i, j = torch.triu_indices(t.shape[0], t.shape[0], offset=1)
    vals, scales = ms_ssim(t[i], t[j])
    return float(vals.mean()), scales


# ---- colour and texture histograms -----------------------------------------------------------------

LAB_RANGES = ((0.0, 100.0), (-128.0, 128.0), (-128.0, 128.0))  # L*, a*, b* (CIE, D65), as OpenCV's float LAB


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 sRGB -> float32 CIE LAB (L in 0..100, a/b about -128..127), OpenCV's conversion."""
    return cv2.cvtColor(np.ascontiguousarray(rgb).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def lbp_codes(rgb: np.ndarray) -> np.ndarray:
    """Basic 8-neighbour, radius-1 local binary patterns (Ojala et al. 1996) of the grey image: (H, W)
    codes 0..255; bit k is set where neighbour k (clockwise from the top-left) >= the centre pixel.
    Borders are handled by replicating edge pixels."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.int16)
    p = np.pad(grey, 1, mode="edge")
    h, w = grey.shape
    offsets = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))
    codes = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(offsets):
        codes |= (p[dy : dy + h, dx : dx + w] >= grey).astype(np.uint8) << bit
    return codes


def emd_1d(p: np.ndarray, q: np.ndarray, bin_width: float = 1.0) -> float:
    """Earth mover's distance between two 1-D histograms on the same equally spaced bins (each is
    normalised to sum 1): the L1 distance between the cumulative distributions times the bin width."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("empty histogram")
    return float(np.abs(np.cumsum(p / p.sum()) - np.cumsum(q / q.sum())).sum() * bin_width)


def chi2_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Chi-squared distance ``0.5 * sum (p - q)^2 / (p + q)`` of two histograms normalised to sum 1
    (bins empty in both are skipped): 0 for the same distribution, 1 for disjoint ones."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("empty histogram")
    p, q = p / p.sum(), q / q.sum()
    s = p + q
    nz = s > 0
    return float(0.5 * ((p[nz] - q[nz]) ** 2 / s[nz]).sum())


class ClassHistograms:
    """Per-class LAB colour and LBP texture histograms of real and of generated pixels over a split.

    ``add(rgb, labels, generated)`` adds one (H, W, 3) uint8 image with its (H, W) label map; pixels of
    the don't-care class (``ignore_id``) are skipped. :meth:`distances` compares the real and generated
    histograms of each class present in both (with at least ``min_pixels`` each): colour = mean over
    L, a, b of the 1-D EMD (LAB units), texture = chi-squared of the 256-bin LBP histograms.
    """

    def __init__(self, num_classes: int, ignore_id: int | None = None, color_bins: int = 64) -> None:
        self.num_classes = num_classes
        self.ignore_id = ignore_id
        self.color_bins = color_bins
        self.color = np.zeros((2, num_classes, 3, color_bins), np.int64)  # [real/generated, class, channel, bin]
        self.texture = np.zeros((2, num_classes, 256), np.int64)

    def add(self, rgb: np.ndarray, labels: np.ndarray, generated: bool) -> None:
        rgb = np.asarray(rgb)
        labels = np.asarray(labels).astype(np.int64)
        if rgb.shape[:2] != labels.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"image {rgb.shape} and labels {labels.shape} do not match")
        k = int(generated)
        keep = (labels >= 0) & (labels < self.num_classes)
        if self.ignore_id is not None:
            keep &= labels != self.ignore_id
        cls = labels[keep]
        lab = rgb_to_lab(rgb)[keep]  # (n, 3)
        nb = self.color_bins
        for ch, (lo, hi) in enumerate(LAB_RANGES):
            b = np.clip(((lab[:, ch] - lo) / (hi - lo) * nb).astype(np.int64), 0, nb - 1)
            self.color[k, :, ch] += np.bincount(cls * nb + b, minlength=self.num_classes * nb).reshape(
                self.num_classes, nb
            )
        codes = lbp_codes(rgb)[keep].astype(np.int64)
        self.texture[k] += np.bincount(cls * 256 + codes, minlength=self.num_classes * 256).reshape(
            self.num_classes, 256
        )

    def pixel_counts(self, generated: bool) -> np.ndarray:
        return self.texture[int(generated)].sum(1)

    def distances(self, min_pixels: int = 1) -> dict[int, tuple[float, float]]:
        """class id -> (colour EMD, texture chi2) for each class with pixels in both sets."""
        out = {}
        real, fake = self.pixel_counts(False), self.pixel_counts(True)
        for c in range(self.num_classes):
            if real[c] < min_pixels or fake[c] < min_pixels:
                continue
            emd = np.mean(
                [
                    emd_1d(self.color[0, c, ch], self.color[1, c, ch], (hi - lo) / self.color_bins)
                    for ch, (lo, hi) in enumerate(LAB_RANGES)
                ]
            )
            out[c] = (float(emd), chi2_distance(self.texture[0, c], self.texture[1, c]))
        return out


# ---- FID / KID ------------------------------------------------------------------------------------


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N-1) covariance of (N, D) features in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition."""
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1^1/2 s2 s1^1/2)^1/2)``.

    tr((s1 s2)^1/2) is computed as the trace of the square root of the symmetric PSD matrix
    s1^1/2 s2 s1^1/2 (same eigenvalues as s1 s2), so no complex-valued sqrtm is needed.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError("mean vectors and covariance matrices have inconsistent shapes")
    r1 = _sqrtm_psd(s1)
    m = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with kernel ``(x.y / d + 1)^3``, mean and std over
    ``subsets`` random subsets of ``min(subset_size, N)`` features of each set (one exact evaluation on
    all features when both sets are no larger than the subset size)."""
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError("KID needs two (N >= 2, D) feature sets of the same D")
    size = min(subset_size, len(x), len(y))
    if size == len(x) == len(y):
        return _mmd2_unbiased(x, y), 0.0
    rng = np.random.default_rng(seed)
    vals = [
        _mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))
