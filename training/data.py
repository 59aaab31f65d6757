"""Training data: the augmenting torch Dataset, and the public face of the dataset modules.

Dataset kinds, their layouts and classes are in :mod:`training.datasets` and :mod:`training.classes` (the
README's "Dataset layouts" and "The folder format" describe them); checking a split is
:mod:`training.validation`. Their public names are importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .classes import DatasetError, DatasetInfo
from .datasets import KINDS, SPLITS, Pair, Problem, dataset_info, find_pairs, load_label
from .validation import ValidationReport, validate

__all__ = [
    "KINDS",
    "SPLITS",
    "Augment",
    "DatasetError",
    "DatasetInfo",
    "Pair",
    "Problem",
    "SegmentationDataset",
    "ValidationReport",
    "dataset_info",
    "find_pairs",
    "load_label",
    "validate",
]


@dataclass(frozen=True)
class Augment:
    """Training augmentation. ``crop``: resize to ``load_scale`` x the target size, then take a random
    crop of the target size (the reference resizes 256 -> 286 and crops 256). ``scale_jitter`` draws the
    scale per sample uniformly from [load_scale, load_scale * (1 + scale_jitter)] (only with ``crop``).
    ``flip``: a horizontal flip with probability 1/2."""

    flip: bool = True
    crop: bool = True
    load_scale: float = 286 / 256
    scale_jitter: float = 0.0

    def __post_init__(self) -> None:
        if not self.load_scale >= 1.0:
            raise ValueError(f"load_scale must be >= 1 (a crop cannot be larger than the image), got {self.load_scale}")
        if not self.scale_jitter >= 0.0:
            raise ValueError(f"scale_jitter must be >= 0, got {self.scale_jitter}")


def _nearest_index(out_len: int, in_len: int, start: int, count: int) -> np.ndarray:
    """Source indices of a nearest-neighbour resize in_len -> out_len (pixel centres aligned, as PIL),
    for output positions start..start+count-1."""
    pos = (np.arange(start, start + count, dtype=np.float64) + 0.5) * (in_len / out_len)
    return np.minimum(pos.astype(np.int64), in_len - 1)


class SegmentationDataset(torch.utils.data.Dataset):
    """(image, labels) pairs, resized (and, when training, augmented) to ``size`` = (height, width): items are
    ``{"image": float32 (3, H, W) in [-1, 1], "labels": int64 (H, W), "index": i}``.

    Image and label get the same geometric transform (bicubic for the photo, nearest for the ids).
    Randomness is a function of (seed, epoch, index) only, so DataLoader workers need no RNG state and a resumed
    run sees the same samples. Call :meth:`set_epoch` before creating each epoch's DataLoader iterator; with
    ``persistent_workers=True`` the workers keep the dataset copy made when they started, so pass the epoch
    another way (or don't use persistent workers).

    ``crop_size`` (training only): return random crops of this size cut at the pixel scale of ``size``,
    so a model for ``size`` trains at a fraction of the cost (its networks are convolutional).
    """

    def __init__(
        self,
        info: DatasetInfo,
        pairs: list[Pair],
        size: tuple[int, int],
        train: bool,
        augment: Augment = Augment(),
        seed: int = 0,
        crop_size: tuple[int, int] | None = None,
    ) -> None:
        height, width = (int(s) for s in size)
        if height < 1 or width < 1:
            raise ValueError(f"size must be (height, width) with positive sides, got {size}")
        crop = (height, width) if crop_size is None or not train else tuple(int(s) for s in crop_size)
        if not (0 < crop[0] <= height and 0 < crop[1] <= width):
            raise ValueError(f"crop_size {crop_size} must fit inside size {size}")
        self.info = info
        self.pairs = list(pairs)
        self.size = (height, width)
        self.out_size = crop
        self.train = bool(train)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        mask = (1 << 64) - 1
        return np.random.default_rng(np.random.SeedSequence([self.seed & mask, self.epoch & mask, index]))

    def transform_params(self, index: int) -> tuple[tuple[int, int], tuple[int, int], bool]:
        """((load_h, load_w), (top, left), flip) for sample ``index`` in the current epoch."""
        h, w = self.size
        ch, cw = self.out_size
        if not self.train:
            return (h, w), (0, 0), False
        aug = self.augment
        rng = self._rng(index)
        u_scale, u_top, u_left, u_flip = rng.random(4)
        if aug.crop:
            scale = aug.load_scale * (1.0 + aug.scale_jitter * u_scale)
            lh, lw = max(h, round(h * scale)), max(w, round(w * scale))
        else:
            lh, lw = h, w
        top = min(int(u_top * (lh - ch + 1)), lh - ch)
        left = min(int(u_left * (lw - cw + 1)), lw - cw)
        return (lh, lw), (top, left), bool(aug.flip and u_flip < 0.5)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if i < 0:
            i += len(self)
        pair = self.pairs[i]
        (lh, lw), (top, left), flip = self.transform_params(i)
        h, w = self.out_size

        try:
            with Image.open(pair.image) as im:  # stored pixel order, EXIF orientation ignored (as the labels are)
                photo = im.convert("RGB")
        except (OSError, UnidentifiedImageError) as e:  # changed since validate() read it
            raise DatasetError(f"{pair.image}: cannot read image: {e}") from None
        if photo.size != (lw, lh):
            photo = photo.resize((lw, lh), Image.Resampling.BICUBIC)
        if (lh, lw) != (h, w):
            photo = photo.crop((left, top, left + w, top + h))
        image = np.asarray(photo)  # (h, w, 3) uint8

        try:
            raw = load_label(pair.label)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DatasetError(f"{pair.label}: cannot read label: {e}") from None
        rows = _nearest_index(lh, raw.shape[0], top, h)
        cols = _nearest_index(lw, raw.shape[1], left, w)
        ids = self.info.map_labels(raw[rows[:, None], cols[None, :]])
        if (ids < 0).any():
            if self.info.dont_care_id is None:
                bad = self.info.invalid_raw_values(raw)
                raise ValueError(f"{pair.label}: label values {bad} are not classes; run validate() first")
            ids[ids < 0] = self.info.dont_care_id

        if flip:
            image, ids = image[:, ::-1], ids[:, ::-1]
        image_t = torch.from_numpy(np.ascontiguousarray(image).transpose(2, 0, 1).copy()).float().div_(127.5).sub_(1.0)
        return {"image": image_t, "labels": torch.from_numpy(np.ascontiguousarray(ids)), "index": i}
