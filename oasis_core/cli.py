"""`oasis-generate`: label PNG(s) in, image(s) out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from .labels import LabelError, read_label_png
from .model import ModelFileError, default_model, load_model
from .noise import MAX_SEED
from .synthesizer import BATCH_SIZE, Synthesizer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oasis-generate",
        description="Turn semantic label maps (index PNGs, or colour PNGs in the model's palette) into images.",
    )
    p.add_argument("labels", nargs="+", type=Path, help="label PNG files")
    p.add_argument("-o", "--out", type=Path, default=Path("."), help="output folder (default: current)")
    p.add_argument("--model", default=None, help="model folder or Hugging Face Hub id (default: bundled model)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the first variation (default 0)")
    p.add_argument("--variations", type=int, default=1, help="images per label map, seeds seed..seed+N-1")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--offline", action="store_true", help="use only the local Hugging Face cache")
    p.add_argument("--format", default="png", choices=["png", "jpg"], help="output image format")
    p.add_argument("--force", action="store_true", help="write over output files that exist (else refused)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    last_seed = args.seed + args.variations - 1
    if args.variations < 1:
        print("oasis-generate: --variations must be >= 1", file=sys.stderr)
        return 2
    if args.seed < 0 or last_seed > MAX_SEED:
        print(
            f"oasis-generate: seeds must be in 0..{MAX_SEED} (--seed >= 0, --seed + --variations - 1 <= {MAX_SEED}); "
            f"these are {args.seed}..{last_seed}",
            file=sys.stderr,
        )
        return 2
    by_stem: dict[str, list[Path]] = {}
    for path in args.labels:
        by_stem.setdefault(path.stem, []).append(path)
    if clashes := [paths for paths in by_stem.values() if len(paths) > 1]:
        shown = "; ".join(", ".join(map(str, paths)) for paths in clashes)
        print(
            f"oasis-generate: these inputs would write the same output file: {shown}; run them with different "
            "--out folders",
            file=sys.stderr,
        )
        return 2
    inputs = {p.resolve() for p in args.labels}
    planned = _outputs(args)
    if overwritten := [p for p in planned if p.resolve() in inputs]:
        print(
            f"oasis-generate: {overwritten[0]} would be written over its own label map; choose another --out",
            file=sys.stderr,
        )
        return 2
    if not args.force and (existing := [p for p in planned if p.exists()]):
        more = f" and {len(existing) - 1} more exist" if len(existing) > 1 else " exists"
        print(
            f"oasis-generate: {existing[0]}{more}; choose another --out or --seed, or pass --force to write over them",
            file=sys.stderr,
        )
        return 2
    try:
        model = default_model() if args.model is None else load_model(args.model, local_files_only=args.offline)
        synth = Synthesizer(model, device=args.device, precision=args.precision)
    except (ModelFileError, RuntimeError, ValueError) as e:
        print(f"oasis-generate: {e}", file=sys.stderr)
        return 1
    if not model.config.noise_3d and args.variations > 1:
        print(
            "oasis-generate: this model has no 3D noise, so every seed gives the same image; leave out --variations",
            file=sys.stderr,
        )
        return 2
    print(f"model {model.config.name or args.model}: {synth.describe()}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.labels:
        try:
            # At the model's size, as in the app: it makes images at that size only, so a larger output would be
            # an upscale without detail (a 10000x7500 layout took 40 s and 4.4 GB) and a smaller one (1x1) a loss.
            loaded = read_label_png(path, model.config, size=synth.size)
        except LabelError as e:
            print(f"oasis-generate: skipped {e}", file=sys.stderr)
            failures += 1
            continue
        for w in loaded.warnings:
            print(f"oasis-generate: {path}: {w}", file=sys.stderr)
        # Noise is drawn per chunk, so memory stays flat for any --variations; chunks of the synthesizer's own
        # batch size give the images one call for every seed would.
        outputs = iter(_outputs(args, path))
        for first in range(args.seed, last_seed + 1, BATCH_SIZE):
            seeds = list(range(first, min(first + BATCH_SIZE, last_seed + 1)))
            noise = synth.sample_noise(seeds) if model.config.noise_3d else None
            for img in synth.generate_batch(loaded.labels, noise):
                out = next(outputs)
                Image.fromarray(img).save(out, quality=95)
                print(out)
    return 1 if failures else 0


def _outputs(args: argparse.Namespace, label: Path | None = None) -> list[Path]:
    """The files written for `label` (for every input when None): --out/<stem>[_seed<S>].<format>."""
    labels = args.labels if label is None else [label]
    seeds = range(args.seed, args.seed + args.variations)
    suffixes = [f"_seed{s}" for s in seeds] if args.variations > 1 else [""]
    return [args.out / f"{p.stem}{suffix}.{args.format}" for p in labels for suffix in suffixes]


if __name__ == "__main__":
    sys.exit(main())
