"""Dataset kinds as data: per kind, where a split's images and labels lie and what the label values mean
(:data:`DATASET_TABLE`; the README's "Dataset layouts" describes the same), and finding a split's pairs.

A new kind is one :class:`DatasetKind` entry here (and its training preset in ``training/options.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .classes import (
    ADE20K_NAMES,
    CITYSCAPES_CLASSES,
    COCO_STUFF_NAMES,
    DatasetError,
    DatasetInfo,
    read_classes_file,
)

__all__ = [
    "DATASET_TABLE",
    "KINDS",
    "SPLITS",
    "DatasetKind",
    "Layout",
    "Pair",
    "Problem",
    "dataset_info",
    "find_pairs",
    "load_label",
    "scan_split",
]

SPLITS = ("train", "val")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABEL_EXTS = (".png", ".bmp", ".tif", ".tiff")  # lossless only: ids must survive the file format

# Problems found while pairing files by name (validation adds those found by opening them).
NO_PAIRS = "no pairs"
MISSING_PAIR = "missing pairs"
DUPLICATE = "duplicate names"


# ---- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where a split's images and labels lie under the dataset root. In the folder templates ``{split}`` is
    the split's folder name. A file's name is its path under the folder without the extension and the
    ``image_suffix`` (``label_suffix``); an image and a label of the same name are a pair."""

    images: str
    labels: str
    image_exts: tuple[str, ...] = IMAGE_EXTS
    label_exts: tuple[str, ...] = LABEL_EXTS
    image_suffix: str = ""
    label_suffix: str = ""
    # A file per split listing its names ("splits/{split}.txt"); without one, a deterministic 90/10 split.
    # None: the folders themselves are per split.
    split_files: str | None = None

    def folders(self, root: Path, split_dir: str) -> tuple[Path, Path]:
        return root / self.images.format(split=split_dir), root / self.labels.format(split=split_dir)

    def image_file(self, folder: Path, name: str) -> Path:
        """The file an image of this name is expected in (for messages)."""
        return folder / f"{name}{self.image_suffix}{self.image_exts[0]}"

    def label_file(self, folder: Path, name: str) -> Path:
        return folder / f"{name}{self.label_suffix}{self.label_exts[0]}"


@dataclass(frozen=True)
class DatasetKind:
    """A dataset kind: its folder layouts and its classes (fixed, or from ``classes.json``).

    Classes are given as for :class:`DatasetInfo`: a raw label value ``v`` becomes ``raw_map[v]`` if listed
    there, else ``v + raw_offset``; ``dont_care_id`` is the class that means "unlabeled"."""

    name: str
    layouts: tuple[Layout, ...]  # the first whose image folder exists for a split is used, else the last
    expected: str  # the layouts in words, for error messages
    split_dirs: Mapping[str, str]  # split -> its folder name
    nested: str | None = None  # the root may also be this folder's parent
    class_names: tuple[str, ...] | None = None  # None: from classes.json in the root (or a classes_file)
    class_colors: tuple[tuple[int, int, int], ...] | None = None
    dont_care_id: int | None = None
    raw_offset: int = 0
    raw_map: tuple[tuple[int, int], ...] = ()

    def fixed_info(self) -> DatasetInfo:
        assert self.class_names is not None, f"{self.name} reads its classes from classes.json"
        return DatasetInfo(
            self.name,
            len(self.class_names),
            self.class_names,
            self.class_colors,
            self.dont_care_id,
            self.raw_offset,
            self.raw_map,
        )

    def layout_in(self, root: Path) -> Layout:
        for layout in self.layouts[:-1]:
            if any(layout.folders(root, d)[0].is_dir() for d in self.split_dirs.values()):
                return layout
        return self.layouts[-1]


SAME_SPLIT_DIRS = {s: s for s in SPLITS}
FOLDER_LAYOUT = (
    "images/ + labels/ (same file names; optional splits/train.txt, splits/val.txt) "
    "or train/images, train/labels, val/images, val/labels; plus classes.json"
)

