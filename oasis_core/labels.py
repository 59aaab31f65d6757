"""Label maps and images in and out: validation, palette mapping and PNG files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import IO

import numpy as np
from PIL import Image

from .config import ModelConfig
from .noise import nearest_indices

# Photo modes that convert to RGB without guessing.
_PHOTO_MODES = {"RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "CMYK", "YCbCr"}


class LabelError(ValueError):
    """A label map that cannot be used with this model."""


def validate_labels(labels: np.ndarray, label_nc: int) -> np.ndarray:
    """Check an (H, W) integer label map and return it as int64; name any ids out of 0..label_nc-1."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise LabelError(f"a label map must be 2-D (H, W), got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise LabelError(f"a label map must hold integer class ids, got dtype {arr.dtype}")
    if arr.size == 0:
        raise LabelError("the label map is empty")
    bad = np.unique(arr[(arr < 0) | (arr >= label_nc)])
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise LabelError(f"label ids {shown} are outside this model's classes 0..{label_nc - 1}")
    return arr.astype(np.int64, copy=False)


def image_to_rgb(image: np.ndarray | Image.Image) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array from a PIL image or an RGB(A)/grey uint8 array."""
    if isinstance(image, Image.Image):
        if image.mode not in _PHOTO_MODES:
            raise ValueError(
                f"cannot use an image of mode {image.mode!r} as a photo; save it as 8-bit RGB (PNG or JPEG)"
            )
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"a photo array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"a photo array must be (H, W, 3) or (H, W, 4), got {arr.shape}")
    return np.ascontiguousarray(arr[..., :3])


def open_image(fp: str | os.PathLike[str] | IO[bytes], what: str = "image") -> Image.Image:
    """Open and decode an image file; a LabelError says why it cannot be used (unreadable, too large).

    Images beyond PIL's decompression-bomb limit are refused before they are decoded: no layout or photo
    needs that many pixels, and decoding one would take seconds and gigabytes.
    """
    limit = Image.MAX_IMAGE_PIXELS  # read now: a program may change (or lift, None) PIL's limit
    try:
        with Image.open(fp) as im:
            if limit is None or im.width * im.height <= limit:
                im.load()
                return im
            size = f"{im.width} x {im.height} pixels"
    except Image.DecompressionBombError as e:  # not an OSError: beyond twice the limit, PIL refuses to open
        found = re.search(r"\((\d+) pixels\)", str(e))
        assert limit is not None  # PIL raises it only under a limit
        size = f"{found.group(1)} pixels" if found else f"more than {2 * limit} pixels"
    except (OSError, SyntaxError, ValueError) as e:
        raise LabelError(f"not a readable {what} ({e})") from e
    raise LabelError(f"image too large: {size} (at most {limit} pixels can be opened)")


@dataclass
class LoadedLabels:
    labels: np.ndarray
    warnings: list[str] = field(default_factory=list)


# Colours of a colour layout that was saved as JPEG once (or scaled smoothly) lie near, not on, its palette. Of a
# layout's pixels, 99% stay within 16 levels per channel of their colour through JPEG at quality 90, 97% at quality
# 75 or at 90 with 4:2:0 chroma subsampling (random layouts in the bundled palettes); the rest are blends across
# class borders, no class's colour. The bundled palettes keep their colours 50 and more apart, so 16 cannot reach
# another class's colour; in palettes with closer colours, a colour within 16 of two of them is not guessed.
SNAP_DISTANCE = 16


def colors_to_labels(rgb: np.ndarray, config: ModelConfig) -> LoadedLabels:
    """Map a colour label image to class ids through the palette. A colour off the palette but within
    SNAP_DISTANCE (largest channel difference) of exactly one palette colour is taken as that colour; any other
    becomes the don't-care class (else 0). Either gives a warning that counts the pixels."""
    rgb = image_to_rgb(rgb)
    key = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lut = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in reversed(list(enumerate(config.class_colors)))}
    uniq, inverse = np.unique(key, return_inverse=True)
    fallback = config.dont_care_id if config.dont_care_id is not None else 0
    ids = np.array([lut.get(int(k), -1) for k in uniq], dtype=np.int64)
    off = ids < 0
    ids[off] = _snap(uniq[off], lut)
    counts = np.bincount(inverse.ravel(), minlength=uniq.size)
    snapped, unmapped = off & (ids >= 0), ids < 0
    labels = np.where(unmapped, fallback, ids)[inverse.reshape(key.shape)]
    warnings = []
    if snapped.any():
        warnings.append(
            f"{int(counts[snapped].sum())} pixels were within {SNAP_DISTANCE} levels of a palette colour, not on "
            f"it (a JPEG on the way?), and were taken as that colour's class"
        )
    if unmapped.any():
        shown = ", ".join(
            f"#{int(k):06x} ({int(c)} px)"
            for k, c in sorted(zip(uniq[unmapped], counts[unmapped]), key=lambda kc: -kc[1])[:8]
        )
        n = int(unmapped.sum())
        more = f" and {n - 8} more" if n > 8 else ""
        warnings.append(
            f"{n} colours are not in the palette and became '{config.class_names[fallback]}': {shown}{more}"
        )
    return LoadedLabels(labels, warnings)


