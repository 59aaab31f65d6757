"""`oasis-train`: train (optionally on many GPUs through torchrun), `oasis-train export RUN --out DIR` and
`oasis-train blend A B --alpha T --out DIR`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

import torch

from .options import (
    SAME_TRAINING,
    TrainConfig,
    build_parser,
    changed_options,
    device_type,
    resolve,
    run_name_problem,
    runs_root,
)


def _export_main(argv: list[str]) -> int:
    from .errors import TrainingError
    from .export import export

    p = argparse.ArgumentParser(
        prog="oasis-train export", description="Write a model folder from a run's latest checkpoint."
    )
    p.add_argument("run", help="run folder, or a run name under --runs-dir")
    p.add_argument("--out", required=True, type=Path, help="model folder to write (new or empty)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace --out when it holds files: the whole folder, its model card and any other file included",
    )
    p.add_argument("--runs-dir", type=Path, default=None)
    p.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    p.add_argument("--no-discriminator", action="store_true", help="leave out the discriminator (no photo -> layout)")
    p.add_argument("--name", help="the model's name in the app and its card (default: the run's name)")
    args = p.parse_args(argv)
    run = Path(args.run)
    if not run.is_dir():
        run = runs_root(args.runs_dir) / args.run
    try:
        model = export(
            run,
            args.out,
            half=args.half,
            with_discriminator=not args.no_discriminator,
            name=args.name,
            force=args.force,
        )
    except TrainingError as e:
        print(f"oasis-train export: {e}", file=sys.stderr)
        return 2
    cfg = model.config
    print(f"exported {run.name} ({cfg.label_nc} classes, {cfg.height}x{cfg.width}) to {args.out}")
    return 0


def _blend_main(argv: list[str]) -> int:
    from oasis_core import ModelFileError

    from .errors import TrainingError
    from .export import blend

    p = argparse.ArgumentParser(
        prog="oasis-train blend",
        description="Write a model folder whose generator interpolates two models' generators weight by weight "
        "(network interpolation): (1 - alpha) A + alpha B, with B's discriminator and config. A and B must share "
        "the generator's architecture and classes, e.g. two fine-tunings of one model.",
    )
    p.add_argument("a", help="model folder (or Hub id) A: alpha 0")
    p.add_argument("b", help="model folder (or Hub id) B: alpha 1; its discriminator and config are kept")
    p.add_argument("--alpha", required=True, type=float, help="B's share, 0..1")
    p.add_argument("--out", required=True, type=Path, help="model folder to write (new or empty)")
    p.add_argument("--force", action="store_true", help="replace --out when it holds files (the whole folder)")
    p.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    p.add_argument("--name", help="the model's name in the app and its card (default: B's)")
    args = p.parse_args(argv)
    try:
        model = blend(args.a, args.b, args.alpha, args.out, half=args.half, name=args.name, force=args.force)
    except (TrainingError, ModelFileError) as e:
        print(f"oasis-train blend: {e}", file=sys.stderr)
        return 2
    print(f"blended {args.a} and {args.b} at alpha {args.alpha:g} into {args.out} ({model.config.name or 'unnamed'})")
    return 0


def _launch_torchrun(gpus: int, argv: list[str]) -> int:
    """`--gpus N`: hand over to torchrun (PyTorch's elastic launcher), which starts N ranks of this module."""
    from torch.distributed.run import main as torchrun

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--gpus":
            skip = True
        elif not a.startswith("--gpus="):
            rest.append(a)
    torchrun(["--standalone", f"--nproc_per_node={gpus}", "-m", "training", *rest])
    return 0


def _resumed_config(args: argparse.Namespace, announce: bool) -> TrainConfig:
    """The run's saved options, overridden by those given again; changes are announced (by rank 0, with
    `announce`)."""
    if problem := run_name_problem(args.name):
        raise ValueError(problem)
    saved_file = runs_root(args.runs_dir) / args.name / "config.json"
    if not saved_file.is_file():
        raise FileNotFoundError(f"--resume: {saved_file.parent} is not a run folder (no config.json)")
    saved = TrainConfig.from_json(saved_file.read_text(encoding="utf-8"))
    cfg = resolve(args, saved)
    if args.dataroot is None and not Path(cfg.dataroot).is_dir():
        runs_dir = f" --runs-dir {shlex.quote(args.runs_dir)}" if args.runs_dir else ""
        raise FileNotFoundError(
            f"--resume: the run's data folder {cfg.dataroot} is gone (moved, renamed or not mounted?); point at its "
            f"new place with `oasis-train --name {shlex.quote(cfg.name)}{runs_dir} --resume --dataroot NEW_PATH`"
        )
    if not announce or os.environ.get("RANK", "0") != "0":
        return cfg
    if args.preset:
        print(
            f"oasis-train: --preset is not re-applied on --resume; {cfg.name} keeps its saved options", file=sys.stderr
        )
    if changed := changed_options(saved, cfg):
        shown = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        differs = set(changed) - set(SAME_TRAINING)
        note = " (training now differs from an uninterrupted run)" if differs else ""
        print(f"oasis-train: resuming {cfg.name} with changed options: {shown}{note}", file=sys.stderr)
    return cfg


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        return _export_main(argv[1:])
    if argv[:1] == ["blend"]:
        return _blend_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.resume and (args.dataset is None or args.dataroot is None):
        parser.error("--dataset and --dataroot are required (a resumed run keeps its own)")

    from .data import dataset_info
    from .distributed import setup, teardown
    from .trainer import Trainer, TrainingError, check_options

    launching = args.gpus > 1 and "LOCAL_RANK" not in os.environ  # this process starts the ranks; they train
    try:
        cfg = _resumed_config(args, announce=not launching) if args.resume else resolve(args)
        cfg.runs_dir = str(runs_root(cfg.runs_dir))
        check_options(cfg, args.gpus if launching else int(os.environ.get("WORLD_SIZE", "1")), device_type(cfg.device))
        if args.gpus > 0 and "LOCAL_RANK" not in os.environ:
            if (found := torch.cuda.device_count()) < args.gpus:
                print(
                    f"oasis-train: --gpus {args.gpus}, but PyTorch sees {found} CUDA GPU(s); several CPU processes: "
                    f"torchrun --nproc_per_node {args.gpus} -m training ... --device cpu",
                    file=sys.stderr,
                )
                return 2
            if launching:
                return _launch_torchrun(args.gpus, argv)
        info = dataset_info(cfg.dataset, cfg.dataroot, cfg.classes_file)
        if args.dry_run:
            resolved = {
                "train": json.loads(cfg.to_json()),
                "model": cfg.model_config(info).to_dict(),
                "run_dir": str(cfg.run_dir),
            }
            print(json.dumps(resolved, indent=2))
            return 0
        dist_info = setup(cfg.device)
        try:
            trainer = Trainer(cfg, dist_info, resume=args.resume)
            say = print if dist_info.main else lambda *_, **__: None
            say(
                f"oasis-train: {cfg.name} on {trainer.device} ({trainer.precision}); run folder {trainer.run_dir}",
                file=sys.stderr,
            )
            reason = trainer.train()
            more = (
                ""
                if reason == "finished"
                else f"continue with `oasis-train --name {cfg.name} --runs-dir {cfg.runs_dir} --resume`, or "
            )
            say(
                f"oasis-train: {reason} at iteration {trainer.iteration}; {more}export a model folder with "
                f"`oasis-train export {trainer.run_dir} --out MODEL_DIR`",
                file=sys.stderr,
            )
        finally:
            teardown()
    except (TrainingError, ValueError, FileNotFoundError) as e:
        print(f"oasis-train: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