DATASET_TABLE: dict[str, DatasetKind] = {
    kind.name: kind
    for kind in (
        DatasetKind(
            "ade20k",
            (Layout("images/{split}", "annotations/{split}"),),
            "ADEChallengeData2016/images/{training,validation}/*.jpg and "
            "ADEChallengeData2016/annotations/{training,validation}/*.png",
            split_dirs={"train": "training", "val": "validation"},
            nested="ADEChallengeData2016",
            class_names=("other", *ADE20K_NAMES),  # label values used as they are; 0 "other" is don't-care
            dont_care_id=0,
        ),
        DatasetKind(
            "cityscapes",
            (
                Layout(
                    "leftImg8bit/{split}",
                    "gtFine/{split}",
                    image_exts=(".png", ".jpg", ".jpeg"),
                    label_exts=(".png",),
                    image_suffix="_leftImg8bit",
                    label_suffix="_gtFine_labelIds",
                ),
            ),
            "leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and gtFine/{train,val}/<city>/*_gtFine_labelIds.png",
            split_dirs=SAME_SPLIT_DIRS,
            class_names=tuple(n for n, _ in CITYSCAPES_CLASSES),
            class_colors=tuple(c for _, c in CITYSCAPES_CLASSES),
            dont_care_id=0,
            raw_map=((255, 0), (-1, 0)),  # the license plate (-1, stored as 255) is "unlabeled"
        ),
        DatasetKind(
            "coco-stuff",
            (Layout("{split}_img", "{split}_label"),),
            "{train,val}_img/*.jpg and {train,val}_label/*.png",
            split_dirs=SAME_SPLIT_DIRS,
            class_names=COCO_STUFF_NAMES,
            dont_care_id=0,
            raw_offset=1,  # raw 0..181 are classes 1..182; 255 (unlabeled) is 0
            raw_map=((255, 0),),
        ),
        DatasetKind(
            "folder",
            (Layout("{split}/images", "{split}/labels"), Layout("images", "labels", split_files="splits/{split}.txt")),
            FOLDER_LAYOUT,
            split_dirs=SAME_SPLIT_DIRS,
        ),
    )
}
KINDS = tuple(DATASET_TABLE)


