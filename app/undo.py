"""Undo/redo of label edits as changed regions: a bounding box with the old and new pixels, never full copies."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Patch:
    """One edit: `old` and `new` pixels of the box at (top, left), and the box's noise when the edit re-rolled it."""

    top: int
    left: int
    old: np.ndarray
    new: np.ndarray
    label: str = ""
    old_noise: torch.Tensor | None = None  # (1, C, h, w)
    new_noise: torch.Tensor | None = None

    @property
    def nbytes(self) -> int:
        noise = sum(t.nbytes for t in (self.old_noise, self.new_noise) if t is not None)
        return self.old.nbytes + self.new.nbytes + noise

    def _box(self) -> tuple:
        h, w = self.old.shape
        return ..., slice(self.top, self.top + h), slice(self.left, self.left + w)

    def with_noise(self, old: torch.Tensor, new: torch.Tensor) -> Patch:
        """This step with the noise of its box before and after: the re-roll that went with the edit."""
        box = self._box()
        return dataclasses.replace(self, old_noise=old[box].clone(), new_noise=new[box].clone())

    def apply_noise(self, noise: torch.Tensor | None, undo: bool) -> torch.Tensor | None:
        """A new tensor with the box's noise of the other side of this step; None when the step has no noise or
        the box no longer holds this side's noise (e.g. a new variation since): then the noise stays as it is."""
        if self.old_noise is None or self.new_noise is None or noise is None:
            return None
        want, expect = (self.old_noise, self.new_noise) if undo else (self.new_noise, self.old_noise)
        box = self._box()
        if noise[box].shape != expect.shape or not torch.equal(noise[box], expect):
            return None
        out = noise.clone()
        out[box] = want
        return out

    def apply(self, labels: np.ndarray, undo: bool) -> tuple[int, int, int, int]:
        """Write the patch into `labels`; returns the box (top, left, bottom, right)."""
        h, w = self.old.shape
        labels[self.top : self.top + h, self.left : self.left + w] = self.old if undo else self.new
        return self.top, self.left, self.top + h, self.left + w


def diff_patch(before: np.ndarray, after: np.ndarray, label: str = "") -> Patch | None:
    """The smallest box holding every difference between two label maps, or None if they are equal."""
    changed = before != after
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Patch(
        int(top), int(left), before[top:bottom, left:right].copy(), after[top:bottom, left:right].copy(), label
    )


class UndoStack:
    """Linear history with a step limit; pushing after an undo drops the redo branch."""

    def __init__(self, limit: int = 200) -> None:
        self._done: deque[Patch] = deque(maxlen=limit)
        self._undone: list[Patch] = []

    def push(self, patch: Patch) -> None:
        self._done.append(patch)
        self._undone.clear()

    def amend_last(self, change: Callable[[Patch], Patch]) -> None:
        """Replace the newest step by `change(step)`: what followed from the edit belongs to its step."""
        self._done[-1] = change(self._done[-1])

    def undo(self) -> Patch | None:
        if not self._done:
            return None
        patch = self._done.pop()
        self._undone.append(patch)
        return patch

    def redo(self) -> Patch | None:
        if not self._undone:
            return None
        patch = self._undone.pop()
        self._done.append(patch)
        return patch

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_label(self) -> str:
        return self._done[-1].label if self._done else ""

    @property
    def redo_label(self) -> str:
        return self._undone[-1].label if self._undone else ""

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self._done) + sum(p.nbytes for p in self._undone)

    def __len__(self) -> int:
        return len(self._done)
