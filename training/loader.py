"""The training loop's data loading: which samples a rank takes at each step of an epoch, and data workers that
leave stop signals to the trainer."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from .distributed import DistInfo


class EpochBatches:
    """This rank's share of the steps of one epoch, from step `start` on: step k takes the k-th `batch_size` indices
    of a seeded permutation, and rank r the r-th of their world_size equal parts. The data of a step does not depend
    on the number of processes, so a run can resume on another number of them where it stopped."""

    def __init__(self, n: int, batch_size: int, info: DistInfo, seed: int, epoch: int, start: int) -> None:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
        share = batch_size // info.world_size
        first = [k * batch_size + info.rank * share for k in range(start, n // batch_size)]
        self.batches = [perm[i : i + share] for i in first]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def leave_stop_signals_to_the_trainer(_worker_id: int) -> None:
    """A data worker's `worker_init_fn`. Batch systems, `kill` of a process group and Ctrl-C signal every process of
    a job; a data worker killed by that would crash the trainer before its final checkpoint. The trainer stops its
    workers itself."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started blocked (see start_workers): a pending stop is dropped now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def start_workers(loader: DataLoader) -> Iterator[dict]:
    """`iter(loader)`, with the stop signals blocked while it forks the data workers: a stop sent to the process
    group between a worker's start and its `worker_init_fn` stays pending there and is then ignored, instead
    of killing the new worker (the trainer sees such a death as a crash). The trainer gets it after the fork."""
    if not hasattr(signal, "pthread_sigmask") or loader.num_workers == 0:
        return iter(loader)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        return iter(loader)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
