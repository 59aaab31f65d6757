"""The one thread that owns the Synthesizer. Requests carry a sequence number; per kind only the newest
pending request is kept, so bursts coalesce and stale work is dropped before it runs. A request's result goes back
to the GUI thread with the request, whose `done` the GUI calls if the result is still wanted.

A model is read elsewhere (a download may take long) and handed over ready; building its synthesizer here either
succeeds or leaves the previous model working. After a new model has loaded, queued requests wait until the GUI
says which of them still fit (`resume`, after `cancel` when the document was replaced)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, cast

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from oasis_core import OasisModel, Synthesizer
from oasis_core.synthesizer import Precision

SynthFactory = Callable[[OasisModel, str, str], Any]  # (model, device, precision) -> Synthesizer-like
Job = Callable[[Any], Any]  # runs on the worker thread with the synthesizer
Done = Callable[[Any, float], None]  # runs on the GUI thread with a job's result and the seconds it took


class Kind(Enum):
    """One pending request per kind; the worker takes them in this order (interactive work first)."""

    GENERATE = auto()
    SEGMENT = auto()
    FRAMES = auto()


@dataclass
class Request:
    kind: Kind
    seq: int
    job: Job
    done: Done


@dataclass
class ModelRequest:
    seq: int
    model: OasisModel | None  # None: rebuild the synthesizer of the current model
    device: str
    precision: str


@dataclass(frozen=True)
class Loaded:
    """A model that is ready, with its synthesizer's description and the device settings in effect."""

    model: OasisModel
    description: str
    device: str
    precision: str
    problem: str  # why the requested device settings are not the ones in effect; "" when they are


def make_synthesizer(model: OasisModel, device: str, precision: str) -> Synthesizer:
    """The default SynthFactory. The settings are strings; the Synthesizer refuses an unknown precision."""
    return Synthesizer(model, device, cast(Precision, precision))


def error_message(e: BaseException) -> str:
    return str(e) or e.__class__.__name__


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


