"""One evaluation run: generate N variations per validation layout and measure them against the real images.

:func:`evaluate` sets up the model, the split and the judge, builds the measures of a measure list
(:data:`DEFAULT_MEASURES`; see :mod:`.protocol` for what a measure is), feeds them one layout at a time
and returns an :class:`Evaluation` of typed results; :mod:`.report` turns it into files. Measures that need
weights that are not there (FID/KID without the Inception file, mIoU without a judge, LPIPS) come out as
``null`` with a ``*_reason`` saying why; the others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch

from oasis_core import noise as noise_ops

from .measures import ColorTexture, FrechetInception, JudgeMIoU, LPIPSDiversity, MSSSIMDiversity
from .protocol import Batch, EvalContext, Measure, MeasureFactory, MeasureResult, RunInfo, layout_and_photo, rounded
from .realism import PhotoToLayout, Realism

if TYPE_CHECKING:
    from oasis_core import Synthesizer

    from ..data import DatasetInfo, Pair, ValidationReport
    from .judge import Judge

__all__ = ["DEFAULT_MEASURES", "ContactSheet", "EvalError", "EvalOptions", "Evaluation", "LocalReroll", "evaluate"]

# What an evaluation measures, in the order of metrics.json and of the report's summary table and notes.
DEFAULT_MEASURES: tuple[MeasureFactory, ...] = (
    FrechetInception.create,
    Realism.create,
    JudgeMIoU.create,
    PhotoToLayout.create,
    MSSSIMDiversity.create,
    LPIPSDiversity.create,
    ColorTexture.create,
)


class EvalError(RuntimeError):
    """An evaluation that cannot run (model and dataset do not match, no pairs, bad judge)."""


@dataclass
class EvalOptions:
    model: str
    dataset: str
    dataroot: str
    classes_file: str | None = None
    split: str = "val"
    judge: str | None = None
    variations: int = 3
    limit: int | None = None
    device: str = "auto"
    inception_weights: str | None = None
    download_inception: bool = False  # without inception_weights: fetch pytorch-fid's file into torch.hub's cache
    lpips_weights: list[str] | None = None
    seed: int = 0
    contact_rows: int = 8
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


# ---- the contact sheet and its local re-roll ---------------------------------------------------------


def contact_indices(count: int, rows: int) -> set[int]:
    """Which of `count` layouts the contact sheet shows: `rows` spread evenly over the split, since neighbours in
    a video dataset (CamVid) are near-identical frames."""
    return set(np.linspace(0, count - 1, min(rows, count)).round().astype(int).tolist()) if count else set()


def _reroll_class(labels: np.ndarray, ignore: int | None) -> int:
    """The layout's largest class (not don't-care): the region the contact sheet re-rolls."""
    counts = np.bincount(labels.ravel())
    if ignore is not None and ignore < len(counts):
        counts[ignore] = 0
    return int(counts.argmax())


def reroll_largest_class(
    synth: Synthesizer, labels: np.ndarray, noise: torch.Tensor, seed: int, ignore: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The image of `noise` (1, z, H, W) re-sampled from `seed` only on the layout's largest class, and that
    class's mask: the sample sheets' local re-roll."""
    mask = labels == _reroll_class(labels, ignore)
    fresh = noise_ops.resample(noise, mask, seed, pixel_channels=synth.config.noise_pixel_channels)
    return synth.generate(labels, fresh), mask


def _change_inside_outside(
    before: np.ndarray, after: np.ndarray, mask: np.ndarray, margin: int = 8
) -> tuple[float, float]:
    """Mean absolute RGB change inside `mask` and outside it beyond `margin` pixels (the generator's convolutions
    legitimately carry a change a little past the region's border)."""
    diff = np.abs(after.astype(np.float32) - before.astype(np.float32)).mean(-1)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    inside = float(diff[mask].mean()) if mask.any() else 0.0
    outside = float(diff[~near].mean()) if (~near).any() else 0.0
    return inside, outside


def outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the border of `mask` drawn in magenta."""
    m = mask.astype(np.uint8)
    edge = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - m).astype(bool)
    out = image.copy()
    out[edge] = (255, 0, 255)
    return out


@dataclass(frozen=True)
class LocalReroll:
    """Mean RGB change of the contact-sheet rows' local re-roll, inside the re-rolled class and far outside."""

    change_inside: float | None
    change_outside: float | None
    layouts: int

    NOTE = (
        "contact-sheet rows: variation 1 with its noise re-sampled only on the pixels of the layout's largest "
        "class; mean absolute RGB change (0-255) inside that region and outside it, more than 8 px away"
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "change_inside": self.change_inside,
            "change_outside": self.change_outside,
            "layouts": self.layouts,
            "note": self.NOTE,
        }


@dataclass(frozen=True)
class ContactSheet:
    """The contact sheet's rows (layout | real | variations [| variation 1 re-rolled]) and column titles."""

    rows: list[list[np.ndarray]]
    columns: list[str]
    reroll: LocalReroll | None  # None for a model without 3D noise


class ContactSheetRows:
    """Collects the contact sheet as a measure does: the rows of `rows` layouts spread over the split, each with
    variation 1 re-rolled on its largest class (models with 3D noise)."""

    def __init__(self, synth: Synthesizer, layouts: int, rows: int, variations: int, seed: int, ignore: int | None):
        self.synth, self.variations, self.seed, self.ignore = synth, variations, seed, ignore
        self.shown = contact_indices(layouts, rows)
        self.rows: list[list[np.ndarray]] = []
        self.changes: list[tuple[float, float]] = []

    def update(self, batch: Batch) -> None:
        if batch.index not in self.shown:
            return
        from oasis_core import colorize

        row = [colorize(batch.labels, self.synth.config), batch.real, *batch.generated]
        if batch.noise is not None:
            seed = self.seed + 7 + batch.index
            rerolled, mask = reroll_largest_class(self.synth, batch.labels, batch.noise[:1], seed, self.ignore)
            self.changes.append(_change_inside_outside(batch.generated[0], rerolled, mask))
            row.append(outline(rerolled, mask))
        self.rows.append(row)

    def result(self) -> ContactSheet:
        columns = ["layout", "real", *(f"generated {i + 1}" for i in range(self.variations))]
        if not self.changes:
            return ContactSheet(self.rows, columns, None)
        inside, outside = (float(np.mean(v)) for v in zip(*self.changes))
        reroll = LocalReroll(rounded(inside), rounded(outside), len(self.changes))
        return ContactSheet(self.rows, [*columns, "1, re-rolled inside the outline"], reroll)


# ---- the run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Everything an evaluation found: what ``metrics.json``, ``report.md`` and ``contact_sheet.png`` hold."""

    run: RunInfo
    results: list[MeasureResult]  # in the order of the measure list
    sheet: ContactSheet
    notes: list[str]  # set-up notes, then the results' notes
    seconds: float
    generation_seconds: float

    def to_json(self) -> dict[str, Any]:
        out = self.run.to_json()
        for r in self.results:
            out.update(r.to_json())
        if self.sheet.reroll is not None:
            out["local_reroll"] = self.sheet.reroll.to_json()
        out["contact_sheet_columns"] = self.sheet.columns
        out["notes"] = self.notes
        out["seconds"] = {"total": round(self.seconds, 1), "generation": round(self.generation_seconds, 1)}
        return out


@dataclass(frozen=True)
class _Setup:
    synth: Synthesizer
    info: DatasetInfo
    pairs: list[Pair]  # the evaluated pairs
    split_index: dict[str, int]  # pair name -> position in the whole split (its noise seeds)
    variations: int
    notes: list[str]


def _check_split(cfg: Any, rep: ValidationReport, opts: EvalOptions) -> list[str]:
    """Refuse a model for other classes or an empty split; the notes on what else differs."""
    info = rep.info
    if info.label_nc != cfg.label_nc:
        raise EvalError(
            f"the model has {cfg.label_nc} label channels but the dataset {info.label_nc} "
            f"({', '.join(info.class_names)}); evaluate a model on the dataset it was trained for"
        )
    notes = []
    if tuple(info.class_names) != tuple(cfg.class_names):
        notes.append(f"class names differ between model and dataset; the dataset's are used: {list(info.class_names)}")
    if cfg.dont_care_id != info.dont_care_id:
        notes.append(f"don't-care id: model {cfg.dont_care_id}, dataset {info.dont_care_id}; the dataset's is used")
    if rep.problems:
        notes.append(f"{len(rep.problems)} problem(s) in the {opts.split} split; those pairs are skipped")
    return notes


