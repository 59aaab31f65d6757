"""Re-make docs/screenshot.png: `python docs/make_screenshot.py [--model DIR_OR_HUB_ID]`.

Without --model it uses the bundled default model when there is one, else an *untrained* test model made here
(the library's initial weights, whose result is a flat grey: the picture shows the window, not image quality).
The layout is sky over mountains over a lake with grass and a tree, in the Stanford Background classes
("landscapes").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oasis_core import (  # noqa: E402  (needs the sys.path entry above when run from a checkout)
    ModelConfig,
    OasisModel,
    bundled_models,
    default_model,
    load_model,
    save_label_png,
)

NAMES = ("sky", "tree", "road", "grass", "water", "building", "mountain", "foreground object")
COLORS = (
    (70, 130, 180),
    (34, 139, 34),
    (128, 64, 128),
    (124, 252, 0),
    (0, 90, 200),
    (180, 120, 90),
    (139, 137, 137),
    (220, 20, 60),
)


def test_model(folder: Path) -> Path:
    import torch

    cfg = ModelConfig(
        label_nc=8,
        height=192,
        width=256,
        z_dim=16,
        channels_g=8,
        g_mults=(8, 8, 4, 2, 1),
        spade_hidden=16,
        d_channels=(8, 8, 16),
        d_last_channels=8,
        class_names=NAMES,
        class_colors=COLORS,
        name="untrained test model",
    )
    torch.manual_seed(0)
    OasisModel(cfg).save_pretrained(folder)
    return folder


def layout(config: ModelConfig) -> np.ndarray:
    ids = {n: i for i, n in enumerate(config.class_names)}
    h, w = config.height, config.width
    y, x = np.mgrid[0:h, 0:w]
    labels = np.full((h, w), ids.get("sky", 0), np.int64)
    ridge = h * (0.36 + 0.09 * np.sin(x / (w / 11)) + 0.05 * np.cos(x / (w / 28)))
    labels[y >= ridge] = ids.get("mountain", 1)
    labels[y >= 0.6 * h] = ids.get("water", 2)
    labels[(y >= 0.6 * h) & (x < 0.23 * w + 0.6 * (y - 0.6 * h))] = ids.get("grass", 3)
    labels[int(0.47 * h) : int(0.78 * h), int(0.74 * w) : int(0.9 * w)] = ids.get("tree", 4)
    return labels


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model folder or Hub id (default: the bundled model, else an untrained one)")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or (None if bundled_models() else str(test_model(Path(tmp) / "test-model")))
        loaded = load_model(model, with_discriminator=False) if model else default_model(with_discriminator=False)
        config = loaded.config
        labels_png = Path(tmp) / "layout.png"
        save_label_png(labels_png, layout(config), config)
        cmd = [sys.executable, "-m", "app.main", "--screenshot", str(args.out), "--layout", str(labels_png)]
        if model:
            cmd += ["--model", model]
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OASIS_STUDIO_DATA=str(Path(tmp) / "data"))
        return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