class InferenceWorker(QObject):
    """Lives in its own QThread. Call `submit` / `load` from the GUI thread; results come back as signals."""

    finished = Signal(object, object, float)  # Request, result, seconds
    failed = Signal(object, str)  # Request, message
    model_ready = Signal(int, object)  # seq, Loaded
    model_failed = Signal(int, str)
    notice = Signal(str)  # e.g. a fallback to the CPU after a GPU out-of-memory
    described = Signal(str)  # the synthesizer changed device or precision
    busy_changed = Signal(bool)
    _wake = Signal()

    def __init__(self, synth_factory: SynthFactory = make_synthesizer) -> None:
        super().__init__()
        self._factory = synth_factory
        self._lock = threading.Lock()
        self._pending: dict[Kind, Request] = {}
        self._pending_model: ModelRequest | None = None
        self._building: int | None = None  # seq of the model request whose synthesizer is being built
        self._cancelled: int | None = None  # ... and that seq again once it was cancelled meanwhile
        self._model: OasisModel | None = None
        self._synth: Any = None
        self._settings = ("auto", "auto")  # device and precision of the working synthesizer
        self._held = False  # a new model loaded: requests wait for `resume`
        self._wake.connect(self._run_pending)  # queued: the slot runs in the worker's thread

    # ---- GUI-thread side -------------------------------------------------------------------------
    def submit(self, request: Request) -> None:
        with self._lock:
            self._pending[request.kind] = request  # replaces (drops) an older request of this kind
        self._wake.emit()

    def load(self, request: ModelRequest) -> None:
        """Requests already queued stay: they still fit if the load fails, reconfigures or keeps the document."""
        with self._lock:
            self._pending_model = request
        self._wake.emit()

    def cancel(self) -> None:
        """Drop every queued request (they were made for a document that is gone)."""
        with self._lock:
            self._pending.clear()

    def cancel_load(self, seq: int) -> bool:
        """Drop model request `seq`. True if it had not started; False if it had: a synthesizer being built for it
        is then thrown away and the previous one comes back (`model_failed` follows), or it was done already."""
        with self._lock:
            if self._pending_model is not None and self._pending_model.seq == seq:
                self._pending_model = None
                return True
            if self._building == seq:
                self._cancelled = seq
            return False

    def resume(self) -> None:
        """Run queued requests again after a new model: the GUI has attached its document (or kept the old)."""
        with self._lock:
            self._held = False
        self._wake.emit()

    # ---- worker-thread side ----------------------------------------------------------------------
    def _take(self) -> Request | ModelRequest | None:
        with self._lock:
            if self._pending_model is not None:
                req, self._pending_model = self._pending_model, None
                self._building, self._cancelled = req.seq, None
                return req
            if self._held:
                return None
            for kind in Kind:
                if kind in self._pending:
                    return self._pending.pop(kind)
        return None

    @Slot()
    def _run_pending(self) -> None:
        req = self._take()
        if req is None:
            return
        self.busy_changed.emit(True)
        while req is not None:
            if isinstance(req, ModelRequest):
                try:
                    self._load(req)
                finally:
                    with self._lock:
                        self._building = self._cancelled = None
            else:
                self._run(req)
            req = self._take()
        self.busy_changed.emit(False)

    def _load(self, req: ModelRequest) -> None:
        model = req.model if req.model is not None else self._model
        if model is None:
            self.model_failed.emit(req.seq, "no model is loaded")
            return
        wanted = (req.device, req.precision)
        self._synth = None  # free the old one (GPU memory) before building the next
        errors = []
        # A device or precision this machine lacks falls back to the settings that worked so far.
        for settings in dict.fromkeys([wanted, self._settings]):
            try:
                synth = self._factory(model, *settings)
            except Exception as e:  # whatever the cause: try the settings that worked
                errors.append(error_message(e))
                continue
            with self._lock:
                cancelled = self._cancelled == req.seq
                if not cancelled and req.model is not None:
                    self._held = True
            if cancelled:
                del synth  # before the previous model's is built again (GPU memory)
                errors.insert(0, "the load was cancelled")
                break
            self._synth = synth
            self._model, self._settings = model, settings
            problem = (
                f"Could not use device '{req.device}' with precision '{req.precision}': {errors[0]}" if errors else ""
            )
            self.model_ready.emit(req.seq, Loaded(model, self._synth.describe(), *settings, problem))
            return
        self._rebuild()
        self.model_failed.emit(req.seq, errors[0])

    def _rebuild(self) -> None:
        """Back to the previous model's synthesizer after a model that cannot run here."""
        if self._model is not None:
            try:
                self._synth = self._factory(self._model, *self._settings)
            except Exception:  # it worked before; if not now, requests report "no model is loaded"
                self._synth = None

    def _run(self, req: Request) -> None:
        if self._synth is None:
            self.failed.emit(req, "no model is loaded")
            return
        start = time.perf_counter()
        try:
            try:
                result = req.job(self._synth)
            except Exception as e:
                if not (_is_oom(e) and self._synth.device.type == "cuda"):
                    raise
                self._fall_back_to_cpu()
                start = time.perf_counter()
                result = req.job(self._synth)
        except Exception as e:  # the job's failure goes to the GUI; the worker goes on
            self.failed.emit(req, error_message(e))
            return
        self.finished.emit(req, result, time.perf_counter() - start)

    def _fall_back_to_cpu(self) -> None:
        assert self._model is not None  # a synthesizer ran out of memory: its model is loaded
        self._synth = None
        torch.cuda.empty_cache()
        self._settings = ("cpu", "auto")
        self._synth = self._factory(self._model, *self._settings)
        self.notice.emit("The GPU ran out of memory: switched to the CPU for this session. " + self._synth.describe())
        self.described.emit(self._synth.describe())


class WorkerThread:
    """Starts an `InferenceWorker` in a QThread and stops it cleanly."""

    def __init__(self, synth_factory: SynthFactory = make_synthesizer) -> None:
        self.thread = QThread()
        self.thread.setObjectName("oasis-inference")
        self.worker = InferenceWorker(synth_factory)
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        self.thread.quit()
        self.thread.wait()
