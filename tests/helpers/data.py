"""A synthetic segmentation dataset in the training's folder format."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = [(70, 130, 180), (34, 139, 34), (128, 128, 128), (0, 0, 200)]


def make_dataset(root: Path, n: int = 6, size: tuple[int, int] = (40, 56)) -> Path:
    """Layouts of 3-4 bands; each class has its own colour plus noise, so there is something to learn."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    h, w = size
    for i in range(n):
        labels = np.zeros((h, w), np.uint8)
        cuts = np.sort(rng.integers(4, h - 4, 2))
        labels[cuts[0] :] = 1
        labels[cuts[1] :] = 2
        left = labels[:, : rng.integers(5, w // 2)]  # a view: water on the left of the road band
        left[left == 2] = 3
        img = np.asarray(COLORS, np.float32)[labels] + rng.normal(0, 12, (h, w, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / "images" / f"im{i}.jpg", quality=95)
        Image.fromarray(labels).save(root / "labels" / f"im{i}.png")
    (root / "classes.json").write_text(json.dumps({"names": ["sky", "tree", "road", "water"], "colors": COLORS}))
    return root
