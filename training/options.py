"""Training configuration: one dataclass, the paper's presets per dataset, and its command-line form."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

NoiseMode = Literal["image", "region", "pixel", "mix"]
DATASETS = ("ade20k", "cityscapes", "coco-stuff", "folder")


def default_runs_dir() -> Path:
    """Run folders live outside the repository: $OASIS_RUNS_DIR or ~/.cache/oasis-studio/runs."""
    if env := os.environ.get("OASIS_RUNS_DIR"):
        return Path(env)
    return Path.home() / ".cache" / "oasis-studio" / "runs"


def runs_root(given: str | Path | None) -> Path:
    """Where run folders live: `given` (a --runs-dir, ~ expanded), else the default."""
    return Path(given).expanduser() if given else default_runs_dir()


@dataclass
class TrainConfig:
    dataset: str
    dataroot: str
    name: str
    classes_file: str | None = None
    runs_dir: str = ""
    # --- model (ModelConfig fields; defaults are the paper's) ---
    height: int = 256
    width: int = 256
    z_dim: int = 64
    channels_g: int = 64
    g_mults: tuple[int, ...] = (16, 16, 16, 8, 4, 2, 1)
    spade_hidden: int = 128
    spade_shared: bool = False
    clade_blocks: int = 0
    norm: str = "sync-batch"
    spectral_norm: bool = True
    d_spectral_norm: bool = True
    padding: str = "zeros"  # of 3x3 convs: zeros (paper) or reflect
    sn_init_gain: float = 0.02  # xavier gain of spectrally normalised weights (paper: 0.02)
    noise_3d: bool = True
    noise_pixel_channels: int = 0  # the last k noise channels are drawn per pixel in every noise mode (paper: 0)
    d_channels: tuple[int, ...] = (128, 128, 256, 256, 512, 512)
    d_last_channels: int = 64
    # --- objective ---
    batch_size: int = 32  # images per step over all processes (each of N processes takes batch_size / N)
    epochs: int = 200
    max_iters: int = 0  # > 0 overrides epochs
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    lambda_labelmix: float = 10.0
    labelmix: bool = True
    cutmix: bool = False  # CutMix rectangles instead of LabelMix's class masks (ablation)
    class_balance: bool = True
    ema: bool = True
    ema_decay: float = 0.9999
    ema_warmup: bool = False  # decay min(ema_decay, (1 + t) / (10 + t)) at iteration t of this run
    ema_bn_batches: int = 8  # batches used to recompute the EMA generator's batch-norm statistics
    noise_mode: NoiseMode = "image"
    reuse_fake: bool = False  # D step reuses the G step's fake (detached) instead of a fresh G forward
    diffaug: str = ""  # "translation", "cutout" or both (comma-separated): on D's inputs and its targets
    # --- data ---
    flip: bool = True
    crop: bool = True
    load_scale: float = 286 / 256
    scale_jitter: float = 0.0
    crop_height: int = 0  # > 0: train on random crops of this size cut at the output pixel scale
    crop_width: int = 0
    num_workers: int = 2
    init_from: str | None = None  # model folder to warm-start G, EMA and D from
    # --- run ---
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast where the chip runs it natively (GPUs, AVX512-BF16/AMX CPUs), else fp16 + scaler on GPUs, fp32 on CPUs
    channels_last: bool = True
    compile: bool = False  # torch.compile G and D (fuses norm + modulation + activation; first steps compile)
    # With compile: the share of activation memory backward may keep; below 1 the compiler recomputes the
    # cheapest of the rest in backward (less memory, some more compute).
    compile_memory_budget: float = 1.0
    deterministic: bool = False
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 1000
    time_limit: float = 0.0  # minutes; 0 = none
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in data.items() if k in known})
        cfg.g_mults, cfg.d_channels = tuple(cfg.g_mults), tuple(cfg.d_channels)
        return cfg

    @property
    def run_dir(self) -> Path:
        return runs_root(self.runs_dir) / self.name


# The hyperparameters of the authors' code (its config.py and training scripts); the paper's Appendix C.3 differs in
# three: lambda_labelmix 5 for ADE20K, lr_g 1e-4 and EMA decay 0.9999 for Cityscapes. Cityscapes is only resized
# (256x512), not cropped. `batch_size` counts a step's images over all processes, as on the paper's 4 GPUs.
# Every value can be overridden.
PRESETS: dict[str, dict[str, Any]] = {
    "ade20k": dict(height=256, width=256, batch_size=32, epochs=200, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999),
    "cityscapes": dict(height=256, width=512, batch_size=20, epochs=200, lr_g=4e-4, lr_d=4e-4, lambda_labelmix=5.0,
                       ema_decay=0.999, crop=False),
    "coco-stuff": dict(height=256, width=256, batch_size=32, epochs=100, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999),
    "folder": dict(height=256, width=256, batch_size=32, epochs=200, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999),
}


# Model/run presets applied on top of the dataset's. "cpu-small" is the family of the bundled models: 192x256
# output trained on 96x128 crops, ~4.8M-parameter G (widths x16, SPADE hidden 32), 5-level D of base width 32,
# reflect padding (with zeros, such small models drew stripes parallel to the image borders within 250 steps),
# 16 of the 64 noise channels drawn per pixel (with image-level noise alone they drew lines along region edges);
# it trains at ~7 images/s on 2 cores (bf16) and generates a 192x256 image in ~110 ms there (fp32; ~50 ms bf16).
_CPU_SMALL: dict[str, Any] = dict(
    height=192, width=256, crop_height=96, crop_width=128, channels_g=16, spade_hidden=32, z_dim=64,
    d_channels=(32, 32, 64, 64, 128), d_last_channels=32, batch_size=8, ema_decay=0.999, scale_jitter=0.2,
    sn_init_gain=1.0, padding="reflect", noise_pixel_channels=16, ema_warmup=True,
    epochs=400, sample_every=250, checkpoint_every=250,
)
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu-small": _CPU_SMALL,
    # cpu-small with the cheaper options that paid in 40-minute runs on 2 cores (README, "Training on a CPU"):
    # one SPADE embedding per block, class-adaptive modulation in the last two blocks, the G step's fake reused
    # by the D step. ~10 images/s; better judge mIoU, colours and diversity than cpu-small in the same time.
    "cpu-fast": dict(_CPU_SMALL, spade_shared=True, clade_blocks=2, reuse_fake=True),
}


def _bool_flag(p: argparse.ArgumentParser, name: str, help: str) -> None:
    p.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction, default=None, help=help)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oasis-train",
        description="Train an OASIS model. Presets follow the paper per --dataset; every value can be overridden. "
        "Subcommand: `oasis-train export RUN --out DIR` writes a model folder.",
    )
    p.add_argument("--dataset", choices=DATASETS, help="the dataset's kind (with --resume: the run's)")
    p.add_argument("--dataroot", help="dataset root in its standard layout (or the folder format; with --resume: the "
                   "run's)")
    p.add_argument("--name", required=True, help="run name: the run folder is RUNS_DIR/NAME")
    p.add_argument("--classes-file", help="classes.json for --dataset folder when it is not in the dataroot")
    p.add_argument("--runs-dir", help=f"where run folders live (default $OASIS_RUNS_DIR or {default_runs_dir()})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run from its latest checkpoint, exactly, with the options saved in its folder; "
                   "options given again override them (and are listed when they change)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--gpus", type=int, default=0, help="train on N GPUs of this machine (launches torchrun)")
    p.add_argument("--preset", choices=sorted(SIZE_PRESETS),
                   help="model size family: paper (the paper's networks; the default), cpu-small (the bundled models' "
                   "192x256 family) or cpu-fast (cpu-small with the options that paid on CPUs: the one to train on a "
                   "CPU). Not re-applied on --resume: the run keeps its saved options")
    g = p.add_argument_group("model")
    for name, typ in [("height", int), ("width", int), ("z-dim", int), ("channels-g", int), ("spade-hidden", int),
                      ("d-last-channels", int)]:
        g.add_argument(f"--{name}", type=typ)
    _bool_flag(g, "spade-shared", "one hidden SPADE embedding per block instead of one per norm (cheaper)")
    g.add_argument("--clade-blocks", type=int, help="the last K blocks use class-adaptive 1x1 modulation (cheaper)")
    g.add_argument("--g-mults", type=lambda s: tuple(int(v) for v in s.split(",")), help="e.g. 16,16,16,8,4,2,1")
    g.add_argument("--d-channels", type=lambda s: tuple(int(v) for v in s.split(",")), help="e.g. 128,128,256,256,512,512")
    g.add_argument("--norm", choices=["batch", "sync-batch", "instance"])
    _bool_flag(g, "spectral-norm", "spectral norm in G and D (paper: on)")
    g.add_argument("--padding", choices=["zeros", "reflect"],
                   help="padding of G's and D's 3x3 convs (paper: zeros; reflect gives G no border position to draw "
                   "stripes from)")
    _bool_flag(g, "d-spectral-norm", "with --spectral-norm: in D too (paper: on; off leaves D unconstrained)")
    g.add_argument("--sn-init-gain", type=float,
                   help="xavier gain of the spectrally normalised weights (paper: 0.02; cpu-small: 1, steadier early steps)")
    _bool_flag(g, "noise-3d", "3D noise input to G (paper: on)")
    g.add_argument("--noise-pixel-channels", type=int,
                   help="the last K noise channels are drawn per pixel, the rest per image (paper: 0): a texture "
                   "source inside uniform regions for small generators, which otherwise draw lines along region edges")
    o = p.add_argument_group("objective and ablations")
    for name, typ in [("batch-size", int), ("epochs", int), ("max-iters", int), ("lr-g", float), ("lr-d", float),
                      ("beta1", float), ("beta2", float), ("lambda-labelmix", float), ("ema-decay", float),
                      ("ema-bn-batches", int)]:
        o.add_argument(f"--{name}", type=typ)
    _bool_flag(o, "labelmix", "LabelMix consistency regularisation (paper: on)")
    _bool_flag(o, "cutmix", "CutMix rectangles instead of LabelMix class masks")
    _bool_flag(o, "class-balance", "class-balanced cross-entropy weights (paper: on)")
    _bool_flag(o, "ema", "exponential moving average of G (paper: on)")
    _bool_flag(o, "ema-warmup", "EMA decay min(decay, (1+t)/(10+t)): short runs export an average of recent "
               "weights, not a blend with the initial ones; not after --init-from (paper: off; cpu-small: on)")
    o.add_argument("--noise-mode", choices=["image", "region", "pixel", "mix"], help="how training noise is drawn (App. A.7; mix: image or region level by a coin flip per step)")
    _bool_flag(o, "reuse-fake", "D step reuses the G step's fake instead of a fresh G forward (cheaper)")
    o.add_argument("--diffaug", help="DiffAugment on D's inputs and targets: translation, cutout, or translation,cutout")
    d = p.add_argument_group("data")
    _bool_flag(d, "flip", "random horizontal flips")
    _bool_flag(d, "crop", "resize to --load-scale x size, then random crop")
    d.add_argument("--load-scale", type=float)
    d.add_argument("--scale-jitter", type=float, help="resize scale drawn from [load-scale, load-scale*(1+j)]")
    d.add_argument("--crop-height", type=int, help="train on crops of this height at the output pixel scale")
    d.add_argument("--crop-width", type=int)
    d.add_argument("--num-workers", type=int)
    d.add_argument("--init-from", help="warm-start G, EMA and D from this exported model folder")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int)
    r.add_argument("--device", help="auto, cpu, cuda")
    r.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    _bool_flag(r, "channels-last", "channels_last memory format")
    _bool_flag(r, "compile", "torch.compile G and D: faster steps after a compilation of a minute or more")
    r.add_argument("--compile-memory-budget", type=float, help="with --compile: share (0-1] of activation memory "
                   "kept for backward; the compiler recomputes the rest (default 1: keep all)")
    _bool_flag(r, "deterministic", "deterministic algorithms (bit-exact resume on CPU)")
    for name in ("log-every", "sample-every", "checkpoint-every"):
        r.add_argument(f"--{name}", type=int)
    r.add_argument("--time-limit", type=float,
                   help="minutes from the start (dataset check and setup included): checkpoint and exit cleanly before")
    return p


# How one invocation runs, not what it trains: a resumed run takes these from its command line (or the defaults).
PER_INVOCATION = ("runs_dir", "device", "num_workers", "compile", "compile_memory_budget", "time_limit")
# Options a resumed run may change and still train as it would have without the stop: where the data lies, how
# long the run is and how it reports.
SAME_TRAINING = ("dataroot", "classes_file", "max_iters", "epochs", "log_every", "sample_every", "checkpoint_every",
                 "init_from")


def resolve(args: argparse.Namespace, saved: TrainConfig | None = None) -> TrainConfig:
    """Preset of the dataset, then the size preset, then every option given on the command line.

    With `saved` (a run's own configuration, when resuming) that replaces the presets, except for the
    per-invocation options; the command line still overrides."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if saved is None:
        preset = {**PRESETS[args.dataset], **SIZE_PRESETS[getattr(args, "preset", None) or "paper"]}
        return TrainConfig.from_dict({**preset, **given})
    invocation = {f.name: f.default for f in fields(TrainConfig) if f.name in PER_INVOCATION}
    return TrainConfig.from_dict({**asdict(saved), **invocation, **given})


def changed_options(saved: TrainConfig, cfg: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Options of the run (not of the invocation) that differ: name -> (saved, now)."""
    return {f.name: (getattr(saved, f.name), getattr(cfg, f.name)) for f in fields(TrainConfig)
            if f.name not in PER_INVOCATION and getattr(saved, f.name) != getattr(cfg, f.name)}
