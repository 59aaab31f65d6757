"""Re-make a bundled model's sample sheet: `python docs/make_samples.py [NAME ...] [--model DIR] [--out FILE]`.

Rows are the model's example layouts (`assets/examples/NAME/`, painted by `make_examples.py`): layout | three
noise variations | variation 1 with the noise re-rolled only on the layout's largest class (outlined). Only
project-made layouts go into the repository's pictures; the sheets that put generated images next to the
dataset's photos are `oasis-eval`'s contact sheets, which stay in the evaluation folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "assets" / "models"
sys.path.insert(0, str(ROOT))

from oasis_core import Synthesizer, colorize, load_model, noise, read_label_png  # noqa: E402
from training.evaluation.evaluate import outline, reroll_class  # noqa: E402
from training.evaluation.report import contact_sheet  # noqa: E402

SEEDS = (0, 1, 2)
REROLL_SEED = 7
COLUMNS = ["layout", *(f"variation {s + 1}" for s in SEEDS), "1, re-rolled inside the outline"]


def sample_rows(model_dir: Path, examples_dir: Path) -> list[list[np.ndarray]]:
    model = load_model(model_dir, with_discriminator=False)
    cfg = model.config
    synth = Synthesizer(model, device="cpu", precision="fp32")
    entries = json.loads((examples_dir / "examples.json").read_text(encoding="utf-8"))["examples"]
    rows = []
    for entry in entries:
        labels = synth.prepare_labels(read_label_png(examples_dir / entry["file"], cfg).labels)
        z = synth.sample_noise(list(SEEDS))
        variations = synth.generate_batch(labels, z)
        mask = labels == reroll_class(labels, cfg.dont_care_id)
        fresh = noise.resample(z[:1], mask, REROLL_SEED, pixel_channels=cfg.noise_pixel_channels)
        rerolled = synth.generate(labels, fresh)
        rows.append([colorize(labels, cfg), *variations, outline(rerolled, mask)])
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=["landscapes", "streets"], help="bundled models (default: both)")
    p.add_argument("--model", type=Path, help="with one NAME: take this model folder instead of the bundled one")
    p.add_argument("--out", type=Path, help="with one NAME: write here instead of assets/models/NAME/samples.jpg")
    args = p.parse_args()
    if (args.model or args.out) and len(args.names) != 1:
        p.error("--model and --out need exactly one NAME")
    for name in args.names:
        rows = sample_rows(args.model or MODELS / name, ROOT / "assets" / "examples" / name)
        out = args.out or MODELS / name / "samples.jpg"
        contact_sheet(rows, titles=COLUMNS).save(out, quality=85)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
