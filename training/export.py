"""`oasis-train export`: a run's latest checkpoint as the model folder `oasis_core.load_model` reads."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from oasis_core import ModelConfig, OasisModel

from .checkpoints import load_checkpoint
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
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file, not a folder")
    if out.is_dir() and (held := sorted(p.name for p in out.iterdir())) and not force:
        shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
        raise TrainingError(f"--out {out} already holds files ({shown}): pass --force to replace the folder")
    ckpt = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    mc = ModelConfig.from_json(ckpt["model_config"])
    if name:
        mc = mc.replace(name=name)
    model = OasisModel(mc, with_discriminator=with_discriminator)
    model.generator.load_state_dict(ckpt["EMA"] if ckpt["EMA"] is not None else ckpt["G"])
    if model.discriminator is not None:
        model.discriminator.load_state_dict(ckpt["D"])
    if half:
        model.half()
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        model.save_pretrained(new)
        _replace_folder(out, new)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    return model


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
