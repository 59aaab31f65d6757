"""Re-make the repository's sample sheets from the project's own example layouts.

    python docs/make_samples.py [NAME ...]                      # assets/models/NAME/samples.jpg (default: both)
    python docs/make_samples.py NAME --model DIR --out FILE     # the same sheet for another model folder
    python docs/make_samples.py NAME --compare A=DIR B=DIR --out FILE   # layout | A's variations | B's variations
    python docs/make_samples.py NAME --compare A=DIR B=DIR C=DIR --variations 1 --out FILE  # one column each

Rows are the example layouts of `assets/examples/NAME/` (painted by `make_examples.py`): layout | three noise
variations | variation 1 with the noise re-rolled only on the layout's largest class (outlined). The datasets'
images and labels must not enter the repository, so `oasis-eval`'s contact sheets (validation layouts beside
their photos) stay in the evaluation folders.
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

from oasis_core import Synthesizer, colorize, load_model, read_label_png  # noqa: E402
from training.evaluation.evaluate import outline, reroll_largest_class  # noqa: E402
from training.evaluation.report import contact_sheet  # noqa: E402

SEEDS = (0, 1, 2)
REROLL_SEED = 7
COLUMNS = ["layout", *(f"variation {s + 1}" for s in SEEDS), "1, re-rolled inside the outline"]


def sample_rows(model_dir: Path, examples_dir: Path, reroll: bool = True) -> list[list[np.ndarray]]:
    """One row per example layout: layout, the variations of SEEDS and (with `reroll`) the local re-roll."""
    model = load_model(model_dir, with_discriminator=False)
    cfg = model.config
    synth = Synthesizer(model, device="cpu", precision="fp32")
    entries = json.loads((examples_dir / "examples.json").read_text(encoding="utf-8"))["examples"]
    z = synth.sample_noise(list(SEEDS))  # the same noise fields for every layout
    rows = []
    for entry in entries:
        labels = synth.prepare_labels(read_label_png(examples_dir / entry["file"], cfg).labels)
        row = [colorize(labels, cfg), *synth.generate_batch(labels, z)]
        if reroll:
            rerolled, mask = reroll_largest_class(synth, labels, z[:1], REROLL_SEED, cfg.dont_care_id)
            row.append(outline(rerolled, mask))
        rows.append(row)
    return rows


def comparison_rows(
    models: dict[str, Path], examples_dir: Path, variations: int = len(SEEDS)
) -> tuple[list[list[np.ndarray]], list[str]]:
    """layout | each model's first `variations` variations, side by side (the models share the layouts' classes)."""
    per_model = {label: sample_rows(path, examples_dir, reroll=False) for label, path in models.items()}
    first = next(iter(per_model.values()))
    rows = [
        [first[i][0], *(c for r in per_model.values() for c in r[i][1 : 1 + variations])] for i in range(len(first))
    ]
    titles = [
        "layout",
        *(f"{label} {s + 1}" if variations > 1 else label for label in per_model for s in SEEDS[:variations]),
    ]
    return rows, titles


def _labelled_path(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LABEL=DIR, got {text!r}")
    return label, Path(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=["landscapes", "streets"], help="bundled models (default: both)")
    p.add_argument("--model", type=Path, help="with one NAME: take this model folder instead of the bundled one")
    p.add_argument(
        "--compare",
        nargs="+",
        type=_labelled_path,
        metavar="LABEL=DIR",
        help="with one NAME and --out: these models' variations side by side",
    )
    p.add_argument(
        "--variations",
        type=int,
        choices=range(1, len(SEEDS) + 1),
        default=len(SEEDS),
        help="with --compare: variations per model (default: all three)",
    )
    p.add_argument("--out", type=Path, help="with one NAME: write here instead of assets/models/NAME/samples.jpg")
    args = p.parse_args()
    if (args.model or args.out or args.compare) and len(args.names) != 1:
        p.error("--model, --compare and --out need exactly one NAME")
    if args.compare and (args.model or not args.out):
        p.error("--compare needs --out and no --model")
    for name in args.names:
        examples = ROOT / "assets" / "examples" / name
        if args.compare:
            rows, titles = comparison_rows(dict(args.compare), examples, args.variations)
        else:
            rows, titles = sample_rows(args.model or MODELS / name, examples), COLUMNS
        out = args.out or MODELS / name / "samples.jpg"
        contact_sheet(rows, titles=titles).save(out, quality=85)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
