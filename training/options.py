"""Training configuration: one dataclass, the paper's presets per dataset, and its command-line form.

The model's options are not written out here: they are ModelConfig's option fields (oasis_core/config.py), which
give TrainConfig its `model` entries and the parser its model flags, with their types, defaults and help texts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import torch

from oasis_core.config import ClassTable, ConfigError, ModelConfig

from .checkpoints import D_ONLY_FIELDS
from .losses import DIFFAUG_POLICIES

NoiseMode = Literal["image", "region", "pixel", "mix"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
DATASETS = ("ade20k", "cityscapes", "coco-stuff", "folder")


def default_runs_dir() -> Path:
    """Run folders live outside the repository: $OASIS_RUNS_DIR or ~/.cache/oasis-studio/runs."""
    if env := os.environ.get("OASIS_RUNS_DIR"):
        return Path(env)
    return Path.home() / ".cache" / "oasis-studio" / "runs"


def runs_root(given: str | Path | None) -> Path:
    """Where run folders live: `given` (a --runs-dir, ~ expanded), else the default."""
    return Path(given).expanduser() if given else default_runs_dir()


MODEL_OPTIONS = ModelConfig.option_fields()
_MODEL_TYPES = get_type_hints(ModelConfig)


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default


def model_defaults() -> dict[str, Any]:
    """ModelConfig's options with their defaults (the paper's)."""
    return {f.name: _default(f) for f in MODEL_OPTIONS}


def _model_value(name: str, value: Any) -> Any:
    """A model option's value as ModelConfig holds it: JSON gives lists for tuples, and tuple != list."""
    return tuple(value) if get_origin(_MODEL_TYPES[name]) is tuple else value


@dataclass
class TrainConfig:
    """A run's options. In their flat form (a run folder's config.json, presets, --dry-run) the model's options sit
    among the others by name, as their flags do on the command line."""

    dataset: str
    dataroot: str
    name: str
    classes_file: str | None = None
    runs_dir: str = ""
    # --- model: ModelConfig's option fields by name ---
    model: dict[str, Any] = field(default_factory=model_defaults)
    sn_init_gain: float = 0.02  # xavier gain of spectrally normalised weights (paper: 0.02)
    # --- objective ---
    batch_size: int = 32  # images per step over all processes (each of N processes takes batch_size / N)
    epochs: int = 200
    max_iters: int | None = None  # overrides epochs
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    lambda_labelmix: float = 10.0
    # Mode-seeking term (MSGAN) on two noises for half the batch's layouts; 0: off (paper: off)
    lambda_diversity: float = 0.0
    diversity_target: float = 0.0  # > 0: the bounded mode-seeking term max(0, target - ratio); 0: MSGAN's 1 / ratio
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
    # auto: bf16 autocast where the chip runs it natively (GPUs, AVX512-BF16/AMX CPUs), else fp16 + scaler on GPUs,
    # fp32 on CPUs
    precision: Precision = "auto"
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

    def to_dict(self) -> dict[str, Any]:
        """The flat form."""
        flat = asdict(self)
        return {**flat.pop("model"), **flat}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """From the flat form. Unknown keys are ignored; model options it lacks (added since a run was saved) take
        their defaults, which are the behaviour of the models written before them."""
        own = {k: v for k, v in data.items() if k in _TRAIN_FIELDS}
        model = {f.name: _model_value(f.name, data[f.name]) for f in MODEL_OPTIONS if f.name in data}
        return cls(**own, model={**model_defaults(), **model})

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """A run folder's config.json."""
        data = json.loads(text)
        if data.get("max_iters") == 0:  # how run folders before 2026-12 wrote "no limit"
            data["max_iters"] = None
        return cls.from_dict(data)

    def model_config(self, classes: ClassTable) -> ModelConfig:
        """The model this run trains on a dataset with these classes."""
        return ModelConfig.from_dataset(classes, name=self.name, **self.model)

    @property
    def run_dir(self) -> Path:
        return runs_root(self.runs_dir) / self.name

    @property
    def diffaug_policies(self) -> tuple[str, ...]:
        return tuple(p for p in self.diffaug.replace(" ", "").split(",") if p)


_TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name != "model")
if _clash := set(_TRAIN_FIELDS) & {f.name for f in MODEL_OPTIONS}:
    raise TypeError(f"ModelConfig options {sorted(_clash)} have the names of training options: rename them")