def _snap(keys: np.ndarray, lut: dict[int, int]) -> np.ndarray:
    """The class of the one palette colour within SNAP_DISTANCE of each packed RGB colour; -1 for none or several."""
    palette_keys = np.fromiter(lut, dtype=np.int64)
    palette_ids = np.array([lut[int(k)] for k in palette_keys], dtype=np.int64)
    shifts = np.array([16, 8, 0])
    palette = (palette_keys[:, None] >> shifts) & 0xFF  # (P, 3) RGB
    out = np.full(keys.shape, -1, dtype=np.int64)
    chunk = max(1, 2**20 // palette_keys.size)  # JPEG makes many distinct colours: bounded memory
    for start in range(0, keys.size, chunk):
        colors = (keys[start : start + chunk, None] >> shifts) & 0xFF  # (n, 3) RGB
        near = (np.abs(colors[:, None, :] - palette[None, :, :]) <= SNAP_DISTANCE).all(-1)  # (n, P)
        unique = near.sum(1) == 1
        out[start : start + chunk][unique] = palette_ids[near[unique].argmax(1)]
    return out


def read_label_png(
    path: str | os.PathLike[str], config: ModelConfig, size: tuple[int, int] | None = None
) -> LoadedLabels:
    """Read an index PNG (mode P/L/I;16: values are ids) or a colour PNG (mapped through the palette).

    With `size` (H, W), a layout of another size is resized (nearest) to it, with a warning: the app's and
    oasis-generate's rule, as a model makes images at its own size only. Ids are checked on every pixel; colours
    are mapped after the resize, so a huge colour layout costs little more than decoding it.
    """
    try:
        im = open_image(path)
    except LabelError as e:
        raise LabelError(f"{path}: {e}") from e
    if im.mode in ("P", "L", "I;16", "I"):
        pixels = np.asarray(im)
    elif im.mode in ("RGB", "RGBA"):
        pixels = np.asarray(im.convert("RGB"))
    else:
        raise LabelError(f"{path}: image mode {im.mode!r} is neither an index PNG nor an RGB colour PNG")
    warnings = []
    try:
        # Ids are checked on every pixel, also those the resize below drops: a bad id is damage wherever it sits.
        if pixels.ndim == 2 and pixels.size and (int(pixels.min()) < 0 or int(pixels.max()) >= config.label_nc):
            validate_labels(pixels, config.label_nc)  # raises, naming the ids
        if size is not None and pixels.shape[:2] != tuple(size):
            pixels = resize_layout(pixels, size)
            warnings.append(f"the layout was {im.width}x{im.height} and was resized to the model's {size[1]}x{size[0]}")
        if pixels.ndim == 3:
            loaded = colors_to_labels(pixels, config)
            return LoadedLabels(loaded.labels, warnings + loaded.warnings)
        return LoadedLabels(validate_labels(pixels.astype(np.int64), config.label_nc), warnings)
    except LabelError as e:
        raise LabelError(f"{path}: {e}") from e


def resize_layout(layout: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest resize of an (H, W) id map or (H, W, C) colour layout to `size` (H, W): ids and colours stay exact,
    and the pixels picked are those `noise.resize_nearest` picks."""
    rows = nearest_indices(layout.shape[0], size[0]).numpy()
    cols = nearest_indices(layout.shape[1], size[1]).numpy()
    return layout[rows][:, cols]


def palette_image(labels: np.ndarray, config: ModelConfig) -> Image.Image:
    """An index ('P') image of the labels carrying the model's palette (ids stay the pixel values)."""
    labels = validate_labels(labels, config.label_nc)
    if config.label_nc > 256:
        raise LabelError("index PNGs hold at most 256 classes")
    h, w = labels.shape
    im = Image.frombytes("P", (w, h), np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    flat = [v for c in config.class_colors for v in c]
    im.putpalette(flat + [0] * (768 - len(flat)))
    return im


def save_label_png(path: str | os.PathLike[str], labels: np.ndarray, config: ModelConfig) -> None:
    palette_image(labels, config).save(path, format="PNG")


def colorize(labels: np.ndarray, config: ModelConfig) -> np.ndarray:
    """(H, W) ids -> (H, W, 3) uint8 display colours."""
    lut = np.asarray(config.class_colors, dtype=np.uint8)
    return lut[validate_labels(labels, config.label_nc)]


def random_layout(
    height: int, width: int, class_ids: list[int] | tuple[int, ...], regions: int = 8, seed: int = 0
) -> np.ndarray:
    """A painted-looking layout: `regions` Voronoi cells with wavy borders, each one of `class_ids`.

    For tests, benchmarks and demos (real layouts are piecewise constant, unlike per-pixel noise).
    """
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys += 0.04 * height * np.sin(xs / max(width, 1) * 2 * np.pi * rng.uniform(1, 3) + rng.uniform(0, 6))
    xs += 0.04 * width * np.sin(ys / max(height, 1) * 2 * np.pi * rng.uniform(1, 3) + rng.uniform(0, 6))
    cy, cx = rng.uniform(0, height, regions), rng.uniform(0, width, regions)
    d = (ys[..., None] - cy) ** 2 + (xs[..., None] - cx) ** 2
    cell_class = rng.choice(np.asarray(class_ids), size=regions)
    return cell_class[d.argmin(-1)].astype(np.int64)
