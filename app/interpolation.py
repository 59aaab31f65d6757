"""Interpolation between two noises of the current layout: the end points A and B, the frames made between them and
which frame the document shows. Plain state: the controller submits the frames' jobs and tells the widgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from oasis_core import noise as noise_ops

FRAME_COUNT = 12
FRAME_CHUNK = 3  # frames per worker job: a generation asked for meanwhile waits for one chunk at most
FRAME_TIMES = [i / (FRAME_COUNT - 1) for i in range(FRAME_COUNT)]

End = Literal["a", "b"]


@dataclass(frozen=True)
class FrameArgs:
    """What a set of frames is made of."""

    labels: np.ndarray
    a: torch.Tensor
    b: torch.Tensor
    mask: np.ndarray | None  # interpolate only here (the selection), or everywhere


class Frame(NamedTuple):
    noise: torch.Tensor
    seed: int
    plain: bool | None  # the noise is what `seed` draws; None: the document finds out
    image: np.ndarray


class Interpolation:
    def __init__(self) -> None:
        self.a: torch.Tensor | None = None
        self.b: torch.Tensor | None = None
        self._seeds: dict[End, int] = {}  # the seed of each end point
        self.in_selection = False
        self.frames: np.ndarray | None = None  # (F, H, W, 3) for the current A, B and layout
        self.stale = ""  # what changed since the frames were made ("layout", "selection"); "" if nothing
        self._made: FrameArgs | None = None  # what the frames were (or are being) made of
        self._parts: list[np.ndarray] = []  # their chunks made so far
        self._shown: tuple[int, torch.Tensor] | None = None  # a frame index and the noise it gave the document

    @property
    def has_ends(self) -> bool:
        return self.a is not None and self.b is not None

    def forget_ends(self) -> None:
        """For a new document: its noise is another, and it has no frames that a change could have outdated."""
        self.a = self.b = None
        self._shown = None
        self.stale = ""

    def set_end(self, which: End, noise: torch.Tensor, seed: int) -> None:
        if which == "a":
            self.a = noise
        else:
            self.b = noise
        self._seeds[which] = seed
        self._shown = (0 if which == "a" else FRAME_COUNT - 1, noise)

    def _mask(self, selection: np.ndarray | None) -> np.ndarray | None:
        return selection if self.in_selection else None

    def outdated_by(self, selection: np.ndarray | None) -> bool:
        """Frames interpolated only inside the selection are stale once it changes, as after a layout edit."""
        made = self._made
        if not self.in_selection or not self.has_ends or made is None or self.stale:
            return False
        old, new = made.mask, self._mask(selection)
        if old is None or new is None:
            return (old is None) != (new is None)
        return not np.array_equal(old, new)

    def clear_frames(self) -> None:
        self.frames, self._parts = None, []

    def start(self, labels: np.ndarray, selection: np.ndarray | None) -> bool:
        """A new set of frames for the ends, `labels` and `selection` (copied), made in chunks (`next_job`, `add`);
        False if an end is not set."""
        self.clear_frames()
        self.stale = ""
        if self.a is None or self.b is None:
            return False
        mask = self._mask(selection)
        self._made = FrameArgs(labels.copy(), self.a, self.b, None if mask is None else mask.copy())
        return True

    def next_job(self) -> Callable[[Any], np.ndarray]:
        """The worker's job for the next chunk of frames: between chunks it runs the interactive requests first."""
        made, done = self._made, sum(map(len, self._parts))
        assert made is not None, "start() comes first"
        ts = FRAME_TIMES[done : done + FRAME_CHUNK]
        return lambda synth: synth.generate_batch(
            made.labels, noise_ops.interpolate(made.a, made.b, ts, mask=made.mask)
        )

    def add(self, images: np.ndarray) -> bool:
        """Add a chunk made by `next_job`'s job; True once all frames are made."""
        self._parts.append(images)
        if sum(map(len, self._parts)) < FRAME_COUNT:
            return False
        self.frames, self._parts = np.concatenate(self._parts), []
        return True

    def current(self, noise: torch.Tensor | None) -> int | None:
        """The frame whose noise the document holds (set as A or B, or scrubbed to), if any."""
        shown = self._shown
        return shown[0] if shown is not None and noise is shown[1] else None

    def show(self, index: int, noise: torch.Tensor | None) -> Frame | None:
        """Frame `index` becomes the one shown, for a document that holds `noise`; None if there are no frames."""
        made = self._made
        if self.frames is None or made is None:
            return None
        z = noise_ops.interpolate(made.a, made.b, [FRAME_TIMES[index]], mask=made.mask)
        # The history knows a variation by its noise tensor: an end point is that very tensor, with its own seed
        # (which the seed box shows), and a remade frame the one the document holds. Between: A's noise, changed.
        seed: int = self._seeds["a"]
        plain: bool | None = False
        ends: tuple[tuple[End, torch.Tensor], ...] = (("a", made.a), ("b", made.b))
        for which, end in ends:
            if torch.equal(z, end):
                z, seed, plain = end, self._seeds[which], None
                break
        else:
            if noise is not None and torch.equal(z, noise):
                z = noise
        self._shown = (index, z)
        return Frame(z, seed, plain, self.frames[index])