# Every option by its name in the flat form, which is also its flag's destination (--z-dim: z_dim).
OPTION_NAMES = (*(f.name for f in MODEL_OPTIONS), *_TRAIN_FIELDS)


# The hyperparameters of the authors' code (its config.py and training scripts); the paper's Appendix C.3 differs in
# three: lambda_labelmix 5 for ADE20K, lr_g 1e-4 and EMA decay 0.9999 for Cityscapes. Cityscapes is only resized
# (256x512), not cropped. `batch_size` counts a step's images over all processes, as on the paper's 4 GPUs.
# Every value can be overridden.
PRESETS: dict[str, dict[str, Any]] = {
    "ade20k": dict(
        height=256, width=256, batch_size=32, epochs=200, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999
    ),
    "cityscapes": dict(
        height=256,
        width=512,
        batch_size=20,
        epochs=200,
        lr_g=4e-4,
        lr_d=4e-4,
        lambda_labelmix=5.0,
        ema_decay=0.999,
        crop=False,
    ),
    "coco-stuff": dict(
        height=256, width=256, batch_size=32, epochs=100, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999
    ),
    "folder": dict(
        height=256, width=256, batch_size=32, epochs=200, lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999
    ),
}


# Model/run presets applied on top of the dataset's. "cpu-small" is the family of the bundled models: 192x256
# output trained on 96x128 crops, ~4.8M-parameter G (widths x16, SPADE hidden 32), 5-level D of base width 32,
# reflect padding (with zeros, such small models drew stripes parallel to the image borders within 250 steps),
# 16 of the 64 noise channels drawn per pixel (with image-level noise alone they drew lines along region edges);
# it trains at ~7 images/s on 2 cores (bf16) and generates a 192x256 image in ~110 ms there (fp32; ~50 ms bf16).
_CPU_SMALL: dict[str, Any] = dict(
    height=192,
    width=256,
    crop_height=96,
    crop_width=128,
    channels_g=16,
    spade_hidden=32,
    z_dim=64,
    d_channels=(32, 32, 64, 64, 128),
    d_last_channels=32,
    batch_size=8,
    ema_decay=0.999,
    scale_jitter=0.2,
    sn_init_gain=1.0,
    padding="reflect",
    noise_pixel_channels=16,
    ema_warmup=True,
    epochs=400,
    sample_every=250,
    checkpoint_every=250,
)
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu-small": _CPU_SMALL,
    # cpu-small with the cheaper options that paid in 40-minute runs on 2 cores (README, "Training on a CPU"):
    # one SPADE embedding per block, class-adaptive modulation in the last two blocks, the G step's fake reused
    # by the D step. ~10 images/s; better judge mIoU, colours and diversity than cpu-small in the same time.
    "cpu-fast": dict(_CPU_SMALL, spade_shared=True, clade_blocks=2, reuse_fake=True),
    # cpu-fast with D's decoder on frozen ImageNet EfficientNet-Lite0 features (DP-SIMS, Projected GAN) and
    # DiffAugment's colour, translation and cutout on what D sees, as Projected GAN trains its frozen-feature D.
    "cpu-pretrained": dict(
        _CPU_SMALL,
        spade_shared=True,
        clade_blocks=2,
        reuse_fake=True,
        d_backbone="efficientnet-lite0",
        diffaug="color,translation,cutout",
    ),
}


def _bool_flag(p: argparse._ActionsContainer, name: str, help: str) -> None:
    p.add_argument(
        f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction, default=None, help=help
    )


