"""Does a crop-trained model generate whole images without seams or scale errors?

A model trained on 96x128 crops cut at the output scale (`--preset cpu-small`) generates the full 192x256
layout in one pass. Two checks on real layouts, each with the same seeded global noise:

- **Seams**: the mean absolute step between neighbouring pixels, per column and per row, counted only
  where both pixels have the same class (label edges are supposed to be sharp). A seam at the training
  crop's border (column 128, row 96) or anywhere else would stand out against the median step.
- **Scale**: the full image is compared, tile by tile, with the model's output for that tile alone (the
  setting it was trained in): the high-frequency energy ratio (a scale error would move texture to another
  frequency) and the mean colour difference per class.

    python benchmarks/bench_crop_seams.py --model assets/models/landscapes \
        --dataroot /path/to/stanford-background --classes-file assets/datasets/stanford-background.classes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from oasis_core import load_model, noise
from oasis_core.labels import random_layout


def generate(model, labels: np.ndarray, seed: int) -> np.ndarray:
    """labels (H, W) at a multiple of the upsampling -> float RGB (H, W, 3) in [0, 1]."""
    cfg = model.config
    onehot = F.one_hot(torch.from_numpy(labels), cfg.label_nc).permute(2, 0, 1)[None].float()
    z = noise.sample(seed, cfg.z_dim, *labels.shape, pixel_channels=cfg.noise_pixel_channels) if cfg.noise_3d else None
    with torch.no_grad():
        out = model.generator(onehot, z)[0]
    return ((out.permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy()


def same_class_steps(img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |step| between horizontal neighbours per column boundary, vertical neighbours per row boundary."""
    dx = np.abs(np.diff(img, axis=1)).mean(-1)
    dy = np.abs(np.diff(img, axis=0)).mean(-1)
    mx = labels[:, 1:] == labels[:, :-1]
    my = labels[1:] == labels[:-1]
    cols = (dx * mx).sum(0) / np.maximum(mx.sum(0), 1)
    rows = (dy * my).sum(1) / np.maximum(my.sum(1), 1)
    return cols, rows


def high_freq_energy(img: np.ndarray) -> float:
    """Share of the grey image's spectral energy above a quarter of the Nyquist frequency."""
    g = img.mean(-1)
    spec = np.abs(np.fft.fftshift(np.fft.fft2(g - g.mean()))) ** 2
    h, w = g.shape
    fy, fx = np.meshgrid(np.linspace(-1, 1, h, endpoint=False), np.linspace(-1, 1, w, endpoint=False), indexing="ij")
    high = np.hypot(fy, fx) > 0.25
    return float(spec[high].sum() / max(spec.sum(), 1e-12))


def load_layouts(args: argparse.Namespace, model) -> list[np.ndarray]:
    """Validation layouts of a dataset (its own label mapping), resized nearest to the model; else random ones."""
    cfg = model.config
    if args.dataroot:
        from training.data import dataset_info, find_pairs, load_label

        info = dataset_info(args.dataset, args.dataroot, args.classes_file)
        pairs = find_pairs(args.dataset, args.dataroot, "val", args.classes_file)[: args.count]
        size = (cfg.width, cfg.height)
        return [
            np.asarray(
                Image.fromarray(info.map_labels(load_label(p.label)).astype(np.int32)).resize(
                    size, Image.Resampling.NEAREST
                )
            ).astype(np.int64)
            for p in pairs
        ]
    classes = [c for c in range(cfg.label_nc) if c != cfg.dont_care_id]
    return [random_layout(cfg.height, cfg.width, classes, regions=6, seed=i) for i in range(args.count)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model folder (crop-trained)")
    p.add_argument("--dataset", default="folder", help="dataset kind of --dataroot (as for oasis-train)")
    p.add_argument("--dataroot", help="take the validation layouts of this dataset (default: random layouts)")
    p.add_argument("--classes-file", help="classes.json for a folder dataset")
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--crop", default="96,128", help="training crop size H,W")
    p.add_argument("--out", help="write the figures as JSON")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(args.model, with_discriminator=False)
    model.generator.float().eval()
    cfg = model.config
    ch, cw = (int(v) for v in args.crop.split(","))
    layouts = load_layouts(args, model)

    cols_all, rows_all, hf_full, hf_tile, colour = [], [], [], [], []
    for i, lab in enumerate(layouts):
        full = generate(model, lab, seed=i)
        cols, rows = same_class_steps(full, lab)
        cols_all.append(cols)
        rows_all.append(rows)
        for y in range(0, cfg.height, ch):
            for x in range(0, cfg.width, cw):
                tile_lab = lab[y : y + ch, x : x + cw]
                tile = generate(model, tile_lab, seed=i)
                part = full[y : y + ch, x : x + cw]
                hf_full.append(high_freq_energy(part))
                hf_tile.append(high_freq_energy(tile))
                for c in np.unique(tile_lab):
                    m = tile_lab == c
                    if m.sum() >= 64:
                        colour.append(float(np.abs(part[m].mean(0) - tile[m].mean(0)).mean() * 255))
    cols = np.mean(cols_all, 0)
    rows = np.mean(rows_all, 0)
    seam_cols = [x - 1 for x in range(cw, cfg.width, cw)]  # step between column x-1 and x
    seam_rows = [y - 1 for y in range(ch, cfg.height, ch)]
    med_c, med_r = float(np.median(cols)), float(np.median(rows))
    result = {
        "model": str(args.model),
        "layouts": len(layouts),
        "size": [cfg.height, cfg.width],
        "crop": [ch, cw],
        "seam_ratio_at_crop_columns": [round(float(cols[x]) / med_c, 3) for x in seam_cols],
        "seam_ratio_at_crop_rows": [round(float(rows[y]) / med_r, 3) for y in seam_rows],
        "max_column_ratio_anywhere": round(float(cols.max()) / med_c, 3),
        "max_row_ratio_anywhere": round(float(rows.max()) / med_r, 3),
        "high_freq_share_full": round(float(np.mean(hf_full)), 4),
        "high_freq_share_tile_alone": round(float(np.mean(hf_tile)), 4),
        "class_colour_diff_full_vs_tile_0_255": round(float(np.mean(colour)), 2),
    }
    for k, v in result.items():
        print(f"{k:40s} {v}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
