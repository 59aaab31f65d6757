"""`oasis-train export`: a run's latest checkpoint as the model folder `oasis_core.load_model` reads;
`oasis-train blend`: two model folders' generators interpolated into a third."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import parametrize

from oasis_core import ModelConfig, OasisModel, load_model

from .checkpoints import D_ONLY_FIELDS, load_checkpoint
from .errors import TrainingError


def export(
    run_dir: Path,
    out: Path,
    half: bool = False,
    with_discriminator: bool = True,
    name: str | None = None,
    force: bool = False,
) -> OasisModel:
    """The model folder `oasis_core.load_model` reads: EMA generator (G without EMA), discriminator, palette, card.
    `name`: the model's name in the app (default: the run's name). A folder that holds files is only replaced with
    `force`, and then whole (weights, config and card together); the new folder is written next to it and renamed
    into place, so an export that fails leaves the old folder as it was."""
    _check_out(out, force)
    ckpt = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    mc = ModelConfig.from_json(ckpt["model_config"])
    if name:
        mc = mc.replace(name=name)
    model = OasisModel(mc, with_discriminator=with_discriminator)
    model.generator.load_state_dict(ckpt["EMA"] if ckpt["EMA"] is not None else ckpt["G"])
    if model.discriminator is not None:
        model.discriminator.load_state_dict(ckpt["D"])
    _write(model, out, half)
    return model


def blend(
    a: str | Path,
    b: str | Path,
    alpha: float,
    out: Path,
    half: bool = False,
    name: str | None = None,
    force: bool = False,
) -> OasisModel:
    """Network interpolation (Wang et al. 2018, ESRGAN sec. 3.4): a model whose generator is (1 - alpha) A + alpha B,
    weight by weight, with B's discriminator and config (`name`: the model's name, default B's). Two generators
    fine-tuned from one start interpolate smoothly, trading one's qualities for the other's (e.g. layout fidelity
    against realism) without training.

    Spectral-norm layers are interpolated in their effective weights W / sigma, and the result is stored so that
    inference (eval mode, the stored u and v) uses exactly that weight; training from it (`--init-from`) renormalises
    those layers to spectral norm 1 again. Running statistics of the normalisations are interpolated too."""
    if not 0.0 <= alpha <= 1.0:
        raise TrainingError(f"--alpha must be in 0..1 (0: A's generator, 1: B's), got {alpha}")
    _check_out(out, force)
    ma, mb = load_model(a, with_discriminator=False), load_model(b)  # A's discriminator is not used
    if differ := _generator_differences(ma.config, mb.config):
        raise TrainingError(f"{a} and {b} hold different generators ({', '.join(differ)} differ): cannot blend them")
    ga, gb = ma.generator.eval(), mb.generator.eval()
    with torch.no_grad():
        sa, sb = ga.state_dict(), gb.state_dict()  # views of the tensors: lerp_ writes into gb
        for k, v in sb.items():
            if ".parametrizations." not in k and v.is_floating_point():  # not num_batches_tracked
                v.lerp_(sa[k], 1.0 - alpha)
        modules_a = dict(ga.named_modules())
        for path, mod in gb.named_modules():
            if parametrize.is_parametrized(mod, "weight"):
                wa, wb = (cast(torch.Tensor, m.weight) for m in (modules_a[path], mod))
                _set_effective_weight(mod, torch.lerp(wa, wb, alpha))
    if name:
        mb.config = mb.config.replace(name=name)
    _write(mb, out, half)
    return mb


def _generator_differences(a: ModelConfig, b: ModelConfig) -> list[str]:
    """Config fields that shape or drive the generator and differ between `a` and `b`."""
    skip = D_ONLY_FIELDS | {"name", "format_version"}
    ours, theirs = a.to_dict(), b.to_dict()
    return [k for k, v in ours.items() if k not in skip and theirs[k] != v]


def _set_effective_weight(module: nn.Module, weight: torch.Tensor) -> None:
    """Store `weight` in a spectral-norm parametrised `module` so that its eval-mode weight is exactly `weight`.

    Eval mode divides the stored original by u . (W v); the top singular pair, u scaled by 1 / sigma_max, makes that
    divisor 1 (a blend of two spectral-norm-1 weights has sigma_max <= 1, not 1, so no rescaled original would do)."""
    sn: Any = cast(nn.ModuleDict, module.parametrizations)["weight"]
    u, s, vh = torch.linalg.svd(sn[0]._reshape_weight_to_matrix(weight), full_matrices=False)
    sn.original.copy_(weight)
    sn[0]._u.copy_(u[:, 0] / s[0])
    sn[0]._v.copy_(vh[0])


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file, not a folder")
    if out.is_dir() and (held := sorted(p.name for p in out.iterdir())) and not force:
        shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        raise TrainingError(f"--out {out} already holds files ({shown}): pass --force to replace the folder")


def _write(model: OasisModel, out: Path, half: bool) -> None:
    """Save `model` to `out`: written next to it and renamed into place, so a failed write leaves `out` as it was."""
    if half:
        model.half()
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        model.save_pretrained(new)
        _replace_folder(out, new)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def _replace_folder(folder: Path, new: Path) -> None:
    """Rename `new` to `folder`; an existing `folder` is moved aside first (a rename cannot replace a folder that holds
    files) and put back if the rename fails."""
    if not folder.exists():
        os.replace(new, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    os.replace(folder, old / folder.name)
    try:
        os.replace(new, folder)
    except OSError:
        os.replace(old / folder.name, folder)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