def _comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            return tuple(item(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list, e.g. 16,16,8") from None

    return parse


def _add_model_options(group: argparse._ActionsContainer) -> None:
    """A flag for each of ModelConfig's option fields: on/off for bools, choices for Literals, comma lists for
    tuples. Defaults stay None: an option not given is taken from the presets (or a resumed run)."""
    for f in MODEL_OPTIONS:
        kind, flag, help = _MODEL_TYPES[f.name], "--" + f.name.replace("_", "-"), f.metadata["help"]
        if kind is bool:
            _bool_flag(group, flag[2:], help)
        elif get_origin(kind) is Literal:
            group.add_argument(flag, choices=get_args(kind), help=help)
        elif get_origin(kind) is tuple:
            group.add_argument(flag, type=_comma_list(get_args(kind)[0]), help=help)
        elif kind in (int, float, str):
            group.add_argument(flag, type=kind, help=help)
        else:
            raise TypeError(f"ModelConfig.{f.name}: no command-line form for {kind}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oasis-train",
        description="Train an OASIS model. Presets follow the paper per --dataset; every value can be overridden. "
        "Subcommands: `oasis-train export RUN --out DIR` writes a model folder; `oasis-train blend A B --alpha T "
        "--out DIR` interpolates two model folders' generators.",
    )
    p.add_argument("--dataset", choices=DATASETS, help="the dataset's kind (with --resume: the run's)")
    p.add_argument(
        "--dataroot", help="dataset root in its standard layout (or the folder format; with --resume: the run's)"
    )
    p.add_argument("--name", required=True, help="run name: the run folder is RUNS_DIR/NAME")
    p.add_argument("--classes-file", help="classes.json for --dataset folder when it is not in the dataroot")
    p.add_argument("--runs-dir", help=f"where run folders live (default $OASIS_RUNS_DIR or {default_runs_dir()})")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run from its latest checkpoint, exactly, with the options saved in its folder; "
        "options given again override them (and are listed when they change)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--gpus", type=int, default=0, help="train on N GPUs of this machine (launches torchrun)")
    p.add_argument(
        "--preset",
        choices=sorted(SIZE_PRESETS),
        help="model size family: paper (the paper's networks; the default), cpu-small (the bundled models' "
        "192x256 family), cpu-fast (cpu-small with the options that paid on CPUs) or cpu-pretrained "
        "(cpu-fast with D on frozen ImageNet EfficientNet-Lite0 features and DiffAugment; needs the "
        "'train' extra). Not re-applied on --resume: the run keeps its saved options",
    )
    g = p.add_argument_group("model")
    _add_model_options(g)
    g.add_argument(
        "--sn-init-gain",
        type=float,
        help="xavier gain of the spectrally normalised weights (paper: 0.02; cpu-small: 1, steadier early steps)",
    )
    o = p.add_argument_group("objective and ablations")
    for name, typ in [
        ("batch-size", int),
        ("epochs", int),
        ("max-iters", int),
        ("lr-g", float),
        ("lr-d", float),
        ("beta1", float),
        ("beta2", float),
        ("lambda-labelmix", float),
        ("ema-decay", float),
        ("ema-bn-batches", int),
    ]:
        o.add_argument(f"--{name}", type=typ)
    o.add_argument(
        "--lambda-diversity",
        type=float,
        help="weight of a mode-seeking term (MSGAN): half the batch's layouts are drawn with a second noise and G "
        "is pushed to make the two images differ as their noises do (more varied variations; costs a larger G "
        "batch; paper: 0, off)",
    )
    o.add_argument(
        "--diversity-target",
        type=float,
        help="with --lambda-diversity: push only pairs whose image/noise difference ratio is below this, by "
        "max(0, target - ratio) (bounded; holds variety at a level, e.g. a warm-start model's) instead of MSGAN's "
        "unbounded 1 / ratio (0, the default)",
    )
    _bool_flag(o, "labelmix", "LabelMix consistency regularisation (paper: on)")
    _bool_flag(o, "cutmix", "CutMix rectangles instead of LabelMix class masks")
    _bool_flag(o, "class-balance", "class-balanced cross-entropy weights (paper: on)")
    _bool_flag(o, "ema", "exponential moving average of G (paper: on)")
    _bool_flag(
        o,
        "ema-warmup",
        "EMA decay min(decay, (1+t)/(10+t)): short runs export an average of recent "
        "weights, not a blend with the initial ones; not after --init-from (paper: off; cpu-small: on)",
    )
    o.add_argument(
        "--noise-mode",
        choices=["image", "region", "pixel", "mix"],
        help="how training noise is drawn (App. A.7; mix: image or region level by a coin flip per step)",
    )
    _bool_flag(o, "reuse-fake", "D step reuses the G step's fake instead of a fresh G forward (cheaper)")
    o.add_argument(
        "--diffaug",
        help=f"DiffAugment, comma-separated from {','.join(DIFFAUG_POLICIES)}: the same random augmentation of "
        "D's inputs and targets in both steps (the G step judges its fakes through it too)",
    )
    d = p.add_argument_group("data")
    _bool_flag(d, "flip", "random horizontal flips")
    _bool_flag(d, "crop", "resize to --load-scale x size, then random crop")
    d.add_argument("--load-scale", type=float)
    d.add_argument("--scale-jitter", type=float, help="resize scale drawn from [load-scale, load-scale*(1+j)]")
    d.add_argument("--crop-height", type=int, help="train on crops of this height at the output pixel scale")
    d.add_argument("--crop-width", type=int)
    d.add_argument("--num-workers", type=int)
    d.add_argument(
        "--init-from",
        help="warm-start from this exported model folder: G, EMA and D, or G and EMA only where its D has another "
        f"architecture ({', '.join(sorted(D_ONLY_FIELDS))})",
    )
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int)
    r.add_argument("--device", help="auto, cpu, cuda")
    r.add_argument("--precision", choices=get_args(Precision))
    _bool_flag(r, "channels-last", "channels_last memory format")
    _bool_flag(r, "compile", "torch.compile G and D: faster steps after a compilation of a minute or more")
    r.add_argument(
        "--compile-memory-budget",
        type=float,
        help="with --compile: share (0-1] of activation memory "
        "kept for backward; the compiler recomputes the rest (default 1: keep all)",
    )
    _bool_flag(r, "deterministic", "deterministic algorithms (bit-exact resume on CPU)")
    for name in ("log-every", "sample-every", "checkpoint-every"):
        r.add_argument(f"--{name}", type=int)
    r.add_argument(
        "--time-limit",
        type=float,
        help="minutes from the start (dataset check and setup included): checkpoint and exit cleanly before",
    )
    return p


