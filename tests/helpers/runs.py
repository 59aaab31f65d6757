"""A tiny training run on one CPU process: its options, in code and on the command line, and its whole state."""

from pathlib import Path

import torch

from training.distributed import DistInfo
from training.options import TrainConfig
from training.trainer import Trainer

from .data import make_dataset

CPU = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def tiny(tmp_path: Path, **overrides) -> TrainConfig:
    """A 4-step run of a tiny model on `make_dataset` in tmp_path/data (made once), with `overrides`."""
    # fmt: off
    values = dict(
        dataset="folder",
        dataroot=str(tmp_path / "data" if (tmp_path / "data").exists() else make_dataset(tmp_path / "data")),
        name="tiny", runs_dir=str(tmp_path / "runs"), height=32, width=48, z_dim=8, channels_g=4, g_mults=(4, 4, 2, 1),
        spade_hidden=8, d_channels=(8, 8, 16), d_last_channels=8, batch_size=2, max_iters=4, num_workers=0,
        log_every=1, sample_every=2, checkpoint_every=2, ema_decay=0.9, ema_bn_batches=2, deterministic=True,
        norm="batch",
    )
    # fmt: on
    values.update(overrides)
    return TrainConfig.from_dict(values)


# tiny()'s model and batch on the command line
# fmt: off
TINY_ARGS = ["--height", "32", "--width", "48", "--z-dim", "8", "--channels-g", "4", "--g-mults", "4,4,2,1",
             "--spade-hidden", "8", "--d-channels", "8,8,16", "--d-last-channels", "8", "--batch-size", "2",
             "--num-workers", "0"]
# fmt: on


def flat_state(t: Trainer) -> dict[str, torch.Tensor]:
    """Every tensor of the run (G, D, EMA and both optimisers) under one flat name, to compare runs."""
    out = {}
    for name, sd in (("G", t.G.state_dict()), ("D", t.D.state_dict()), ("EMA", t.EMA.state_dict())):
        out.update({f"{name}.{k}": v for k, v in sd.items()})
    for name, opt in (("optG", t.opt_G), ("optD", t.opt_D)):
        for pid, st in opt.state_dict()["state"].items():
            out.update({f"{name}.{pid}.{k}": v for k, v in st.items() if torch.is_tensor(v)})
    return out
