"""Process-group setup for torchrun (single machine, many GPUs, or many nodes) and for plain single-process runs."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .options import device_type

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*).

    NCCL on GPUs, gloo on CPUs. Without torchrun's variables this is a single process. `device` is a --device value
    the option checks accepted (training.options.option_problems: they refuse "cuda" where there is no GPU).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_type(device) == "cuda"
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return DistInfo(rank, world, local, dev)


def teardown() -> None:
    if dist.is_initialized():
        gc.collect()  # DDP reducers left in reference cycles must go before their process group, not at exit
        dist.barrier()  # no rank tears down its connections while a peer still uses them
        dist.destroy_process_group()


def per_rank_batch_norm(module: M) -> M:
    """SyncBatchNorm only syncs CUDA tensors; on CPU ranks use plain BatchNorm2d (same parameters and buffers)."""
    for name, child in module.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            setattr(module, name, bn)
        else:
            per_rank_batch_norm(child)
    return module


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank if it is true on one (e.g. a stop signal that reached one process)."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