# How one invocation runs, not what it trains: a resumed run takes these from its command line (or the defaults).
PER_INVOCATION = ("runs_dir", "device", "num_workers", "compile", "compile_memory_budget", "time_limit")
# Options a resumed run may change and still train as it would have without the stop: where the data lies, how
# long the run is and how it reports.
SAME_TRAINING = (
    "dataroot",
    "classes_file",
    "max_iters",
    "epochs",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "init_from",
)


def resolve(args: argparse.Namespace, saved: TrainConfig | None = None) -> TrainConfig:
    """Preset of the dataset, then the size preset, then every option given on the command line.

    With `saved` (a run's own configuration, when resuming) that replaces the presets, except for the
    per-invocation options; the command line still overrides."""
    given = {k: getattr(args, k) for k in OPTION_NAMES if getattr(args, k, None) is not None}
    if saved is None:
        preset = {**PRESETS[args.dataset], **SIZE_PRESETS[getattr(args, "preset", None) or "paper"]}
        return TrainConfig.from_dict({**preset, **given})
    invocation = {f.name: f.default for f in fields(TrainConfig) if f.name in PER_INVOCATION}
    return TrainConfig.from_dict({**saved.to_dict(), **invocation, **given})


def changed_options(saved: TrainConfig, cfg: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Options of the run (not of the invocation) that differ: name -> (saved, now)."""
    old, new = saved.to_dict(), cfg.to_dict()
    return {k: (old[k], new[k]) for k in old if k not in PER_INVOCATION and old[k] != new[k]}


def run_name_problem(name: str) -> str | None:
    """Why `name` cannot name a run folder, or None: the folder must lie directly in the runs folder."""
    if name in ("", ".", "..") or Path(name).name != name or "/" in name or "\\" in name:
        return f"--name {shlex.quote(name)}: a run name is the name of a folder in the runs folder (no '/', '\\', '..')"
    return None


def device_type(device: str) -> str:
    """The kind of device a --device value gets on this machine: "cuda" where it asks for (or allows) a GPU and
    PyTorch sees one, else "cpu"."""
    wants_gpu = device in ("auto", "cuda") or device.startswith("cuda:")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def option_problems(cfg: TrainConfig, world_size: int, device_type: str) -> list[str]:
    """Every option value that cannot work, one line each (empty: all can). `world_size` is the number of processes
    and `device_type` the kind of device ("cpu", "cuda") the run gets; the data is not needed."""
    problems = []

    def need(ok: bool, name: str, rule: str) -> None:
        if not ok:
            value = getattr(cfg, name)
            shown = shlex.quote(value) if isinstance(value, str) else value
            problems.append(f"--{name.replace('_', '-')} {shown}: {rule}")

    def positive(name: str) -> None:
        need(0 < getattr(cfg, name) < math.inf, name, "must be a positive number")

    if name_problem := run_name_problem(cfg.name):
        problems.append(name_problem)
    need(cfg.dataset in DATASETS, "dataset", f"must be one of {', '.join(DATASETS)}")
    try:  # the model's rules do not depend on its classes: one stands in for the dataset's
        model = ModelConfig(label_nc=1, **cfg.model)
    except ConfigError as e:
        problems.append(f"model: {e}")
        model = None
    positive("sn_init_gain")
    if cfg.batch_size < 1 or cfg.batch_size % world_size:
        problems.append(
            f"--batch-size (images per step over all processes) must be a positive multiple of the "
            f"{world_size} process(es), got {cfg.batch_size}"
        )
    need(cfg.epochs >= 1, "epochs", "must be at least 1")
    need(
        cfg.max_iters is None or cfg.max_iters >= 1,
        "max_iters",
        "must be at least 1 (leave it out to train --epochs epochs)",
    )
    positive("lr_g")
    positive("lr_d")
    for beta in ("beta1", "beta2"):
        need(0 <= getattr(cfg, beta) < 1, beta, "must be in [0, 1)")
    need(0 <= cfg.lambda_labelmix < math.inf, "lambda_labelmix", "must be a number >= 0")
    need(0 <= cfg.lambda_diversity < math.inf, "lambda_diversity", "must be a number >= 0")
    need(0 <= cfg.diversity_target < math.inf, "diversity_target", "must be a number >= 0")
    need(not cfg.diversity_target or cfg.lambda_diversity > 0, "diversity_target", "needs --lambda-diversity above 0")
    need(
        not cfg.lambda_diversity or cfg.model["noise_3d"],
        "lambda_diversity",
        "needs 3D noise (without it every noise gives the same image)",
    )
    need(0 <= cfg.ema_decay < 1, "ema_decay", "must be in [0, 1)")
    need(cfg.ema_bn_batches >= 1, "ema_bn_batches", "must be at least 1")
    need(cfg.noise_mode in get_args(NoiseMode), "noise_mode", f"must be one of {', '.join(get_args(NoiseMode))}")
    if unknown := set(cfg.diffaug_policies) - set(DIFFAUG_POLICIES):
        problems.append(
            f"--diffaug {shlex.quote(cfg.diffaug)}: unknown {sorted(unknown)}; use {', '.join(DIFFAUG_POLICIES)} "
            f"(comma-separated)"
        )
    need(
        1 <= cfg.load_scale < math.inf,
        "load_scale",
        "must be at least 1 (the image is resized to this times the output size, then cropped to it)",
    )
    need(0 <= cfg.scale_jitter < math.inf, "scale_jitter", "must be a number >= 0")
    crop = (cfg.crop_height, cfg.crop_width)
    if crop != (0, 0):
        size = (model.height, model.width) if model else (cfg.model["height"], cfg.model["width"])
        shown = f"--crop-height/--crop-width {crop[0]}x{crop[1]}"
        if min(crop) < 1:
            problems.append(f"{shown}: give both, as positive sizes (or neither: no crops)")
        elif crop[0] > size[0] or crop[1] > size[1]:
            problems.append(f"{shown}: larger than the {size[0]}x{size[1]} images they are cut from")
        elif model is not None:
            try:  # crops pass through G and D: the output size's rules apply to them
                model.replace(height=crop[0], width=crop[1])
            except ConfigError as e:
                problems.append(f"{shown}: {e}")
    need(cfg.num_workers >= 0, "num_workers", "must be 0 (load in the training process) or more")
    if cfg.device not in ("auto", "cpu", "cuda") and not cfg.device.startswith("cuda:"):
        problems.append(f"--device {shlex.quote(cfg.device)}: use auto, cpu or cuda")
    elif cfg.device.startswith("cuda") and device_type != "cuda":
        problems.append(f"--device {cfg.device} was given, but PyTorch sees no CUDA GPU (CPU-only build or no driver)")
    need(cfg.precision in get_args(Precision), "precision", f"must be one of {', '.join(get_args(Precision))}")
    need(
        cfg.precision != "fp16" or device_type == "cuda",
        "precision",
        "fp16 is only offered on GPUs; use auto, fp32 or bf16 on the CPU",
    )
    need(0 < cfg.compile_memory_budget <= 1, "compile_memory_budget", "must be in (0, 1]")
    for every in ("log_every", "sample_every", "checkpoint_every"):
        need(getattr(cfg, every) >= 1, every, "must be at least 1")
    need(0 <= cfg.time_limit < math.inf, "time_limit", "must be minutes >= 0 (0: no limit)")
    return problems
