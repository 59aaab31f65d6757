"""What an evaluation measure is: it sees the evaluated layouts one at a time and gives a typed result.

:func:`.evaluate.evaluate` builds each measure from an :class:`EvalContext` (a factory in its measure list),
calls :meth:`Measure.update` with one :class:`Batch` per layout and :meth:`Measure.result` once at the end.
A result is a :class:`MeasureResult`: its ``metrics.json`` entries, its rows of the report's summary table,
its own report sections and its notes. A measure that cannot run (weights missing) is a :class:`Skipped`
whose result, :class:`NotComputed`, says why. A measure that needs other images as well (the training
split's photos, a reference set) reads them itself, in its factory or in :meth:`Measure.result`
(:meth:`EvalContext.read_split` reads another split as the evaluated one is read).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from oasis_core import Synthesizer

    from ..data import DatasetInfo
    from .evaluate import EvalOptions
    from .judge import Judge

__all__ = [
    "Batch",
    "EvalContext",
    "Measure",
    "MeasureFactory",
    "MeasureResult",
    "NotComputed",
    "RunInfo",
    "Skipped",
    "SummaryRow",
    "fmt",
    "layout_and_photo",
    "rounded",
]


def rounded(v: float | None, nd: int = 4) -> float | None:
    """A figure as ``metrics.json`` stores it (and the report prints it): rounded, NaN as None."""
    return None if v is None or math.isnan(v) else round(float(v), nd)


def fmt(v: float | None, scale: float = 1.0, nd: int = 2) -> str:
    return "n/a" if v is None else f"{v * scale:.{nd}f}"


@dataclass(frozen=True)
class RunInfo:
    """What was evaluated, on what: the head of ``metrics.json`` and of the report."""

    model_path: str
    model_name: str | None
    size: tuple[int, int]  # the model's (H, W); every measure works at this size
    label_nc: int
    dataset: str
    dataroot: str
    split: str
    classes_file: str | None
    layouts: int
    variations: int
    noise_seeds: str
    device: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model": {
                "path": self.model_path,
                "name": self.model_name,
                "size": list(self.size),
                "label_nc": self.label_nc,
            },
            "dataset": {
                "kind": self.dataset,
                "root": self.dataroot,
                "split": self.split,
                "classes_file": self.classes_file,
            },
            "layouts": self.layouts,
            "variations": self.variations,
            "noise_seeds": self.noise_seeds,
            "device": self.device,
        }


@dataclass(frozen=True)
class Batch:
    """One evaluated layout: its label map, its real photo and the images generated from it."""

    index: int  # position among the evaluated layouts (0 .. layouts - 1)
    labels: np.ndarray  # (H, W) int64 class ids, the dataset's
    real: np.ndarray  # (H, W, 3) uint8
    generated: np.ndarray  # (V, H, W, 3) uint8, V = variations (1 for a model without 3D noise)
    noise: torch.Tensor | None  # (V, z, H, W) noise of the variations; None for a model without 3D noise


def layout_and_photo(item: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A :class:`~training.data.SegmentationDataset` item as measures see it: (H, W) int64 labels and the
    (H, W, 3) uint8 photo."""
    photo = ((item["image"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return item["labels"].numpy(), photo


@dataclass(frozen=True)
class EvalContext:
    """What a measure factory may use: the options, the model, the split's classes, the judge."""

    opts: EvalOptions
    synth: Synthesizer
    info: DatasetInfo  # the evaluated split's dataset: its class names and don't-care id are the ones used
    variations: int
    judge: Judge | None
    log: Callable[[str], None]

    @property
    def device(self) -> torch.device:
        return self.synth.device

    @property
    def size(self) -> tuple[int, int]:
        return self.synth.size

    def read_split(self, split: str, limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(labels, photo) of the first `limit` usable pairs of a split of the evaluated dataset (for a measure
        that compares with other photos, such as the training split's), resized as the evaluated layouts are."""
        from ..data import SegmentationDataset, validate

        pairs = validate(self.opts.dataset, self.opts.dataroot, split, self.opts.classes_file).pairs
        ds = SegmentationDataset(self.info, pairs[:limit] if limit else pairs, self.size, train=False)
        for k in range(len(ds)):
            yield layout_and_photo(ds[k])


@dataclass(frozen=True)
class SummaryRow:
    """A row of the report's summary table."""

    measure: str
    value: str
    detail: str = ""

    def markdown(self) -> str:
        return (
            f"| {self.measure} | {self.value} | {self.detail} |"
            if self.detail
            else f"| {self.measure} | {self.value} | |"
        )


class MeasureResult:
    """A measure's figures, already rounded as stored; subclasses are frozen dataclasses."""

    def to_json(self) -> dict[str, Any]:
        """The result's top-level entries of ``metrics.json``."""
        raise NotImplementedError

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        return []

    def sections(self, run: RunInfo) -> list[str]:
        """Markdown lines of the result's own report sections, each ending with a blank line."""
        return []

    def notes(self) -> list[str]:
        """Caveats for ``metrics.json``'s ``notes`` (and the report's Notes)."""
        return []

    def footnotes(self) -> list[str]:
        """Explanations for the report's Notes only (``to_json`` has them under the result's own key)."""
        return []

    def headline(self) -> str | None:
        """The result in a few words for the command line's one-line summary; None: not shown there."""
        return None


@dataclass(frozen=True)
class NotComputed(MeasureResult):
    """A measure that could not run: its entries null in ``metrics.json`` with the reason beside them (under
    ``<first key>_reason``) and a 'not computed' summary row. Without a reason it is only null."""

    keys: tuple[str, ...]
    label: str  # its summary-table name
    reason: str | None
    short_name: str | None = None  # its name in the command line's summary; None: left out there
    status: str = "not computed"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(self.keys)
        if self.reason is not None:
            out[f"{self.keys[0]}_reason"] = self.reason
        return out

    def summary(self, run: RunInfo) -> list[SummaryRow]:
        return [SummaryRow(self.label, self.status, self.reason)] if self.reason is not None else []

    def headline(self) -> str | None:
        return f"{self.short_name} n/a" if self.short_name else None


class Measure(Protocol):
    def update(self, batch: Batch) -> None: ...

    def result(self) -> MeasureResult: ...


MeasureFactory = Callable[[EvalContext], Measure]


class Skipped:
    """The measure of something that cannot be measured in this run: it ignores the layouts."""

    def __init__(self, why: NotComputed) -> None:
        self.why = why

    def update(self, batch: Batch) -> None:
        pass

    def result(self) -> NotComputed:
        return self.why