def _set_up(opts: EvalOptions) -> _Setup:
    from oasis_core import Synthesizer, load_model

    from ..data import validate

    model = load_model(opts.model)
    cfg = model.config
    synth = Synthesizer(model, device=opts.device)
    rep = validate(opts.dataset, opts.dataroot, opts.split, opts.classes_file)
    notes = _check_split(cfg, rep, opts)
    pairs = rep.pairs[: opts.limit] if opts.limit else rep.pairs
    if not pairs:
        raise EvalError(f"no usable image/label pairs in the {opts.split} split:\n{rep.format()}")
    variations = max(1, int(opts.variations)) if cfg.noise_3d else 1
    if not cfg.noise_3d:
        notes.append("the model has no 3D noise: one image per layout; diversity is not measured")
    split_index = {p.name: i for i, p in enumerate(rep.pairs)}
    return _Setup(synth, rep.info, pairs, split_index, variations, notes)


def _load_judge(opts: EvalOptions, info: DatasetInfo, device: torch.device, notes: list[str]) -> Judge | None:
    """The judge the user named, checked before anything runs: a judge that does not fit is an error."""
    if not opts.judge:
        return None
    from .judge import JudgeError, load_judge

    try:
        judge, warnings = load_judge(
            opts.judge, info.label_nc, info.dont_care_id, tuple(info.class_names), device=device
        )
    except JudgeError as e:
        raise EvalError(f"judge: {e}") from e
    notes.extend(f"judge: {w}" for w in warnings)
    return judge


def _seeds(index: int, variations: int, base: int) -> list[int]:
    """Noise seeds of layout ``index`` (its position in the split): fixed, whatever --limit is."""
    return [base + index * 1000 + v for v in range(variations)]


def evaluate(
    opts: EvalOptions, log: Callable[[str], None] = print, measures: Sequence[MeasureFactory] = DEFAULT_MEASURES
) -> Evaluation:
    """Generate the split's variations and run `measures` over them, one layout at a time."""
    from tqdm import tqdm

    from ..data import SegmentationDataset

    t0 = time.perf_counter()
    s = _set_up(opts)
    synth, cfg = s.synth, s.synth.config
    judge = _load_judge(opts, s.info, synth.device, s.notes)
    ctx = EvalContext(opts, synth, s.info, s.variations, judge, log)
    active: list[Measure] = [create(ctx) for create in measures]
    sheet = ContactSheetRows(synth, len(s.pairs), opts.contact_rows, s.variations, opts.seed, s.info.dont_care_id)
    ds = SegmentationDataset(s.info, s.pairs, synth.size, train=False)
    gen_seconds = 0.0
    for k in tqdm(range(len(ds)), desc="oasis-eval", unit="layout", disable=not opts.progress):
        labels, real = layout_and_photo(ds[k])
        tg = time.perf_counter()
        index = s.split_index[s.pairs[k].name]
        noise = synth.sample_noise(_seeds(index, s.variations, opts.seed)) if cfg.noise_3d else None
        generated = synth.generate_batch(labels, noise)
        gen_seconds += time.perf_counter() - tg
        batch = Batch(k, labels, real, generated, noise)
        for m in active:
            m.update(batch)
        sheet.update(batch)

    results = [m.result() for m in active]
    run = RunInfo(
        str(opts.model), cfg.name, (cfg.height, cfg.width), cfg.label_nc, opts.dataset, str(opts.dataroot),
        opts.split, opts.classes_file, len(s.pairs), s.variations,
        f"seed {opts.seed} + 1000 * (index of the layout in the split) + variation (global 3D noise)",
        synth.describe(),
    )  # fmt: skip
    notes = s.notes + [n for r in results for n in r.notes()]
    return Evaluation(run, results, sheet.result(), notes, time.perf_counter() - t0, gen_seconds)