def _kind(kind: str) -> DatasetKind:
    if kind not in DATASET_TABLE:
        raise ValueError(f"unknown dataset kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return DATASET_TABLE[kind]


def dataset_info(kind: str, root: str | Path, classes_file: str | Path | None = None) -> DatasetInfo:
    """The classes of a dataset. ``classes_file`` (kinds without fixed classes) replaces ``<root>/classes.json``."""
    spec = _kind(kind)
    if spec.class_names is not None:
        if classes_file is not None:
            takes = ", ".join(repr(k) for k, s in DATASET_TABLE.items() if s.class_names is None)
            raise ValueError(f"classes_file is only used with kind {takes}; {kind!r} has fixed classes")
        return spec.fixed_info()
    if classes_file is not None:
        return read_classes_file(Path(classes_file), kind)
    if not Path(root).is_dir():  # say so, rather than that its classes.json is missing
        raise DatasetError(f"dataset folder {root} does not exist (moved, renamed or deleted?)")
    return read_classes_file(Path(root) / "classes.json", kind)


# ---- finding pairs --------------------------------------------------------------------------------


class Pair(NamedTuple):
    image: Path
    label: Path
    name: str


class Problem(NamedTuple):
    category: str
    file: Path
    message: str


def _files(folder: Path, exts: Sequence[str], suffix: str = "") -> dict[str, list[Path]]:
    """name -> files under ``folder`` whose name ends in ``suffix`` + one of ``exts``; the name is the
    path relative to ``folder`` without ``suffix`` and extension (posix separators)."""
    out: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for fn in sorted(filenames):
            stem, ext = os.path.splitext(fn)
            if ext.lower() not in exts or not stem.endswith(suffix) or fn.startswith("."):
                continue
            path = Path(dirpath) / fn
            rel = path.relative_to(folder).with_name(stem[: len(stem) - len(suffix)] if suffix else stem)
            out.setdefault(rel.as_posix(), []).append(path)
    return out


def _pair_up(
    images: dict[str, list[Path]],
    labels: dict[str, list[Path]],
    names: Iterable[str] | None,
    expect_label: Callable[[str], Path],
    expect_image: Callable[[str], Path],
) -> tuple[list[Pair], list[Problem]]:
    """Match images and labels by name (restricted to ``names`` when given)."""
    pairs: list[Pair] = []
    problems: list[Problem] = []
    wanted = sorted(set(images) | set(labels)) if names is None else list(names)
    for name in wanted:
        imgs, labs = images.get(name, []), labels.get(name, [])
        for files in (imgs, labs):
            if len(files) > 1:
                others = ", ".join(f.name for f in files[1:])
                problems.append(Problem(DUPLICATE, files[0], f"same name as {others}; rename one"))
        if imgs and labs:
            pairs.append(Pair(imgs[0], labs[0], name))
        elif imgs:
            problems.append(Problem(MISSING_PAIR, imgs[0], f"no label (expected {expect_label(name)})"))
        elif labs:
            problems.append(Problem(MISSING_PAIR, labs[0], f"no image (expected {expect_image(name)})"))
        else:
            problems.append(
                Problem(
                    MISSING_PAIR,
                    Path(name),
                    f"listed in the split file but no image or label (expected {expect_image(name)})",
                )
            )
    return pairs, problems


def _require_dirs(kind: str, root: Path, dirs: Sequence[Path], layout: str) -> None:
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        shown = ", ".join(str(d.relative_to(root)) if d.is_relative_to(root) else str(d) for d in missing)
        raise DatasetError(
            f"{root} does not look like a {kind} dataset: missing folder(s) {shown}. Expected layout: {layout}"
        )


def _read_split_file(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if os.path.splitext(line)[1].lower() in IMAGE_EXTS:
            line = os.path.splitext(line)[0]
        names.append(line.replace("\\", "/"))
    return list(dict.fromkeys(names))


def _default_split(names: list[str], split: str) -> list[str]:
    """Deterministic 90/10 split: every tenth sorted name, evenly spread, is validation (at least one name
    when there are two or more)."""
    names = sorted(names)
    n = len(names)
    n_val = max(1, round(n / 10)) if n >= 2 else 0
    val_idx = {int((k + 0.5) * n / n_val) for k in range(n_val)}
    return [nm for i, nm in enumerate(names) if (i in val_idx) == (split == "val")]


def _split_names(root: Path, layout: Layout, split: str, names: Iterable[str]) -> list[str]:
    """A split's names in a layout with split files: the split's file, else all but the other split's file,
    else a deterministic 90/10 split of ``names``."""
    assert layout.split_files is not None
    split_files = {s: root / layout.split_files.format(split=s) for s in SPLITS}
    other = "val" if split == "train" else "train"
    if split_files[split].is_file():
        return _read_split_file(split_files[split])
    if split_files[other].is_file():
        excluded = set(_read_split_file(split_files[other]))
        return sorted(n for n in set(names) if n not in excluded)
    return _default_split(list(set(names)), split)


def scan_split(kind: str, root: str | Path, split: str) -> tuple[list[Pair], list[Problem]]:
    """A split's (image, label) pairs, sorted by name, and the problems found pairing files by name (missing
    partners, duplicate names, no pairs at all). Raises :class:`DatasetError` when the folders are not there."""
    spec = _kind(kind)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")
    if spec.nested is not None and (root / spec.nested).is_dir():
        root = root / spec.nested

    layout = spec.layout_in(root)
    img_dir, lab_dir = layout.folders(root, spec.split_dirs[split])
    _require_dirs(kind, root, [img_dir, lab_dir], spec.expected)
    images = _files(img_dir, layout.image_exts, layout.image_suffix)
    labels = _files(lab_dir, layout.label_exts, layout.label_suffix)
    names = None if layout.split_files is None else _split_names(root, layout, split, set(images) | set(labels))
    pairs, problems = _pair_up(
        images,
        labels,
        names,
        lambda n: layout.label_file(lab_dir, n),
        lambda n: layout.image_file(img_dir, n),
    )
    if not pairs and not problems:
        problems.append(Problem(NO_PAIRS, img_dir, f"no image/label pairs for split {split!r}"))
    return pairs, problems


def find_pairs(kind: str, root: str | Path, split: str, classes_file: str | Path | None = None) -> list[Pair]:
    """The matched (image, label) pairs of a split, sorted by name. Unmatched files are skipped (see
    :func:`training.validation.validate`). ``classes_file`` is accepted for symmetry and not needed to find files."""
    del classes_file
    return scan_split(kind, root, split)[0]


# ---- label files ---------------------------------------------------------------------------------


def load_label(path: str | Path) -> np.ndarray:
    """A label file as a 2-D integer array of raw values. Raises ValueError for a colour image."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
            arr = np.asarray(im) if im.mode != "I" else np.asarray(im, dtype=np.int32)
            if arr.dtype == bool:
                arr = arr.astype(np.uint8)
            return arr
        if im.mode in ("RGB", "RGBA", "LA"):
            arr = np.asarray(im)
            channels = arr[..., :3] if im.mode != "LA" else arr[..., :1]
            if (channels == channels[..., :1]).all():  # grey stored as RGB: the ids are still there
                return np.ascontiguousarray(channels[..., 0])
        raise ValueError(
            f"label image has mode {im.mode} with colours; a label must be a single-channel index image "
            "(pixel value = class id)"
        )
