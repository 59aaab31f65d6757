"""Hard-edged painting geometry on integer label maps: every function returns a boolean mask, never blends."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

Point = tuple[int, int]  # (x, y) in canvas pixels


@lru_cache(maxsize=64)
def brush_stamp(size: int, round_tip: bool) -> np.ndarray:
    """A size x size boolean tip; round tips keep pixels whose centre lies within the circle."""
    size = max(1, int(size))
    if not round_tip:
        return np.ones((size, size), dtype=bool)
    c = np.arange(size) - (size - 1) / 2
    r = size / 2 - 0.25  # shaves the corner pixels a plain size/2 radius would keep for small tips
    return c[:, None] ** 2 + c[None, :] ** 2 <= max(r, 0.5) ** 2


def _line_points(p0: Point, p1: Point) -> np.ndarray:
    """Integer points from p0 to p1 with no gaps (one per step of the longer axis)."""
    n = max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]), 1)
    t = np.linspace(0.0, 1.0, n + 1)
    xs = np.rint(p0[0] + t * (p1[0] - p0[0])).astype(int)
    ys = np.rint(p0[1] + t * (p1[1] - p0[1])).astype(int)
    return np.stack([xs, ys], 1)


def stroke_mask(shape: tuple[int, int], p0: Point, p1: Point, size: int, round_tip: bool) -> np.ndarray:
    """Pixels covered by the tip dragged from p0 to p1 (p0 == p1 gives a single dab)."""
    h, w = shape
    tip = brush_stamp(size, round_tip)
    s = tip.shape[0]
    lo = -(s // 2)  # the tip covers offsets lo .. lo + s - 1 around its point
    padded = np.zeros((h + 2 * s, w + 2 * s), dtype=bool)  # tips crossing the border need no clipping
    for x, y in _line_points(p0, p1):
        top, left = y + lo + s, x + lo + s
        if 0 <= top <= h + s and 0 <= left <= w + s:
            padded[top : top + s, left : left + s] |= tip
    return padded[s : s + h, s : s + w]


def rect_mask(shape: tuple[int, int], p0: Point, p1: Point) -> np.ndarray:
    """The filled rectangle with corners p0 and p1, both included."""
    h, w = shape
    mask = np.zeros(shape, dtype=bool)
    x0, x1 = sorted((p0[0], p1[0]))
    y0, y1 = sorted((p0[1], p1[1]))
    mask[max(y0, 0) : min(y1 + 1, h), max(x0, 0) : min(x1 + 1, w)] = True
    return mask


def polygon_mask(shape: tuple[int, int], points: list[Point]) -> np.ndarray:
    """The inside of a closed lasso polygon (outline included), rasterised without anti-aliasing."""
    h, w = shape
    im = Image.new("1", (w, h), 0)
    if len(points) >= 3:
        ImageDraw.Draw(im).polygon([tuple(p) for p in points], fill=1, outline=1)
    elif points:
        ImageDraw.Draw(im).line([tuple(p) for p in points] * (2 if len(points) == 1 else 1), fill=1)
    return np.asarray(im, dtype=bool)


def fill_mask(labels: np.ndarray, point: Point, contiguous: bool) -> np.ndarray:
    """Pixels of the clicked class: its 4-connected region, or every pixel of that class."""
    x, y = point
    same = labels == labels[y, x]
    if not contiguous:
        return same
    _, components = cv2.connectedComponents(same.astype(np.uint8), connectivity=4)
    return components == components[y, x]
