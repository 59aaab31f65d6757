"""`oasis-eval MODEL --dataset KIND --dataroot DIR --out DIR` and `oasis-eval train-judge ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import KINDS, DatasetError

EPILOG = """\
Writes OUT/metrics.json, OUT/report.md and OUT/contact_sheet.png. Measures whose weights are missing
(FID/KID offline without --inception-weights or a cached pytorch-fid file, mIoU without --judge) are
reported as null with the reason; the others still run. --judge takes a folder written by
`oasis-eval train-judge` or a TorchScript file
(TorchScript runs code when loaded: use only files you trust; input RGB (B,3,H,W) in [0,1], output
(B,label_nc,h,w) logits), or espnet-camvid:PATH for the published ESPNet (p=2, q=8) CamVid weights
espnet_p_2_q_8_camvid.pth (an independent judge for 12-class CamVid models; runs at 480x360; read with
torch.load(weights_only=True), so no code runs).
"""


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=KINDS, help="dataset kind")
    p.add_argument("--dataroot", required=True, type=Path, help="dataset folder")
    p.add_argument(
        "--classes-file", type=Path, default=None, help="classes.json for the folder kind (default: in the root)"
    )
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1, mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_judge_main(argv: list[str]) -> int:
    from .judge import JudgeError, train_judge

    p = argparse.ArgumentParser(
        prog="oasis-eval train-judge",
        description="Train the mIoU judge (a compact segmentation CNN) on a dataset's real training split.",
    )
    _dataset_args(p)
    p.add_argument("--out", required=True, type=Path, help="judge folder to write (config.json + model.safetensors)")
    p.add_argument(
        "--size", nargs=2, type=int, default=(192, 256), metavar=("H", "W"), help="training size (default 192 256)"
    )
    p.add_argument("--iters", type=int, default=4000, help="training iterations (default 4000)")
    p.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--workers", type=int, default=None, help="data loader workers (default: 0 on CPU, 8 on GPU)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        cfg, miou = train_judge(
            args.dataset, args.dataroot, args.out, args.classes_file, size=tuple(args.size), iters=args.iters,
            batch_size=args.batch_size, lr=args.lr, device=args.device, workers=args.workers,
            time_limit=args.time_limit, seed=args.seed, progress=not args.quiet,
        )  # fmt: skip
    except (JudgeError, DatasetError, ValueError, RuntimeError) as e:
        print(f"oasis-eval train-judge: {e}", file=sys.stderr)
        return 2
    t = cfg.training
    print(
        f"judge written to {args.out}: {t['iterations']} iterations in {t['seconds']} s on {t['device']}; "
        f"val mIoU {miou * 100:.1f} at {cfg.height}x{cfg.width} ({t['val_pairs']} images)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oasis-eval",
        description="Measure an OASIS model as the paper does: FID/KID, mIoU by a judge segmenter, MS-SSIM diversity, "
        "colour/texture histogram distances. `oasis-eval train-judge --help` trains a judge.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model folder (config.json + model.safetensors) or Hub id")
    _dataset_args(p)
    p.add_argument("--split", default="val", choices=("train", "val"))
    p.add_argument("--out", required=True, type=Path, help="folder for metrics.json, report.md, contact_sheet.png")
    p.add_argument(
        "--judge", default=None,
        help="judge folder (oasis-eval train-judge), TorchScript file (trusted only) or espnet-camvid:PATH "
        "(the published ESPNet CamVid weights)",
    )  # fmt: skip
    p.add_argument(
        "--variations", type=int, default=3, help="generated images per layout (default 3; the paper uses 20)"
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N layouts of the split")
    p.add_argument(
        "--inception-weights", default=None,
        help="FID Inception-v3 weights (pytorch-fid's pt_inception-2015-12-05 state dict); default: that file from "
        "torch.hub's cache, downloaded there first when online",
    )  # fmt: skip
    p.add_argument("--offline", action="store_true", help="download nothing (also: HF_HUB_OFFLINE=1)")
    p.add_argument(
        "--lpips-weights", nargs="+", default=None, metavar="PATH",
        help="LPIPS: torchvision AlexNet weights and the lpips package's v0.1 alex.pth (one or two files)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="base noise seed (default 0)")
    p.add_argument(
        "--contact-rows", type=_at_least_one, default=8, help="layouts shown in contact_sheet.png (default 8)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train-judge"]:
        return _train_judge_main(argv[1:])
    args = build_parser().parse_args(argv)
    from oasis_core import ModelFileError

    from .evaluate import EvalError, EvalOptions, evaluate
    from .report import write_report

    if args.variations < 1 or (args.limit is not None and args.limit < 1):
        print("oasis-eval: --variations and --limit must be at least 1", file=sys.stderr)
        return 2
    opts = EvalOptions(
        model=args.model, dataset=args.dataset, dataroot=str(args.dataroot),
        classes_file=str(args.classes_file) if args.classes_file else None, split=args.split, judge=args.judge,
        variations=args.variations, limit=args.limit, device=args.device, inception_weights=args.inception_weights,
        download_inception=not args.offline,
        lpips_weights=args.lpips_weights, seed=args.seed, contact_rows=args.contact_rows, progress=not args.quiet,
    )  # fmt: skip
    try:
        ev = evaluate(opts, log=lambda s: print(s, file=sys.stderr))
    except (EvalError, DatasetError, ModelFileError, ValueError, RuntimeError) as e:
        print(f"oasis-eval: {e}", file=sys.stderr)
        return 2
    paths = write_report(args.out, ev)
    print("; ".join(h for r in ev.results if (h := r.headline()) is not None))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
