"""The thin layer between widgets, the document and the inference worker: user intent -> edits and requests."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject, QTimer, Signal

from oasis_core import (
    LabelError,
    ModelConfig,
    OasisModel,
    Synthesizer,
    image_to_rgb,
    read_label_png,
    save_label_png,
)
from oasis_core import noise as noise_ops
from oasis_core.labels import open_image

from . import project
from .document import Document
from .history import History, Variation
from .interpolation import End, Interpolation
from .worker import (
    Done,
    Job,
    Kind,
    Loaded,
    ModelRequest,
    Request,
    SynthFactory,
    WorkerThread,
    error_message,
    make_synthesizer,
)

LIVE_DELAY_MS = 300
MAX_UI_SEED = 2**31 - 1  # what a QSpinBox can show
FAILURE_TITLES = {Kind.GENERATE: "Generation failed", Kind.FRAMES: "Generation failed", Kind.SEGMENT: "Photo to layout"}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str  # what loads it again (see `model_sources`)
    folder: Path | None  # where a model card (README.md) may be
    config: ModelConfig
    can_segment: bool
    description: str  # device and precision
    device: str  # the device and precision settings in effect
    precision: str


class _ModelReads(QObject):
    """Brings the result of a model read in a thread of its own to the GUI thread."""

    read = Signal(object)  # ModelRequest
    failed = Signal(int, str)  # seq, message


class Controller(QObject):
    document_changed = Signal(object)  # the new Document
    model_changed = Signal(object)  # ModelInfo
    model_failed = Signal(str)
    device_described = Signal(str)
    busy_changed = Signal(bool)
    latency = Signal(float)  # seconds of the last generation
    error = Signal(str, str)  # title, message
    notice = Signal(str)
    status = Signal(str)  # a passing note for the status bar
    history_changed = Signal()
    frames_changed = Signal()

    def __init__(self, synth_factory: SynthFactory = make_synthesizer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = WorkerThread(synth_factory)
        self.worker = self._thread.worker
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.notice.connect(self.notice)
        self.worker.described.connect(self._on_described)
        self.worker.busy_changed.connect(self.busy_changed)
        self._reads = _ModelReads()  # no parent: a read still running when the controller goes keeps it alive
        self._reads.read.connect(self._on_model_read)
        self._reads.failed.connect(self._on_model_failed)
        self.document: Document | None = None
        self.model: ModelInfo | None = None
        self._loading: dict[int, tuple[str, Path | None]] = {}  # model request seq -> source, folder
        self._seq = 0
        self._latest_model: int | None = None  # the model request whose result is wanted
        self._latest: dict[Kind, int] = {}  # per kind, the request whose result is wanted
        self._rng = random.Random()
        self.live = False
        self.lock_noise = True
        self.history = History()
        self.interpolation = Interpolation()
        self._pending_layout: np.ndarray | None = None  # a photo's layout that waits for the open stroke to end
        self._live_timer = QTimer(self, singleShot=True, interval=LIVE_DELAY_MS)
        self._live_timer.timeout.connect(self.generate)

    def shutdown(self) -> None:
        self._live_timer.stop()
        self._thread.stop()

    # ---- models ----------------------------------------------------------------------------------
    def load_model(
        self,
        loader: Callable[[], OasisModel],
        source: str,
        folder: Path | None,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        """Read the model in a thread of its own, then build its synthesizer in the worker; `model_changed` or
        `model_failed` follows. Reading may take long (a Hub download and its retries): the current model works
        on meanwhile, and `cancel_load` abandons the read."""
        seq = self._latest_model = self._next_seq()
        self._loading[seq] = (source, folder)
        reads = self._reads

        def read() -> None:
            try:
                model = loader()
            except Exception as e:  # every failure must reach the user
                reads.failed.emit(seq, error_message(e))
                return
            reads.read.emit(ModelRequest(seq, model, device, precision))

        # A daemon: a download that hangs must not keep the app from quitting.
        threading.Thread(target=read, name="oasis-model-read", daemon=True).start()

    def cancel_load(self) -> None:
        """Abandon the model load in progress: the current model stays, and the load's late result is dropped; a
        synthesizer the worker is building for it is thrown away when done and the current model's built again."""
        seq, self._latest_model = self._latest_model, None
        if seq is not None and self.worker.cancel_load(seq):
            del self._loading[seq]

    def _on_model_read(self, request: ModelRequest) -> None:
        if request.seq != self._latest_model:
            del self._loading[request.seq]  # cancelled, or a newer load was asked for: never used
            return
        self.worker.load(request)

    def reconfigure(self, device: str, precision: str) -> None:
        """Rebuild the synthesizer of the current model on another device or precision."""
        if self.model is not None:
            seq = self._latest_model = self._next_seq()
            self._loading[seq] = (self.model.source, self.model.folder)
            self.worker.load(ModelRequest(seq, None, device, precision))

    def _on_model_ready(self, seq: int, loaded: Loaded) -> None:
        # Even a load that a newer request follows is the worker's model now: mirror it.
        source, folder = self._loading.pop(seq)
        cfg = loaded.model.config
        old = self.model
        self.model = ModelInfo(
            cfg.name or source,
            source,
            folder,
            cfg,
            loaded.model.has_discriminator,
            loaded.description,
            loaded.device,
            loaded.precision,
        )
        if old is None or old.config != cfg or self.document is None:
            self._new_document(cfg)  # cancels the requests queued for the old document
        self.worker.resume()
        self.model_changed.emit(self.model)
        if loaded.problem:
            message = f"{loaded.problem}\n\nThe model runs on {loaded.description}."
            self.error.emit("Device settings not applied", message)

    def _on_model_failed(self, seq: int, message: str) -> None:
        self._loading.pop(seq)
        if seq == self._latest_model:
            self.model_failed.emit(message)

    def _on_described(self, description: str) -> None:
        if self.model is not None:
            self.model = dataclasses.replace(self.model, description=description)
            self.device_described.emit(description)

    def _new_document(self, cfg: ModelConfig, keep_layout: bool = True) -> None:
        doc = Document(cfg, seed=0, parent=self)
        old = self.document
        if keep_layout and old is not None and old.config.label_nc == cfg.label_nc:
            # Another model for the same classes: the painted layout carries over (resized, nearest).
            t = torch.from_numpy(old.labels.astype(np.int64))[None]
            doc.labels[...] = noise_ops.resize_nearest(t, doc.shape)[0].numpy()
            if (doc.labels != cfg.semantic_ids[0]).any():
                doc.mark_modified()  # the painting that came along is saved nowhere for this model
        self._attach(doc)

    def _attach(self, doc: Document) -> None:
        if self.document is not None:
            self.document.edit_finished.disconnect(self._on_edit)
            self.document.stroke_ended.disconnect(self._apply_pending_layout)
            self.document.selection_changed.disconnect(self._on_selection)
            self.document.deleteLater()
        self.document = doc
        doc.edit_finished.connect(self._on_edit)
        doc.stroke_ended.connect(self._apply_pending_layout)
        doc.selection_changed.connect(self._on_selection)
        self._pending_layout = None
        # Work for the old document: queued requests go, results still on their way become stale.
        self.worker.cancel()
        for kind in (Kind.GENERATE, Kind.SEGMENT):
            self._latest.pop(kind, None)
        self.history.clear()
        self.interpolation.forget_ends()
        self._clear_frames()
        self.history_changed.emit()
        self.document_changed.emit(doc)

    # ---- generation ------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _submit(self, kind: Kind, job: Job, done: Done) -> None:
        """Queue `job`; `done` gets its result unless a newer request of its kind (or another document) came."""
        seq = self._latest[kind] = self._next_seq()
        self.worker.submit(Request(kind, seq, job, done))

    def _wanted(self, request: Request) -> bool:
        return request.seq == self._latest.get(request.kind) and self.document is not None

    def generate(self) -> None:
        """Queue a generation of the current layout and noise; a newer request replaces it."""
        doc = self.document
        if doc is None or self.model is None:
            return
        self._live_timer.stop()
        labels, z, seed, plain = doc.labels.copy(), doc.noise, doc.seed, doc.noise_is_plain()
        self._submit(
            Kind.GENERATE,
            lambda s: s.generate(labels, z),
            lambda image, seconds: self._generated(Variation(seed, z, image, plain), seconds),
        )
        if self.interpolation.stale:
            self.make_frames()  # after the generation: the worker runs it first, the frames in chunks after

    def set_live(self, on: bool) -> None:
        self.live = on
        if on:
            self.generate()

    def _on_edit(self, changed: np.ndarray, undone: bool) -> None:
        """`undone`: an Undo or Redo, which brings back its own noise: re-rolling it would lose that picture."""
        doc = self.document
        if doc is None:
            return
        if not self.lock_noise and not undone and doc.noise is not None:
            doc.reroll_noise(changed, self._new_seed(), with_last_edit=True)
        if self.interpolation.has_ends:
            self._outdate_frames("layout")
        if self.live:
            self._live_timer.start()  # restarted by every edit: a burst gives one generation

    def _on_selection(self) -> None:
        if self.document is not None and self.interpolation.outdated_by(self.document.selection):
            self._outdate_frames("selection")

    def _outdate_frames(self, what: str) -> None:
        self.interpolation.stale = what  # remade with the next generation
        self._clear_frames()

    def _new_seed(self) -> int:
        return self._rng.randint(0, MAX_UI_SEED)

    def new_variation(self, seed: int | None = None) -> None:
        """Global re-roll: noise from a new (or the given) seed, then generate."""
        if self.document is None or not self.document.config.noise_3d:
            return
        self.document.set_seed(self._new_seed() if seed is None else seed)
        self.generate()

    def reroll_selection(self) -> bool:
        doc = self.document
        if doc is None or doc.noise is None or doc.selection is None:
            return False
        doc.reroll_noise(doc.selection, self._new_seed())
        self.generate()
        return True

    def reroll_class(self, class_id: int) -> bool:
        doc = self.document
        if doc is None or doc.noise is None or not (doc.labels == class_id).any():
            return False
        doc.reroll_noise(doc.labels == class_id, self._new_seed())
        self.generate()
        return True

    def _on_finished(self, request: Request, result: Any, seconds: float) -> None:
        if self._wanted(request):
            request.done(result, seconds)

    def _generated(self, variation: Variation, seconds: float) -> None:
        self._need_document().set_image(variation.image)
        self.latency.emit(seconds)
        self._remember(variation)

    def _segmented(self, labels: np.ndarray, note: str) -> None:
        self._pending_layout = labels
        if note:
            self.status.emit(note)
        if not self._need_document().in_stroke:  # else when it ends: the stroke and the photo stay two undo steps
            self._apply_pending_layout()

    def _apply_pending_layout(self) -> None:
        if self._pending_layout is None or self.document is None:
            return
        labels, self._pending_layout = self._pending_layout, None
        self.document.set_labels(labels, "Photo to layout")
        self.generate()

    def _on_failed(self, request: Request, message: str) -> None:
        if request.seq != self._latest.get(request.kind):
            return
        if request.kind is Kind.FRAMES:
            self._clear_frames()  # the chunks made so far are no use without the others
        self.error.emit(FAILURE_TITLES[request.kind], message)

    # ---- history ---------------------------------------------------------------------------------
    def _remember(self, variation: Variation) -> None:
        self.history.remember(variation)
        self.history_changed.emit()

    def restore_variation(self, index: int) -> None:
        v = self.history[index]
        doc = self.document
        if doc is None:
            return
        doc.set_noise(v.noise, seed=v.seed, plain=v.plain)
        doc.set_image(v.image)
        # The stored image was made with the layout of its time; bring it up to date if that changed.
        self.generate()

    def current_variation(self) -> int | None:
        """The history entry whose noise the document holds, if any."""
        return None if self.document is None else self.history.index_of(self.document.noise)

    # ---- interpolation ---------------------------------------------------------------------------
    def set_interp_end(self, which: End) -> None:
        """Take the current noise as end point "a" or "b"; frames follow once both are set."""
        if self.document is None or self.document.noise is None:
            return
        self.interpolation.set_end(which, self.document.noise, self.document.seed)
        self.make_frames()

    def set_interp_in_selection(self, on: bool) -> None:
        self.interpolation.in_selection = on
        self.make_frames()

    def make_frames(self) -> None:
        """All frames in the background, so that scrubbing the slider is instant."""
        self._clear_frames()
        doc = self.document
        if doc is None or not self.interpolation.start(doc.labels, doc.selection):
            return
        self._submit_frames()
        self.frames_changed.emit()  # now pending

    def _submit_frames(self) -> None:
        self._submit(Kind.FRAMES, self.interpolation.next_job(), lambda images, _: self._frames_made(images))

    def _frames_made(self, images: np.ndarray) -> None:
        if not self.interpolation.add(images):
            self._submit_frames()
            return
        del self._latest[Kind.FRAMES]
        index = self.current_frame()
        if index is not None:
            self.show_frame(index)  # the document showed this frame: now the remade one
        self.frames_changed.emit()

    @property
    def frames_pending(self) -> bool:
        return Kind.FRAMES in self._latest

    def _clear_frames(self) -> None:
        self._latest.pop(Kind.FRAMES, None)  # a frames result still on its way is stale now
        self.interpolation.clear_frames()
        self.frames_changed.emit()

    def current_frame(self) -> int | None:
        """The frame whose noise the document holds (set as A or B, or scrubbed to), if any."""
        return None if self.document is None else self.interpolation.current(self.document.noise)

    def show_frame(self, index: int) -> None:
        """Make frame `index` current: its image at once, and its noise for what follows."""
        doc = self.document
        frame = None if doc is None else self.interpolation.show(index, doc.noise)
        if doc is None or frame is None:
            return
        doc.set_noise(frame.noise, seed=frame.seed, plain=frame.plain)
        doc.set_image(frame.image)

    def export_gif(self, path: str | Path, frame_ms: int = 80) -> int:
        """Write the frames as a looping GIF; returns its number of frames."""
        if self.interpolation.frames is None:
            raise ValueError("make the interpolation frames first (set A and B)")
        frames = [Image.fromarray(f) for f in self.interpolation.frames]
        loop = frames + frames[-2:0:-1]  # there and back again
        loop[0].save(path, format="GIF", save_all=True, append_images=loop[1:], duration=frame_ms, loop=0)
        return len(loop)

    # ---- files -----------------------------------------------------------------------------------
    def open_labels(self, path: str | Path, undo_name: str = "Open layout") -> list[str]:
        """Load a label PNG into the canvas (one undo step); returns warnings. Raises LabelError."""
        doc = self._need_document()
        loaded = read_label_png(path, doc.config, size=doc.shape)  # a huge file is mapped at the canvas size
        doc.set_labels(loaded.labels, undo_name)
        if self.live:
            self.generate()
        return loaded.warnings

    def save_labels(self, path: str | Path) -> None:
        doc = self._need_document()
        save_label_png(path, doc.labels, doc.config)

    def export_image(self, path: str | Path, default_suffix: str = ".png") -> Path:
        """Save the result as PNG, JPEG or another type PIL writes (`default_suffix` when the name has none);
        returns the path written."""
        doc = self._need_document()
        if doc.image is None:
            raise ValueError("there is no image yet: generate one first")
        path = Path(path)
        if not path.suffix:
            path = path.with_name(path.name + default_suffix)
        if Image.registered_extensions().get(path.suffix.lower()) not in Image.SAVE:
            raise ValueError(f"{path.name}: '{path.suffix}' is not an image type that can be saved; use .png or .jpg")
        Image.fromarray(doc.image).save(path, quality=95)
        return path

    def project_data(self) -> project.ProjectData:
        doc = self._need_document()
        info = self.model
        return project.ProjectData(
            doc.labels.copy(), doc.seed, doc.noise, doc.image, info.name if info else "", info.source if info else ""
        )

    def save_project(self, path: str | Path) -> None:
        doc = self._need_document()
        project.save_project(path, self.project_data(), doc.config)
        doc.mark_saved()

    def open_project(self, path: str | Path) -> list[str]:
        """Replace the document by a project; the current one is untouched if the file is bad."""
        doc = self._need_document()
        data = project.load_project(path, doc.config)
        new = Document(doc.config, seed=data.seed, parent=self)
        new.labels[...] = data.labels
        if data.noise is not None:
            new.noise = data.noise
        new.image = data.image
        new.mark_saved()
        self._attach(new)
        if new.image is not None:
            self._remember(Variation(new.seed, new.noise, new.image, new.noise_is_plain()))
        return data.warnings

    def segment_photo(self, path: str | Path) -> None:
        """Photo -> layout with the model's discriminator, decoded and segmented in the background (a large photo
        takes seconds to decode); an unreadable one is reported through `error`."""
        shape = self._need_document().shape
        if self.model is None or not self.model.can_segment:
            raise RuntimeError("this model has no discriminator, so it cannot turn photos into layouts")
        self._submit(Kind.SEGMENT, lambda s: _photo_layout(s, path, shape), lambda result, _: self._segmented(*result))

    def _need_document(self) -> Document:
        if self.document is None:
            raise RuntimeError("no model is loaded yet: open a model first")
        return self.document


def _photo_layout(synth: Synthesizer, path: str | Path, shape: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Runs in the worker: the photo, reduced to the canvas size, segmented; and a note when it was larger."""
    h, w = shape
    try:
        im = open_image(path, "photo")
        rgb = image_to_rgb(im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
    except LabelError as e:
        raise LabelError(f"{path}: {e}") from e
    except (OSError, ValueError) as e:
        raise LabelError(f"{path}: not a readable photo ({e})") from e
    larger = im.width * im.height > w * h
    note = f"The {im.width}x{im.height} photo was segmented at the model's {w}x{h}" if larger else ""
    return synth.segment(rgb), note
