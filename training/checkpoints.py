"""A run's checkpoint: everything an exact resume needs, written atomically and read without running code; and
warm starts from an exported model folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from oasis_core import ModelConfig, ModelFileError, load_model

from .errors import TrainingError

if TYPE_CHECKING:
    from .trainer import Trainer

CHECKPOINT_FORMAT = "oasis-train-checkpoint"
CHECKPOINT_VERSION = 1
log = logging.getLogger("oasis-train")

# Model fields a warm start may change: they leave every weight's meaning and shape as they are (the noise layout
# changes what G is fed, which the training that follows adapts it to).
_WARM_START_FREE = frozenset({"name", "noise_pixel_channels"})
# Model fields of the discriminator alone: a warm start with other values takes only the generator.
D_ONLY_FIELDS = frozenset({"d_channels", "d_last_channels", "d_spectral_norm", "d_backbone"})


def write_checkpoint(trainer: Trainer, noise_states: list[Any], path: Path) -> None:
    """Write `trainer`'s state; `noise_states` holds every rank's noise generator state, in rank order."""
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": trainer.cfg.to_json(),
        "model_config": trainer.model_config.to_json(),
        "iteration": trainer.iteration,
        "epoch": trainer.epoch,
        "batch_in_epoch": trainer.batch_in_epoch,
        "warm_started": trainer.warm_started,
        "G": trainer.G.state_dict(),
        "D": trainer.D.state_dict(),
        "EMA": trainer.EMA.state_dict() if trainer.EMA is not None else None,
        "opt_G": trainer.opt_G.state_dict(),
        "opt_D": trainer.opt_D.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else [],
        "rng_noise": noise_states,
    }
    tmp = path.with_name(path.name + ".tmp")  # a run stopped while writing keeps its previous checkpoint
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Tensors and plain containers only (weights_only): a checkpoint never runs code."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # every failure means the same thing to the user
        raise TrainingError(f"{path}: unreadable checkpoint ({e.__class__.__name__}: {str(e).splitlines()[0]})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path}: not an oasis-train checkpoint")
    return ckpt


def restore(trainer: Trainer, ckpt: dict[str, Any]) -> None:
    """Put `trainer` where the checkpoint's run stopped: weights, optimisers, counters and random streams."""
    saved = ModelConfig.from_json(ckpt["model_config"])
    if saved != trainer.model_config:
        diff = {
            k: (v, getattr(trainer.model_config, k))
            for k, v in saved.to_dict().items()
            if getattr(trainer.model_config, k) != v
        }
        raise TrainingError(f"the checkpoint's model differs from this configuration: {diff}")
    trainer.G.load_state_dict(ckpt["G"])
    trainer.D.load_state_dict(ckpt["D"])
    if trainer.EMA is not None:
        if ckpt["EMA"] is None:
            raise TrainingError("the checkpoint was trained without EMA; resume with --no-ema")
        trainer.EMA.load_state_dict(ckpt["EMA"])
    trainer.opt_G.load_state_dict(ckpt["opt_G"])
    trainer.opt_D.load_state_dict(ckpt["opt_D"])
    trainer.scaler.load_state_dict(ckpt["scaler"])
    trainer.iteration, trainer.epoch, trainer.batch_in_epoch = ckpt["iteration"], ckpt["epoch"], ckpt["batch_in_epoch"]
    trainer.warm_started = ckpt.get("warm_started", False)  # absent in checkpoints before 2026-11-27
    torch.set_rng_state(ckpt["rng_torch"])
    if trainer.device.type == "cuda" and ckpt["rng_cuda"]:
        torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
    states, world = ckpt["rng_noise"], trainer.dist.world_size
    if len(states) == world:
        trainer.noise_gen.set_state(states[trainer.dist.rank])
    else:
        log.warning("checkpoint from %d processes resumed on %d: noise streams re-seeded", len(states), world)
    if trainer.batch_in_epoch >= trainer.iters_per_epoch:
        trainer.epoch, trainer.batch_in_epoch = trainer.epoch + 1, 0


def warm_start(trainer: Trainer, folder: Path) -> None:
    """Start from an exported model folder: its generator seeds G and EMA, its discriminator D. Optimisers start
    fresh (exported folders carry no optimiser state)."""
    try:
        model = load_model(folder)
    except ModelFileError as e:
        raise TrainingError(f"--init-from: {e}") from e
    ours, theirs = trainer.model_config.to_dict(), model.config.to_dict()
    diff = {k: (theirs[k], v) for k, v in ours.items() if k not in _WARM_START_FREE and theirs[k] != v}
    if set(diff) - D_ONLY_FIELDS:
        raise TrainingError(f"--init-from {folder}: the model differs from this configuration (model, run): {diff}")
    new_d = bool(diff)  # another discriminator: only the generator is warm-started
    main = trainer.dist.main
    if main and theirs["noise_pixel_channels"] != ours["noise_pixel_channels"]:
        log.info(
            "--init-from: per-pixel noise channels %d -> %d (same weights, new noise layout)",
            theirs["noise_pixel_channels"],
            ours["noise_pixel_channels"],
        )
    trainer.G.load_state_dict(model.generator.state_dict())
    trainer.warm_started = True
    if trainer.EMA is not None:
        trainer.EMA.load_state_dict(model.generator.state_dict())
    if model.discriminator is not None and not new_d:
        trainer.D.load_state_dict(model.discriminator.state_dict())
    elif main:
        why = f"its discriminator differs ({diff})" if new_d else "it has no discriminator"
        log.warning("--init-from %s: %s, so D starts from scratch", folder, why)
