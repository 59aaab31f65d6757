"""Training data: dataset layouts, label-id mapping, validation and the augmenting torch Dataset.

Four dataset kinds are understood (``KINDS``):

``ade20k``
    ``ADEChallengeData2016/`` (the root may also be its parent folder) with
    ``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``.
    Label values 0..150 are used as they are: 151 channels, 0 = "other" = don't-care.

``cityscapes``
    ``leftImg8bit/{train,val}/<city>/<name>_leftImg8bit.png`` with
    ``gtFine/{train,val}/<city>/<name>_gtFine_labelIds.png``. Label ids 0..33 are used as they are;
    the license plate (-1, stored as 255) maps to 0 "unlabeled", the don't-care class. 35 channels
    (channel 34 "license plate" exists for the paper's channel count but the data never uses it).

``coco-stuff``
    ``{train,val}_img/*.jpg`` with ``{train,val}_label/*.png``. Raw values 0..181 map to 1..182 and 255
    (unlabeled) maps to 0, the don't-care class: 183 channels.

``folder`` -- the generic format (used by the bundled models)
    One of two layouts::

        my-dataset/                         my-dataset/
          classes.json                        classes.json
          images/<name>.jpg                   train/images/<name>.jpg
          labels/<name>.png                   train/labels/<name>.png
          splits/train.txt   (optional)       val/images/<name>.jpg
          splits/val.txt     (optional)       val/labels/<name>.png

    Images may be JPEG, PNG, BMP, WebP or TIFF; a label is a single-channel *index* PNG (8- or 16-bit,
    greyscale or palette mode; the pixel value is the class id, not a colour) with the same name as its
    image. Sub-folders are allowed: ``images/a/b.jpg`` pairs with ``labels/a/b.png`` and is called ``a/b``.

    Split files list one name per line (``#`` comments and blank lines are ignored; an image extension
    is stripped). With only one split file the other split is every remaining name. Without split files
    the split is a deterministic 90/10: the names are sorted and every tenth one, evenly spread, goes to
    ``val`` (at least one when there are two or more names).

    ``classes.json`` lives in the dataset root, or anywhere else when passed as ``classes_file`` (dataset
    folders may be read-only)::

        {
          "names": ["sky", "tree", "road", ...],      # required: class id k is names[k]
          "colors": [[70, 130, 180], ...],            # optional: an RGB colour per name
          "dont_care_id": 11,                         # optional: the class that means "unlabeled"
          "ignore_value": 255                         # optional: a raw PNG value meaning "unlabeled"
        }

    Pixel values are class ids 0..len(names)-1. If ``ignore_value`` is given without ``dont_care_id``,
    a class "don't care" is appended (id ``len(names)``) and the ignore value maps to it; with both, the
    ignore value maps to ``dont_care_id``. Examples: Stanford Background (8 names, ``"ignore_value": 255``)
    has 9 label channels with don't-care id 8; CamVid (12 names ending in "void", ``"dont_care_id": 11``)
    has 12 channels.

Validation (:func:`validate`) opens every file and reports, with file names, missing pairs, unreadable
files, label images that are not index images, image/label size mismatches and label values that map
outside the classes; the pairs with problems are left out of ``report.pairs``.

:class:`SegmentationDataset` gives ``{"image": float32 (3, H, W) in [-1, 1], "labels": int64 (H, W),
"index": i}``. Its augmentation is a pure function of ``(seed, epoch, index)``, so DataLoader workers
need no RNG state and a resumed run sees the same samples. Call :meth:`SegmentationDataset.set_epoch`
before creating each epoch's DataLoader iterator; with ``persistent_workers=True`` the workers keep the
dataset copy made when they started, so pass the epoch another way (or don't use persistent workers).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

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

KINDS = ("ade20k", "cityscapes", "coco-stuff", "folder")
SPLITS = ("train", "val")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABEL_EXTS = (".png", ".bmp", ".tif", ".tiff")  # lossless only: ids must survive the file format

# Problem categories, in the order the report lists them.
NO_PAIRS = "no pairs"
MISSING_PAIR = "missing pairs"
DUPLICATE = "duplicate names"
UNREADABLE = "unreadable files"
NOT_INDEX = "labels that are not index images"
SIZE_MISMATCH = "size mismatches (image vs label)"
OUT_OF_RANGE = "label ids out of range"
CATEGORIES = (NO_PAIRS, MISSING_PAIR, DUPLICATE, UNREADABLE, NOT_INDEX, SIZE_MISMATCH, OUT_OF_RANGE)


class DatasetError(ValueError):
    """A dataset that cannot be used: unknown kind, wrong folder layout, bad classes file, or a file that
    cannot be read any more (changed after validation)."""


# ---- class tables ---------------------------------------------------------------------------------

# ADE20K SceneParsing (objectInfo150 short names), ids 1..150; id 0 is "other" (don't-care).
ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper",
    "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow",
    "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair",
    "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel", "pole",
    "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship",
    "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel",
    "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket",
    "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)  # fmt: skip

# Cityscapes labelIds 0..33 (cityscapesScripts labels.py), then the license plate (id -1 there).
CITYSCAPES_CLASSES = (
    ("unlabeled", (0, 0, 0)), ("ego vehicle", (0, 0, 0)), ("rectification border", (0, 0, 0)),
    ("out of roi", (0, 0, 0)), ("static", (0, 0, 0)), ("dynamic", (111, 74, 0)), ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("parking", (250, 170, 160)),
    ("rail track", (230, 150, 140)), ("building", (70, 70, 70)), ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)), ("guard rail", (180, 165, 180)), ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)), ("pole", (153, 153, 153)), ("polegroup", (153, 153, 153)),
    ("traffic light", (250, 170, 30)), ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("caravan", (0, 0, 90)),
    ("trailer", (0, 0, 110)), ("train", (0, 80, 100)), ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)), ("license plate", (0, 0, 142)),
)  # fmt: skip

# COCO-Stuff labels.txt: 0 "unlabeled", 1..91 things (11 ids unused by COCO), 92..182 stuff.
COCO_STUFF_NAMES = (
    "unlabeled", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella",
    "shoe", "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner",
    "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain",
    "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile",
    "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other", "grass", "gravel",
    "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss", "mountain",
    "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic", "platform",
    "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea",
    "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)  # fmt: skip

assert len(ADE20K_NAMES) == 150 and len(CITYSCAPES_CLASSES) == 35 and len(COCO_STUFF_NAMES) == 183


# ---- dataset description --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """What the model needs to know about a dataset's classes, and how raw label values become ids.

    A raw label value ``v`` becomes model id ``raw_map[v]`` if listed there, else ``v + raw_offset``;
    results outside ``0..label_nc-1`` are invalid (reported by :func:`validate`).
    """

    kind: str
    label_nc: int
    class_names: tuple[str, ...]
    class_colors: tuple[tuple[int, int, int], ...] | None
    dont_care_id: int | None
    raw_offset: int = 0
    raw_map: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.label_nc < 1:
            raise DatasetError(f"label_nc must be at least 1, got {self.label_nc}")
        if len(self.class_names) != self.label_nc:
            raise DatasetError(f"{len(self.class_names)} class names for {self.label_nc} label channels")
        if self.class_colors is not None and len(self.class_colors) != self.label_nc:
            raise DatasetError(f"{len(self.class_colors)} class colours for {self.label_nc} label channels")
        if self.dont_care_id is not None and not 0 <= self.dont_care_id < self.label_nc:
            raise DatasetError(f"dont_care_id {self.dont_care_id} is not a class id 0..{self.label_nc - 1}")

    @cached_property
    def _lut8(self) -> np.ndarray:
        return self._map_general(np.arange(256, dtype=np.int64))

    def _map_general(self, raw: np.ndarray) -> np.ndarray:
        r = raw.astype(np.int64, copy=False)
        out = r + self.raw_offset
        for value, cls in self.raw_map:
            out[r == value] = cls
        out[(out < 0) | (out >= self.label_nc)] = -1
        return out

    def map_labels(self, raw: np.ndarray) -> np.ndarray:
        """Raw label values -> int64 model ids; -1 where a value has no valid id."""
        raw = np.asarray(raw)
        if raw.dtype == np.uint8:
            return self._lut8[raw]
        return self._map_general(raw)

    def invalid_raw_values(self, raw: np.ndarray) -> list[int]:
        """The distinct raw values in ``raw`` that map outside 0..label_nc-1 (sorted)."""
        raw = np.asarray(raw)
        if raw.dtype == np.uint8:
            present = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
            return [int(v) for v in present if self._lut8[v] < 0]
        values = np.unique(raw)
        return [int(v) for v, m in zip(values, self._map_general(values)) if m < 0]

    def valid_raw_values(self) -> str:
        """The raw values that are accepted, in words (for error messages), e.g. "0..7, 255"."""
        top = max([self.label_nc - self.raw_offset, 256, *(v + 1 for v, _ in self.raw_map)])
        values = np.arange(min([0, *(v for v, _ in self.raw_map)]), top)
        ok = values[self._map_general(values) >= 0].tolist()
        runs: list[list[int]] = []
        for v in ok:
            if runs and v == runs[-1][1] + 1:
                runs[-1][1] = v
            else:
                runs.append([v, v])
        return ", ".join(f"{a}..{b}" if b > a else str(a) for a, b in runs) or "none"


def _builtin_info(kind: str) -> DatasetInfo:
    if kind == "ade20k":
        return DatasetInfo("ade20k", 151, ("other", *ADE20K_NAMES), None, 0)
    if kind == "cityscapes":
        names = tuple(n for n, _ in CITYSCAPES_CLASSES)
        colors = tuple(c for _, c in CITYSCAPES_CLASSES)
        return DatasetInfo("cityscapes", 35, names, colors, 0, raw_map=((255, 0), (-1, 0)))
    if kind == "coco-stuff":
        return DatasetInfo("coco-stuff", 183, COCO_STUFF_NAMES, None, 0, raw_offset=1, raw_map=((255, 0),))
    raise AssertionError(kind)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


CLASSES_JSON_HELP = (
    '{"names": ["sky", "tree", ...], "colors": [[r, g, b], ...] (optional), '
    '"dont_care_id": int (optional), "ignore_value": int (optional raw value meaning unlabeled)}'
)


def _read_classes_file(path: Path) -> DatasetInfo:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"classes file {path} not found; write one like {CLASSES_JSON_HELP}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read classes file {path}: {e}") from None

    def bad(msg: str) -> DatasetError:
        return DatasetError(f"{path}: {msg}; expected {CLASSES_JSON_HELP}")

    if not isinstance(data, dict):
        raise bad("not a JSON object")
    unknown = sorted(set(data) - {"names", "colors", "dont_care_id", "ignore_value"})
    if unknown:
        raise bad(f"unknown keys {unknown}")
    names = data.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise bad('"names" must be a non-empty list of strings')
    n = len(names)

    def int_or_none(key: str) -> int | None:
        v = data.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise bad(f'"{key}" must be an integer')
        return v

    dont_care = int_or_none("dont_care_id")
    ignore = int_or_none("ignore_value")
    colors = data.get("colors")
    if colors is not None:
        ok = isinstance(colors, list) and all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(x, int) and 0 <= x <= 255 for x in c) for c in colors
        )
        if not ok:
            raise bad('"colors" must be a list of [r, g, b] lists of integers 0..255')
        if len(colors) != n:
            raise bad(f'{len(colors)} "colors" for {n} "names"')
        colors = [tuple(c) for c in colors]
    if dont_care is not None and not 0 <= dont_care < n:
        raise bad(f'"dont_care_id" {dont_care} is not a class id 0..{n - 1}')
    raw_map: tuple[tuple[int, int], ...] = ()
    if ignore is not None:
        if 0 <= ignore < n:
            raise bad(f'"ignore_value" {ignore} is also a class id (0..{n - 1}); pick a value outside them')
        raw_map = ((ignore, n if dont_care is None else dont_care),)
        if dont_care is None:  # append a don't-care class, reachable only through ignore_value
            dont_care = n
            names = [*names, "don't care"]
            if colors is not None:
                colors.append((0, 0, 0))
            raw_map += ((n, -1),)
    return DatasetInfo(
        "folder",
        len(names),
        tuple(names),
        tuple(colors) if colors is not None else None,
        dont_care,
        raw_map=raw_map,
    )


def dataset_info(kind: str, root: str | Path, classes_file: str | Path | None = None) -> DatasetInfo:
    """The classes of a dataset. ``classes_file`` (folder kind only) replaces ``<root>/classes.json``."""
    _check_kind(kind)
    if kind != "folder":
        if classes_file is not None:
            raise ValueError(f"classes_file is only used with kind 'folder'; {kind!r} has fixed classes")
        return _builtin_info(kind)
    path = Path(classes_file) if classes_file is not None else Path(root) / "classes.json"
    return _read_classes_file(path)


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
    expect_label,
    expect_image,
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
    """Deterministic 90/10 split: every tenth sorted name, evenly spread, is validation."""
    names = sorted(names)
    n = len(names)
    n_val = max(1, round(n / 10)) if n >= 2 else 0
    val_idx = {int((k + 0.5) * n / n_val) for k in range(n_val)}
    return [nm for i, nm in enumerate(names) if (i in val_idx) == (split == "val")]


FOLDER_LAYOUT = (
    "images/ + labels/ (same file names; optional splits/train.txt, splits/val.txt) "
    "or train/images, train/labels, val/images, val/labels; plus classes.json"
)


def _scan(kind: str, root: str | Path, split: str) -> tuple[list[Pair], list[Problem]]:
    _check_kind(kind)
    _check_split(split)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist or is not a folder")

    if kind == "ade20k":
        if (root / "ADEChallengeData2016").is_dir():
            root = root / "ADEChallengeData2016"
        sub = {"train": "training", "val": "validation"}[split]
        img_dir, lab_dir = root / "images" / sub, root / "annotations" / sub
        _require_dirs(
            kind,
            root,
            [img_dir, lab_dir],
            "ADEChallengeData2016/images/{training,validation}/*.jpg and "
            "ADEChallengeData2016/annotations/{training,validation}/*.png",
        )
        images, labels = _files(img_dir, IMAGE_EXTS), _files(lab_dir, LABEL_EXTS)
        result = _pair_up(images, labels, None, lambda n: lab_dir / f"{n}.png", lambda n: img_dir / f"{n}.jpg")
    elif kind == "cityscapes":
        img_dir, lab_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        _require_dirs(
            kind,
            root,
            [img_dir, lab_dir],
            "leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and gtFine/{train,val}/<city>/*_gtFine_labelIds.png",
        )
        images = _files(img_dir, (".png", ".jpg", ".jpeg"), "_leftImg8bit")
        labels = _files(lab_dir, (".png",), "_gtFine_labelIds")
        result = _pair_up(
            images,
            labels,
            None,
            lambda n: lab_dir / f"{n}_gtFine_labelIds.png",
            lambda n: img_dir / f"{n}_leftImg8bit.png",
        )
    elif kind == "coco-stuff":
        img_dir, lab_dir = root / f"{split}_img", root / f"{split}_label"
        _require_dirs(kind, root, [img_dir, lab_dir], "{train,val}_img/*.jpg and {train,val}_label/*.png")
        images, labels = _files(img_dir, IMAGE_EXTS), _files(lab_dir, LABEL_EXTS)
        result = _pair_up(images, labels, None, lambda n: lab_dir / f"{n}.png", lambda n: img_dir / f"{n}.jpg")
    else:  # folder
        split_layout = (root / "train" / "images").is_dir() or (root / "val" / "images").is_dir()
        if split_layout:
            img_dir, lab_dir = root / split / "images", root / split / "labels"
        else:
            img_dir, lab_dir = root / "images", root / "labels"
        _require_dirs(kind, root, [img_dir, lab_dir], FOLDER_LAYOUT)
        names = None
        images, labels = _files(img_dir, IMAGE_EXTS), _files(lab_dir, LABEL_EXTS)
        if not split_layout:
            split_files = {s: root / "splits" / f"{s}.txt" for s in SPLITS}
            other = "val" if split == "train" else "train"
            if split_files[split].is_file():
                names = _read_split_file(split_files[split])
            elif split_files[other].is_file():
                excluded = set(_read_split_file(split_files[other]))
                names = sorted(n for n in set(images) | set(labels) if n not in excluded)
            else:
                names = _default_split(list(set(images) | set(labels)), split)
        result = _pair_up(images, labels, names, lambda n: lab_dir / f"{n}.png", lambda n: img_dir / f"{n}.jpg")

    pairs, problems = result
    if not pairs and not problems:
        problems.append(Problem(NO_PAIRS, img_dir, f"no image/label pairs for split {split!r}"))
    return pairs, problems


def find_pairs(kind: str, root: str | Path, split: str, classes_file: str | Path | None = None) -> list[Pair]:
    """The matched (image, label) pairs of a split, sorted by name. Unmatched files are skipped (see
    :func:`validate`). ``classes_file`` is accepted for symmetry and not needed to find files."""
    del classes_file
    return _scan(kind, root, split)[0]


# ---- validation -----------------------------------------------------------------------------------


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


@dataclass
class ValidationReport:
    kind: str
    root: Path
    split: str
    info: DatasetInfo
    pairs: list[Pair]
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.pairs)

    def by_category(self) -> dict[str, list[Problem]]:
        out: dict[str, list[Problem]] = {}
        for p in sorted(self.problems, key=lambda p: (CATEGORIES.index(p.category), str(p.file))):
            out.setdefault(p.category, []).append(p)
        return out

    def _show(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def format(self, max_per_category: int = 20) -> str:
        excluded = self.checked - len(self.pairs)
        head = (
            f"{self.kind} dataset {self.root} [{self.split}]: {len(self.pairs)} valid pair{'' if len(self.pairs) == 1 else 's'}"
            + (f", {excluded} excluded" if excluded else "")
            + f", {self.info.label_nc} label channels"
            + (f" (don't-care id {self.info.dont_care_id})" if self.info.dont_care_id is not None else "")
        )
        if self.ok:
            return head + "\nno problems found"
        lines = [head, f"{len(self.problems)} problem(s):"]
        for category, probs in self.by_category().items():
            lines.append(f"  {category} ({len(probs)}):")
            for p in probs[:max_per_category]:
                message = p.message.replace(f"{self.root}{os.sep}", "")  # paths relative to the root
                lines.append(f"    {self._show(p.file)}: {message}")
            if len(probs) > max_per_category:
                lines.append(f"    ... and {len(probs) - max_per_category} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _check_pair(pair: Pair, info: DatasetInfo, decode_images: bool) -> list[Problem]:
    try:
        with Image.open(pair.image) as im:
            if decode_images:
                im.load()
            image_size = im.size
    except (OSError, UnidentifiedImageError, ValueError) as e:
        return [Problem(UNREADABLE, pair.image, f"cannot read image: {e}")]
    try:
        raw = load_label(pair.label)
    except ValueError as e:
        return [Problem(NOT_INDEX, pair.label, str(e))]
    except (OSError, UnidentifiedImageError) as e:
        return [Problem(UNREADABLE, pair.label, f"cannot read label: {e}")]
    problems = []
    label_size = (raw.shape[1], raw.shape[0])
    if label_size != image_size:
        problems.append(
            Problem(
                SIZE_MISMATCH,
                pair.label,
                f"label is {label_size[0]}x{label_size[1]} but image {pair.image.name} is {image_size[0]}x{image_size[1]}",
            )
        )
    bad = info.invalid_raw_values(raw)
    if bad:
        shown = ", ".join(map(str, bad[:12])) + (f" ... ({len(bad)} values)" if len(bad) > 12 else "")
        problems.append(
            Problem(
                OUT_OF_RANGE,
                pair.label,
                f"values {shown} are not classes (valid raw values: {info.valid_raw_values()})",
            )
        )
    return problems


def validate(
    kind: str,
    root: str | Path,
    split: str,
    classes_file: str | Path | None = None,
    workers: int = 4,
    decode_images: bool = True,
) -> ValidationReport:
    """Open every file of a split and report problems; ``report.pairs`` holds the pairs without any.

    Labels and images are decoded in full, so a truncated photo is reported here rather than crashing a
    training run mid-epoch (Stanford Background: 1.4 s on 2 cores). ``decode_images=False`` reads only
    the images' headers (size and format): about a third faster, blind to truncated files.
    """
    t0 = time.perf_counter()
    pairs, problems = _scan(kind, root, split)  # layout errors first: they explain more than a missing classes.json
    info = dataset_info(kind, root, classes_file)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda p: _check_pair(p, info, decode_images), pairs))
    good = [p for p, probs in zip(pairs, results) if not probs]
    for probs in results:
        problems.extend(probs)
    return ValidationReport(
        kind, Path(root), split, info, good, problems, checked=len(pairs), seconds=time.perf_counter() - t0
    )


# ---- the torch dataset ----------------------------------------------------------------------------


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
    """(image, labels) pairs, resized (and, when training, augmented) to ``size`` = (height, width).

    Image and label get the same geometric transform (bicubic for the photo, nearest for the ids).
    Randomness is a function of (seed, epoch, index) only.

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
