"""Draw the example layouts of the bundled models into assets/examples/<model>/ (index PNGs + examples.json).

The layouts are painted by this code, never copied from a dataset, and every scene is seeded, so a rerun
reproduces the files:

    python assets/examples/make_examples.py [--out DIR]

Landscape scenes are flat paintings (shapes painted back to front). Street scenes are seen through a pinhole
camera above a flat road and painted with a depth buffer, so buildings, cars and people overlap as in a
photo and shrink towards the vanishing point.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oasis_core import ModelConfig, save_label_png
from training.data import dataset_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
H, W = 192, 256  # the bundled models' output size
YY, XX = np.mgrid[0:H, 0:W] + 0.5  # pixel centres
COLS = np.arange(W) + 0.5

Point = tuple[float, float]


# ---- shapes -------------------------------------------------------------------------------------------
def polygon_mask(points: Sequence[Point]) -> np.ndarray:
    """Pixels whose centres lie inside a convex polygon (either winding)."""
    p = np.asarray(points, dtype=np.float64)
    q = np.roll(p, -1, axis=0)
    area2 = float(np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]))
    inside = np.full((H, W), area2 != 0)
    for (x0, y0), (x1, y1) in zip(p, q):
        inside &= np.sign(area2) * ((x1 - x0) * (YY - y0) - (y1 - y0) * (XX - x0)) >= 0
    return inside


def ellipse_mask(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((XX - cx) / rx) ** 2 + ((YY - cy) / ry) ** 2 <= 1


def smooth(profile: np.ndarray, k: int) -> np.ndarray:
    """Box filter with edge padding: rounds the corners a brush would not paint."""
    padded = np.pad(profile, k // 2, mode="edge")
    return np.convolve(padded, np.ones(k) / k, mode="valid")[: profile.size]


def waves(rng: np.random.Generator, base: float, amp: float, count: int = 3) -> np.ndarray:
    """A rolling horizon: a few long sines, each octave half as strong."""
    out = np.full(W, base, dtype=np.float64)
    for k in range(count):
        freq = rng.uniform(0.6, 1.4) * (k + 1) / W
        out += amp / 2**k * np.sin(2 * np.pi * freq * COLS + rng.uniform(0, 2 * np.pi))
    return out


def walk(rng: np.random.Generator, amp: float, k: int = 9) -> np.ndarray:
    """A smoothed random walk with both ends at 0, scaled to +-amp: the roughness of a ridge line."""
    w = smooth(np.cumsum(rng.normal(size=W)), k)
    w -= np.linspace(w[0], w[-1], W)
    return amp * w / max(float(np.abs(w).max()), 1e-9)


def ridge(
    rng: np.random.Generator, base: float, peaks: Sequence[tuple[float, float, float]], rough: float
) -> np.ndarray:
    """A mountain silhouette: (centre x, height, slope) peaks over `base`, roughened, tips rounded."""
    top = np.full(W, base, dtype=np.float64)
    for cx, height, slope in peaks:
        top = np.minimum(top, base - height + slope * np.abs(COLS - cx))
    return smooth(top + walk(rng, rough), 5)


def canopy(
    rng: np.random.Generator, base: np.ndarray | float, x0: float, x1: float, r: tuple[float, float]
) -> np.ndarray:
    """The top of a tree line: overlapping round crowns standing on `base` (inf where there is none)."""
    base = np.broadcast_to(np.asarray(base, dtype=np.float64), (W,))
    top = np.full(W, np.inf)
    x = x0
    while x < x1:
        radius = rng.uniform(*r)
        foot = base[int(np.clip(x, 0, W - 1))] - radius * rng.uniform(0.2, 0.6)
        dx = COLS - x
        inside = np.abs(dx) < radius
        top[inside] = np.minimum(top[inside], foot - np.sqrt(radius**2 - dx[inside] ** 2))
        x += radius * rng.uniform(0.9, 1.4)
    return top


# ---- landscapes: painted back to front --------------------------------------------------------------
class Painting:
    """A flat label map: every shape covers what was painted before it, as with a brush."""

    def __init__(self, c: dict[str, int]) -> None:
        self.c = c
        self.labels = np.full((H, W), c["sky"], dtype=np.uint8)

    def paint(self, mask: np.ndarray, cls: str) -> None:
        self.labels[mask] = self.c[cls]

    def below(self, top: np.ndarray, cls: str) -> None:
        """Everything under a horizon profile (one y per column)."""
        self.paint(YY >= top[None, :], cls)

    def polygon(self, points: Sequence[Point], cls: str) -> None:
        self.paint(polygon_mask(points), cls)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, cls: str) -> None:
        self.paint(ellipse_mask(cx, cy, rx, ry), cls)

    def tree(self, rng: np.random.Generator, x: float, ground: float, height: float, cls: str) -> None:
        """A broadleaf tree: a tapering trunk and a crown of a few overlapping blobs."""
        half = max(0.8, 0.035 * height)
        self.polygon(
            [
                (x - half, ground),
                (x + half, ground),
                (x + 0.6 * half, ground - 0.6 * height),
                (x - 0.6 * half, ground - 0.6 * height),
            ],
            cls,
        )
        r = 0.3 * height
        cy = ground - height + r
        self.ellipse(x, cy + 0.15 * r, 0.95 * r, r, cls)
        for _ in range(5):
            dx, dy = rng.normal(0, 0.4 * r, 2)
            self.ellipse(x + dx, cy + 0.2 * r + 0.5 * abs(dy), 0.6 * r, 0.55 * r, cls)

    def conifers(
        self, rng: np.random.Generator, base: float, x0: float, x1: float, h: tuple[float, float], cls: str
    ) -> None:
        """A row of fir trees: narrow triangles of varied heights."""
        x = x0
        while x < x1:
            height = rng.uniform(*h)
            self.polygon([(x - 0.3 * height, base), (x + 0.3 * height, base), (x, base - height)], cls)
            x += rng.uniform(0.15, 0.35) * height

    def house(self, x: float, ground: float, width: float, height: float, cls: str) -> None:
        """Walls, a gable roof and a chimney."""
        self.polygon([(x, ground), (x + width, ground), (x + width, ground - height), (x, ground - height)], cls)
        eave = ground - height + 1
        self.polygon([(x - 0.08 * width, eave), (x + 1.08 * width, eave), (x + width / 2, eave - 0.45 * height)], cls)
        cx = x + 0.72 * width
        self.polygon(
            [
                (cx, eave - 0.2 * height),
                (cx + 0.1 * width, eave - 0.2 * height),
                (cx + 0.1 * width, eave - 0.45 * height),
                (cx, eave - 0.45 * height),
            ],
            cls,
        )

    def boat(self, x: float, water: float, size: float, cls: str) -> None:
        """A sailing boat: hull and sail."""
        self.polygon(
            [
                (x - size, water - 0.25 * size),
                (x + size, water - 0.25 * size),
                (x + 0.75 * size, water + 0.1 * size),
                (x - 0.75 * size, water + 0.1 * size),
            ],
            cls,
        )
        self.polygon(
            [
                (x - 0.1 * size, water - 0.3 * size),
                (x - 0.1 * size, water - 1.8 * size),
                (x + 0.8 * size, water - 0.3 * size),
            ],
            cls,
        )

    def cow(self, x: float, ground: float, size: float, cls: str) -> None:
        """A grazing animal seen from the side: body, head and legs."""
        self.ellipse(x, ground - 0.75 * size, 0.75 * size, 0.35 * size, cls)
        self.ellipse(x + 0.8 * size, ground - 0.6 * size, 0.22 * size, 0.18 * size, cls)
        for dx in (-0.5, -0.3, 0.35, 0.55):
            leg = x + dx * size
            self.polygon(
                [
                    (leg - 0.06 * size, ground),
                    (leg + 0.06 * size, ground),
                    (leg + 0.06 * size, ground - 0.6 * size),
                    (leg - 0.06 * size, ground - 0.6 * size),
                ],
                cls,
            )

    def car(self, x: float, ground: float, width: float, cls: str) -> None:
        """A small car seen from behind."""
        h = 0.75 * width
        self.polygon(
            [
                (x - width / 2, ground),
                (x + width / 2, ground),
                (x + width / 2, ground - 0.55 * h),
                (x - width / 2, ground - 0.55 * h),
            ],
            cls,
        )
        self.polygon(
            [
                (x - 0.42 * width, ground - 0.5 * h),
                (x + 0.42 * width, ground - 0.5 * h),
                (x + 0.32 * width, ground - h),
                (x - 0.32 * width, ground - h),
            ],
            cls,
        )


def mountain_lake(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    p = Painting(c)
    p.below(ridge(rng, 116, [(40, 62, 1.1), (112, 38, 0.8), (196, 74, 1.25), (252, 40, 0.9)], 5), "mountain")
    p.conifers(rng, 118, -4, 100, (8, 16), "tree")
    p.conifers(rng, 118, 168, 262, (9, 18), "tree")
    p.paint(YY >= 117.5, "water")
    bank = 156 + 0.0045 * (COLS - 20) ** 2 + walk(rng, 2.5)
    p.below(bank, "grass")
    p.tree(rng, 34, 172, 52, "tree")
    p.boat(170, 136, 11, "foreground object")
    return p.labels


def meadow_trees(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    p = Painting(c)
    p.below(waves(rng, 98, 6, 2), "mountain")
    p.below(canopy(rng, 106, -6, W + 6, (4, 8)), "tree")
    p.below(106 + walk(rng, 1.5), "grass")
    p.tree(rng, 214, 124, 34, "tree")
    p.tree(rng, 168, 118, 22, "tree")
    p.tree(rng, 58, 160, 74, "tree")
    p.cow(120, 146, 16, "foreground object")
    p.cow(150, 132, 10, "foreground object")
    return p.labels


def country_road(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    p = Painting(c)
    p.below(waves(rng, 90, 8, 3), "mountain")
    p.below(canopy(rng, 101, 150, W + 6, (3, 6)), "tree")
    p.below(100 + walk(rng, 1.0), "grass")

    # The road narrows towards its vanishing point (118, 100) and bends on the way; t: 0 there, 1 at the bottom.
    def centre(t: np.ndarray | float) -> np.ndarray | float:
        return 118 + 92 * t - 60 * t**2

    def half_width(t: np.ndarray | float) -> np.ndarray | float:
        return 1.5 + 95 * t

    t = np.clip((YY - 100) / (H - 100), 0, None)
    p.paint((YY >= 100) & (np.abs(XX - centre(t)) <= half_width(t)), "road")
    for tt in (0.16, 0.3, 0.55):  # along the left verge, larger when nearer
        p.tree(rng, centre(tt) - 1.35 * half_width(tt), 100 + tt * (H - 100), 10 + 150 * tt, "tree")
    p.car(centre(0.38) + 0.4 * half_width(0.38), 100 + 0.38 * (H - 100), 22, "foreground object")
    return p.labels


def coast_house(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    p = Painting(c)
    headland = ridge(rng, 99, [(236, 22, 0.6)], 2)
    p.below(np.where(COLS < 170, np.inf, headland), "mountain")  # only on the right: open sea to the left
    p.paint(YY >= 98.5, "water")
    land = 106 + 0.012 * np.clip(165 - COLS, 0, None) ** 2 + walk(rng, 2.0)
    p.below(land, "grass")
    p.tree(rng, 152, 124, 30, "tree")
    p.house(168, 122, 40, 18, "building")
    p.tree(rng, 232, 128, 34, "tree")
    p.polygon([(184, 122), (194, 122), (250, H), (206, H)], "road")
    p.boat(64, 112, 6, "foreground object")
    return p.labels


def hills_tree_line(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    p = Painting(c)
    p.below(smooth(waves(rng, 84, 11, 2), 9), "mountain")
    p.below(waves(rng, 108, 8, 2), "grass")
    p.house(70, 112, 14, 7, "building")
    near = waves(rng, 142, 9, 2)
    p.below(canopy(rng, near - 2, -6, W + 6, (5, 10)), "tree")
    p.below(near, "grass")
    p.tree(rng, 196, 176, 62, "tree")
    return p.labels


# ---- streets: a camera above a flat road, painted with a depth buffer ---------------------------------
class Street:
    """A street seen from a car. World: x metres to the right of the camera, z metres ahead, h metres above
    the road; the camera looks straight ahead from CAM_H, its vanishing point at (vx, vy)."""

    F = 150.0  # focal length in pixels: about 80 degrees across 256 columns, like a dash camera
    CAM_H = 1.4

    def __init__(self, c: dict[str, int], vx: float, vy: float) -> None:
        self.c, self.vx, self.vy = c, vx, vy
        self.labels = np.full((H, W), c["sky"], dtype=np.uint8)
        self.depth = np.full((H, W), np.inf)
        with np.errstate(divide="ignore"):
            self.ground_depth = np.where(YY > vy, self.F * self.CAM_H / (YY - vy), np.inf)
        self.paint(YY > vy, c["road"], self.ground_depth)

    def paint(self, mask: np.ndarray, cls: int, depth: np.ndarray | float) -> None:
        """Paint where the shape is nearer than what is there (equal depth: the later shape wins)."""
        m = mask & (depth <= self.depth)
        self.labels[m] = cls
        self.depth = np.where(m, depth, self.depth)

    def pt(self, x: float, z: float, h: float = 0.0) -> Point:
        return self.vx + self.F * x / z, self.vy + self.F * (self.CAM_H - h) / z

    # -- planes
    def ground(self, x0: float, x1: float, z0: float, z1: float, cls: str) -> None:
        corners = [self.pt(x0, z0), self.pt(x1, z0), self.pt(x1, z1), self.pt(x0, z1)]
        self.paint(polygon_mask(corners), self.c[cls], self.ground_depth)

    def wall(self, x: float, z0: float, z1: float, h0: float, h1: float, cls: str) -> None:
        """A vertical plane along the road (facade, fence, hedge, car side) at lateral offset x."""
        corners = [self.pt(x, z0, h0), self.pt(x, z1, h0), self.pt(x, z1, h1), self.pt(x, z0, h1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = self.F * x / (XX - self.vx)
        self.paint(polygon_mask(corners) & (depth > 0), self.c[cls], depth)

    def front(self, x: float, z: float, points: Sequence[Point], cls: str) -> None:
        """A convex shape facing the camera at distance z; points are (right, up) metres from (x, 0)."""
        self.paint(polygon_mask([self.pt(x + dx, z, h) for dx, h in points]), self.c[cls], z)

    def disc(self, x: float, z: float, h: float, r: float, cls: str, squash: float = 1.0) -> None:
        cx, cy = self.pt(x, z, h)
        rad = max(self.F * r / z, 0.8)
        self.paint(ellipse_mask(cx, cy, max(rad * squash, 0.8), rad), self.c[cls], z)

    def bar(self, x: float, z: float, h0: float, h1: float, width: float, cls: str, dx1: float = 0.0) -> None:
        """An upright (or, with dx1, slanted) bar at least one pixel wide, so thin things never vanish."""
        half = max(width / 2, 0.8 * z / self.F)
        self.front(x, z, [(-half, h0), (half, h0), (dx1 + half, h1), (dx1 - half, h1)], cls)

    # -- things
    def buildings(
        self,
        rng: np.random.Generator,
        x: float,
        z0: float,
        z1: float,
        heights: tuple[float, float],
        gap: float = 0.0,
    ) -> None:
        """Blocks along one side (x < 0: left) from z0 to z1: facades and the fronts that show above a lower
        neighbour; `gap` is the chance of an empty plot."""
        out = float(np.sign(x)) * 12  # how far a block reaches back from the street
        z = z0
        while z < z1:
            length = rng.uniform(6, 16)
            height = rng.uniform(*heights)
            if rng.uniform() >= gap:
                self.wall(x, z, min(z + length, z1), 0, height, "building")
                self.front(x, z, [(0, 0), (out, 0), (out, height), (0, height)], "building")
            z += length

    def car(self, x: float, z: float) -> None:
        """A car seen from behind (or the front) with its back at distance z, and its side facing the camera."""
        if abs(x) > 0.9:
            side = x - np.sign(x) * 0.9
            self.wall(side, z, z + 4.2, 0.15, 0.9, "car")
            self.wall(side - np.sign(x) * 0.12, z + 0.9, z + 3.3, 0.9, 1.45, "car")
            for zw in (z + 0.6, z + 3.4):
                self.wall(side, zw, zw + 0.6, 0.0, 0.3, "car")
        self.front(x, z, [(-0.9, 0.15), (0.9, 0.15), (0.9, 0.95), (-0.9, 0.95)], "car")
        self.front(x, z + 0.5, [(-0.8, 0.9), (0.8, 0.9), (0.65, 1.45), (-0.65, 1.45)], "car")
        for dx in (-0.68, 0.68):
            self.front(x + dx, z + 0.2, [(-0.15, 0), (0.15, 0), (0.15, 0.2), (-0.15, 0.2)], "car")

    def car_side(self, x: float, z: float, facing: int) -> None:
        """A car crossing from side to side: body, cabin and wheels."""
        f = facing
        self.front(x, z, [(-2.1, 0.25), (2.1, 0.25), (2.1, 0.9), (-2.1, 0.9)], "car")
        self.front(x, z, [(-1.7 * f, 0.88), (1.1 * f, 0.88), (0.5 * f, 1.45), (-1.2 * f, 1.45)], "car")
        for dx in (-1.35, 1.35):
            self.disc(x + dx, z, 0.32, 0.32, "car")

    def person(self, x: float, z: float, height: float = 1.75, stride: float = 0.0) -> None:
        """Standing (stride 0: seen from the front or back) or walking across (stride > 0: legs apart)."""
        s, cls = height / 1.75, "pedestrian"
        hip = 0.9 * s
        for leg in (-1, 1):
            foot = leg * (stride * s if stride else 0.1 * s)
            self.bar(x + foot, z, 0.0, hip, 0.14 * s, cls, dx1=leg * 0.07 * s - foot)
        torso = 0.22 * s if stride else 0.4 * s
        self.front(
            x,
            z,
            [
                (-torso / 2, hip - 0.05),
                (torso / 2, hip - 0.05),
                (torso / 2 + 0.02, 1.45 * s),
                (-torso / 2 - 0.02, 1.45 * s),
            ],
            cls,
        )
        for arm in (-1, 1):
            shoulder = arm * (torso / 2 + 0.05 * s) if not stride else 0.0
            self.bar(x + shoulder, z, 1.42 * s, 0.85 * s, 0.1 * s, cls, dx1=-arm * stride * 0.6 * s)
        self.disc(x, z, 1.6 * s, 0.12 * s, cls, squash=0.85)

    def cyclist_side(self, x: float, z: float, facing: int) -> None:
        """A bicyclist riding across: two wheels, the frame and the rider leaning forward."""
        f, cls = facing, "bicyclist"
        for dx in (-0.52, 0.52):
            self.disc(x + dx * f, z, 0.34, 0.34, cls)
        self.front(x, z, [(-0.52 * f, 0.34), (-0.15 * f, 0.95), (0.45 * f, 0.92), (0.05 * f, 0.3)], cls)
        self.front(x, z, [(-0.3 * f, 0.9), (-0.05 * f, 0.85), (0.25 * f, 1.45), (-0.02 * f, 1.52)], cls)
        self.bar(x + 0.12 * f, z, 1.42, 0.98, 0.09, cls, dx1=0.33 * f)
        self.bar(x - 0.15 * f, z, 0.92, 0.3, 0.12, cls, dx1=0.2 * f)
        self.disc(x + 0.18 * f, z, 1.63, 0.12, cls)

    def cyclist_back(self, x: float, z: float) -> None:
        """A bicyclist riding away: the rear wheel, the rider's legs, back, arms to the handlebar and head."""
        cls = "bicyclist"
        self.disc(x, z, 0.34, 0.34, cls, squash=0.12)
        for leg in (-1, 1):
            self.bar(x + leg * 0.13, z, 0.35, 0.95, 0.12, cls, dx1=leg * 0.02)
        self.front(x, z, [(-0.2, 0.9), (0.2, 0.9), (0.22, 1.45), (-0.22, 1.45)], cls)
        for arm in (-1, 1):
            self.bar(x + arm * 0.22, z, 1.4, 1.05, 0.08, cls, dx1=arm * 0.08)
        self.bar(x, z, 1.05, 1.08, 0.6, cls)
        self.disc(x, z, 1.6, 0.12, cls, squash=0.85)

    def tree(self, x: float, z: float, height: float, crown: float) -> None:
        """A street tree: a trunk and a crown of three overlapping discs."""
        self.bar(x, z, 0.0, height - crown, 0.3, "tree")
        top = height - crown
        self.disc(x, z, top, crown, "tree")
        self.disc(x - 0.6 * crown, z, top - 0.3 * crown, 0.7 * crown, "tree")
        self.disc(x + 0.6 * crown, z, top - 0.2 * crown, 0.75 * crown, "tree")

    def pole(self, x: float, z: float, height: float, sign: str | None = None, arm: float = 0.0) -> None:
        """A pole with an optional sign ("disc" or "box": a traffic light) and an arm over the road (lamp)."""
        self.bar(x, z, 0.0, height, 0.14, "pole")
        if arm:
            self.front(x, z, [(0, height - 0.12), (arm, height - 0.12), (arm, height), (0, height)], "pole")
        if sign == "disc":
            self.disc(x, z, height - 0.35, 0.35, "sign/symbol")
        elif sign == "box":
            self.front(
                x, z, [(-0.18, height - 1.0), (0.18, height - 1.0), (0.18, height), (-0.18, height)], "sign/symbol"
            )


