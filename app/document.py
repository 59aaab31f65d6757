"""The document: the canvas label map (the source of truth), the noise, seed, current image, selection and undo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from oasis_core import ModelConfig, validate_labels
from oasis_core import noise as noise_ops

from .undo import UndoStack, diff_patch

UNDO_LIMIT = 200
LABEL_DTYPE = np.int32  # ids up to 2^31; half the memory of int64 in the undo patches


class Document(QObject):
    """State of one picture at the model's size. Noise tensors are replaced, never modified in place, so a
    reference handed to the worker thread or kept in the history stays valid."""

    labels_changed = Signal()
    noise_changed = Signal()
    image_changed = Signal()
    selection_changed = Signal()
    edit_finished = Signal(object, bool)  # bool mask of the pixels an edit changed; True for Undo and Redo
    stroke_ended = Signal()  # no stroke is open (any more): edits of their own may follow
    undo_state_changed = Signal()
    modified_changed = Signal(bool)

    def __init__(self, config: ModelConfig, seed: int = 0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.labels = np.full((config.height, config.width), config.semantic_ids[0], dtype=LABEL_DTYPE)
        self.seed = seed
        self.noise: torch.Tensor | None = self._sample(seed) if config.noise_3d else None
        self.image: np.ndarray | None = None
        self.selection: np.ndarray | None = None
        self.undo_stack = UndoStack(UNDO_LIMIT)
        self.revision = 0  # bumped on every change; the autosaver compares it
        self._saved_revision = 0
        self._edit_base: np.ndarray | None = None
        self._plain: tuple[torch.Tensor | None, int, bool] | None = (self.noise, seed, True)  # see noise_is_plain

    # ---- basic properties ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.config.height, self.config.width

    @property
    def modified(self) -> bool:
        return self.revision != self._saved_revision

    def mark_saved(self) -> None:
        self._saved_revision = self.revision
        self.modified_changed.emit(False)

    def mark_modified(self) -> None:
        """E.g. a restored recovery file: it is not saved anywhere the user chose."""
        self._touch()

    def _touch(self) -> None:
        was = self.modified
        self.revision += 1
        if not was:
            self.modified_changed.emit(True)

    def _sample(self, seed: int) -> torch.Tensor:
        cfg = self.config
        return noise_ops.sample(seed, cfg.z_dim, cfg.height, cfg.width, pixel_channels=cfg.noise_pixel_channels)

    # ---- label edits -----------------------------------------------------------------------------
    def begin_stroke(self) -> None:
        """Start one undo step that may span several mouse events; nested starts join the open one."""
        if self._edit_base is None:
            self._edit_base = self.labels.copy()

    def end_stroke(self, name: str = "Stroke") -> None:
        """Close the step, storing only the bounding box of what changed since `begin_stroke`."""
        if self._edit_base is None:
            return
        base, self._edit_base = self._edit_base, None
        patch = diff_patch(base, self.labels, name)
        if patch is not None:
            self.undo_stack.push(patch)
            self._touch()
            self.labels_changed.emit()
            self.undo_state_changed.emit()
            self.edit_finished.emit(base != self.labels, False)
        self.stroke_ended.emit()

    @contextmanager
    def edit(self, name: str) -> Iterator[np.ndarray]:
        """`with doc.edit("Fill") as labels:` changes labels in one undo step (or within an open stroke)."""
        outer = self._edit_base is None
        self.begin_stroke()
        try:
            yield self.labels
        finally:
            if outer:
                self.end_stroke(name)

    @property
    def in_stroke(self) -> bool:
        return self._edit_base is not None

    def paint(self, mask: np.ndarray, class_id: int, name: str = "Paint") -> None:
        """Set every pixel of `mask` to `class_id`; part of the open stroke, else its own undo step."""
        self._check_class(class_id)
        with self.edit(name) as labels:
            labels[mask] = class_id
        if self.in_stroke:
            self.labels_changed.emit()  # live display of a stroke in progress

    def set_labels(self, labels: np.ndarray, name: str = "Replace layout") -> None:
        """Replace the whole layout (open file, photo -> layout) as one undoable step."""
        if labels.shape != self.shape:
            raise ValueError(f"layout is {labels.shape}, the canvas {self.shape}")
        labels = validate_labels(labels, self.config.label_nc)
        with self.edit(name) as current:
            current[...] = labels

    def _check_class(self, class_id: int) -> None:
        if not 0 <= class_id < self.config.label_nc:
            raise ValueError(f"class {class_id} is outside 0..{self.config.label_nc - 1}")

    def undo(self) -> bool:
        return self._step(undo=True)

    def redo(self) -> bool:
        return self._step(undo=False)

    def _step(self, undo: bool) -> bool:
        if self._edit_base is not None:
            return False  # never undo into the middle of a stroke
        patch = self.undo_stack.undo() if undo else self.undo_stack.redo()
        if patch is None:
            return False
        before = self.labels.copy()
        patch.apply(self.labels, undo=undo)
        noise = patch.apply_noise(self.noise, undo)
        if noise is not None:
            self.set_noise(noise)
        self._touch()
        self.labels_changed.emit()
        self.undo_state_changed.emit()
        self.edit_finished.emit(before != self.labels, True)
        return True

    # ---- noise, seed, image ----------------------------------------------------------------------
    def set_seed(self, seed: int) -> None:
        """A new global variation: noise drawn from `seed`."""
        self.set_noise(self._sample(int(seed)) if self.config.noise_3d else None, seed, plain=True)

    def set_noise(self, noise: torch.Tensor | None, seed: int | None = None, plain: bool | None = None) -> None:
        """`plain`: whether `noise` is just what the seed draws, if known (else `noise_is_plain` finds out)."""
        if noise is not None and tuple(noise.shape) != (1, self.config.z_dim, *self.shape):
            raise ValueError(f"noise of shape {tuple(noise.shape)} does not fit this model")
        if seed is not None:
            self.seed = int(seed)
        self.noise = noise
        self._plain = None if plain is None else (noise, self.seed, plain)
        self._touch()
        self.noise_changed.emit()

    def noise_is_plain(self) -> bool:
        """Whether the noise is exactly what `seed` draws: no local re-roll, interpolation or unlocked painting."""
        if self._plain is None or self._plain[0] is not self.noise or self._plain[1] != self.seed:
            plain = self.noise is None or torch.equal(self.noise, self._sample(self.seed))
            self._plain = (self.noise, self.seed, plain)  # noise tensors are never changed in place
        return self._plain[2]

    def reroll_noise(self, mask: np.ndarray, seed: int, with_last_edit: bool = False) -> None:
        """New noise from `seed` inside `mask` (H, W), the current noise outside: a local re-roll.
        `with_last_edit`: it goes with the last label edit, whose Undo and Redo then bring back the noise too."""
        if self.noise is None:
            return
        old = self.noise
        new = noise_ops.resample(old, mask, seed, pixel_channels=self.config.noise_pixel_channels)
        self.set_noise(new, plain=False)
        if with_last_edit:
            self.undo_stack.amend_last(lambda patch: patch.with_noise(old, new))

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = image
        self._touch()
        self.image_changed.emit()

    # ---- selection -------------------------------------------------------------------------------
    def set_selection(self, mask: np.ndarray | None) -> None:
        """A boolean mask at the canvas size; None or an empty mask clears it."""
        if mask is not None:
            if mask.shape != self.shape or mask.dtype != bool:
                raise ValueError("a selection is a boolean mask of the canvas size")
            if not mask.any():
                mask = None
        self.selection = mask
        self.selection_changed.emit()
