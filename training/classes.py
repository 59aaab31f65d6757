"""A dataset's classes: how raw label values become model ids (:class:`DatasetInfo`), the class tables of the
built-in dataset kinds, and the folder kind's ``classes.json`` (format in the README, "The folder format")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "DatasetInfo", "read_classes_file"]


class DatasetError(ValueError):
    """A dataset that cannot be used: unknown kind, wrong folder layout, bad classes file, or a file that
    cannot be read any more (changed after validation)."""


# ---- the built-in kinds' classes ------------------------------------------------------------------

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


# ---- raw label values -> class ids ---------------------------------------------------------------


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


# ---- classes.json --------------------------------------------------------------------------------

CLASSES_JSON_HELP = (
    '{"names": ["sky", "tree", ...], "colors": [[r, g, b], ...] (optional), '
    '"dont_care_id": int (optional), "ignore_value": int (optional raw value meaning unlabeled)}'
)


def read_classes_file(path: Path, kind: str) -> DatasetInfo:
    """The classes a ``classes.json`` describes, for a dataset of ``kind``."""
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
        kind,
        len(names),
        tuple(names),
        tuple(colors) if colors is not None else None,
        dont_care,
        raw_map=raw_map,
    )