def straight_street(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    s = Street(c, 128, 78)
    s.ground(-4.5, -2.0, 0.5, 900, "pavement")
    s.ground(5.5, 8.0, 0.5, 900, "pavement")
    s.buildings(rng, -4.5, 0.5, 140, (8, 20))
    s.buildings(rng, 8.0, 0.5, 140, (8, 22))
    s.front(0, 140, [(-20, 0), (25, 0), (25, 14), (-20, 14)], "building")
    s.car(0.1, 16)
    s.car(-0.4, 42)
    s.car(3.6, 30)
    s.car(4.6, 9)
    s.car(4.7, 21)
    for z in (11, 31, 55):
        s.pole(-2.3, z, 7.5, arm=1.6)
    s.pole(6.0, 13, 2.6, sign="disc")
    s.person(6.6, 15, 1.72)
    s.person(-3.2, 24, 1.65)
    return s.labels


def crossing(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    s = Street(c, 120, 80)
    for z0, z1 in ((0.5, 13.0), (24.5, 900)):
        s.ground(-4.5, -2.0, z0, z1, "pavement")
        s.ground(5.5, 8.0, z0, z1, "pavement")
    for z0, z1 in ((11.0, 13.0), (24.5, 26.5)):  # the side street's pavements
        s.ground(-80, -2.0, z0, z1, "pavement")
        s.ground(5.5, 80, z0, z1, "pavement")
    s.buildings(rng, -4.5, 0.5, 11.0, (10, 16))
    s.buildings(rng, 8.0, 0.5, 11.0, (10, 16))
    s.buildings(rng, -4.5, 26.5, 120, (9, 18))
    s.buildings(rng, 8.0, 26.5, 120, (9, 18))
    s.front(0, 26.5, [(-60, 0), (-4.5, 0), (-4.5, 12), (-60, 12)], "building")  # the corner blocks' fronts
    s.front(0, 26.5, [(8.0, 0), (60, 0), (60, 11), (8.0, 11)], "building")
    s.front(0, 120, [(-15, 0), (20, 0), (20, 12), (-15, 12)], "building")
    for x, stride in ((-1.2, 0.22), (0.5, 0.18), (2.3, 0.25), (3.4, 0.0), (4.6, 0.2)):
        s.person(x, 8.5 + rng.uniform(-0.6, 0.6), rng.uniform(1.6, 1.85), stride)
    s.person(-3.3, 6.0, 1.7)
    s.car_side(-5.5, 19.0, 1)  # coming out of the side street
    s.car(3.6, 29)
    s.car(-0.2, 34)
    s.cyclist_side(11.0, 18.0, -1)
    s.pole(-2.3, 12.0, 3.2, sign="box")
    s.pole(5.8, 12.2, 3.2, sign="box")
    s.pole(5.9, 25.0, 3.2, sign="box")
    s.pole(-2.4, 6.5, 2.5, sign="disc")
    return s.labels


def tree_avenue(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    s = Street(c, 132, 76)
    s.ground(-4.5, -2.0, 0.5, 900, "pavement")
    s.ground(5.5, 8.0, 0.5, 900, "pavement")
    s.buildings(rng, -5.5, 0.5, 130, (7, 12))
    s.buildings(rng, 8.5, 0.5, 130, (8, 14))
    s.wall(-4.5, 0.5, 130, 0, 1.1, "fence")
    for z in np.arange(4.0, 95.0, 9.0):
        s.tree(-3.3, z + rng.uniform(-1, 1), rng.uniform(7, 8.5), rng.uniform(2.0, 2.6))
        s.tree(6.8, z + 4 + rng.uniform(-1, 1), rng.uniform(7, 8.5), rng.uniform(2.0, 2.6))
    s.cyclist_back(-1.3, 9.0)
    s.car(4.7, 12)
    s.car(4.8, 19)
    s.car(3.0, 46)
    s.person(-2.8, 17, 1.7)
    return s.labels


def residential(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    s = Street(c, 126, 80)
    s.ground(-4.5, -2.5, 0.5, 900, "pavement")
    s.ground(5.0, 7.0, 0.5, 900, "pavement")
    s.buildings(rng, -7.0, 0.5, 110, (5, 8), gap=0.35)
    s.buildings(rng, 9.5, 0.5, 110, (5, 8), gap=0.3)
    for z in np.arange(3.0, 110.0, 7.5):  # back gardens seen between the houses
        s.tree(-12.0, z + rng.uniform(0, 4), rng.uniform(6, 10), rng.uniform(2, 3.2))
        s.tree(14.0, z + rng.uniform(0, 4), rng.uniform(6, 10), rng.uniform(2, 3.2))
    s.wall(-4.6, 0.5, 110, 0, 1.2, "tree")  # hedge
    s.wall(7.1, 0.5, 110, 0, 1.3, "fence")
    s.car(-1.7, 7.0)
    s.car(-1.8, 13.5)
    s.car(4.2, 10.0)
    s.car(4.3, 25.0)
    s.car(1.3, 38.0)
    for z in (8.0, 30.0, 52.0):
        s.pole(6.8, z, 6.0, arm=-1.2)
    s.pole(-4.2, 18.0, 2.4, sign="disc")
    s.person(-3.4, 11.0, 1.75)
    s.person(5.8, 20.0, 1.6)
    return s.labels


def edge_of_town(c: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    s = Street(c, 118, 82)
    s.ground(-5.0, -2.0, 0.5, 900, "pavement")
    s.ground(-300, -5.0, 0.5, 900, "tree")  # grass verges: vegetation, in CamVid's classes
    s.ground(5.5, 300, 0.5, 900, "tree")
    s.buildings(rng, 12.0, 20.0, 200, (4, 7), gap=0.4)
    s.buildings(rng, -14.0, 35.0, 200, (5, 9), gap=0.5)
    for z in np.arange(6.0, 200.0, 14.0):
        s.tree(-7.5, z + rng.uniform(-3, 3), rng.uniform(6, 11), rng.uniform(2.2, 3.5))
    s.wall(6.5, 0.5, 200, 0, 1.2, "fence")
    for z in (9.0, 30.0, 51.0, 72.0, 93.0):
        s.pole(6.0, z, 8.0)
    s.pole(-2.4, 14.0, 2.6, sign="disc")
    s.car(0.2, 22.0)
    s.car(3.4, 60.0)
    s.person(-3.0, 10.0, 1.7)
    s.cyclist_back(-1.4, 30.0)
    return s.labels


# ---- the catalogue -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    slug: str  # the file name
    title: str
    description: str
    draw: Callable[[dict[str, int], np.random.Generator], np.ndarray]  # class name -> id, rng -> labels
    seed: int


# Model name -> (its training class file, relative to the repository root; its scenes).
MODELS: dict[str, tuple[str, tuple[Scene, ...]]] = {
    "landscapes": (
        "assets/datasets/stanford-background.classes.json",
        (
            Scene(
                "mountain-lake",
                "Mountain lake",
                "Sky over mountains, fir trees on the shore, a lake with a sailing boat and a grassy bank",
                mountain_lake,
                1,
            ),
            Scene(
                "meadow-trees",
                "Meadow with trees",
                "A meadow under the sky with a tree line, three trees and two grazing animals",
                meadow_trees,
                2,
            ),
            Scene(
                "country-road",
                "Country road",
                "A road bending through fields towards hills, trees along it and a car",
                country_road,
                3,
            ),
            Scene(
                "coast-house",
                "House on the coast",
                "The sea to the horizon, a headland, a house on a grassy shore with a path and a boat",
                coast_house,
                4,
            ),
            Scene(
                "hills-tree-line",
                "Hills and a tree line",
                "Rolling hills with a tree line, a farmhouse far away and a lone tree",
                hills_tree_line,
                5,
            ),
        ),
    ),
    "streets": (
        "assets/datasets/camvid.classes.json",
        (
            Scene(
                "straight-street",
                "Straight street",
                "Buildings on both sides, pavements, cars ahead and parked, street lamps and pedestrians",
                straight_street,
                11,
            ),
            Scene(
                "crossing",
                "Pedestrian crossing",
                "People crossing in front of the car at a junction with traffic lights, a car and a bicyclist in the "
                "side street",
                crossing,
                12,
            ),
            Scene(
                "tree-avenue",
                "Tree-lined avenue",
                "Trees on both pavements, a fence, parked cars and a bicyclist riding ahead",
                tree_avenue,
                13,
            ),
            Scene(
                "residential",
                "Residential street",
                "Low houses behind a hedge and a fence, parked cars, street lamps and pedestrians",
                residential,
                14,
            ),
            Scene(
                "edge-of-town",
                "Edge of town",
                "A wide open road with trees, a fence and poles, a car and a bicyclist ahead",
                edge_of_town,
                15,
            ),
        ),
    ),
}


def model_config(name: str) -> ModelConfig:
    """The classes and palette of a model trained on this class file (with an appended don't-care class)."""
    info = dataset_info("folder", ROOT, ROOT / MODELS[name][0])
    return ModelConfig.from_dataset(info, height=H, width=W, name=name)


def write_examples(out: Path) -> list[Path]:
    """Write every model's layouts and examples.json under out/<model>/; returns the files written."""
    written = []
    for name, (classes_file, scenes) in MODELS.items():
        cfg = model_config(name)
        ids = {n: i for i, n in enumerate(cfg.class_names)}
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for scene in scenes:
            path = folder / f"{scene.slug}.png"
            save_label_png(path, scene.draw(ids, np.random.default_rng(scene.seed)), cfg)
            written.append(path)
            entries.append({"title": scene.title, "file": path.name, "description": scene.description})
        catalogue = {
            "model": name,
            "classes_file": classes_file,
            "class_names": list(cfg.class_names),
            "examples": entries,
        }
        index = folder / "examples.json"
        index.write_text(json.dumps(catalogue, indent=2) + "\n", encoding="utf-8")
        written.append(index)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder for <model>/ (default: assets/examples)")
    args = p.parse_args(argv)
    for path in write_examples(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
