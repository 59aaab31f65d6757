"""Autosave to a recovery file while the document changes, written off the GUI thread; removed on a clean exit."""

from __future__ import annotations

import json
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from . import project
from .controller import Controller

AUTOSAVE_MS = 4000


class Autosaver(QObject):
    """`failed` is emitted once per streak of failed writes (the timer retries every interval), `saved` on each
    write; both on the GUI thread."""

    saved = Signal(str)
    failed = Signal(str)
    _written = Signal(object, str)  # from the writing thread: (document id, revision), error message or ""

    def __init__(
        self, controller: Controller, path: Path, interval_ms: int = AUTOSAVE_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.path = path
        self._saved_revision: tuple[int, int] | None = None  # (document id, revision)
        self._failing = False  # the last write failed: the user has been told
        self.paused = False  # e.g. while the recovery file holds a crashed session's work, not restored yet
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oasis-autosave")
        self._written.connect(self._on_written)  # queued: emitted on the pool's thread
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.save_if_changed)
        self._timer.start()

    def save_if_changed(self) -> Future | None:
        doc = self.controller.document
        if doc is None or self.paused:
            return None
        key = (id(doc), doc.revision)
        if key == self._saved_revision or not doc.modified:
            return None
        self._saved_revision = key
        data, config = self.controller.project_data(), doc.config  # snapshot on the GUI thread
        return self._pool.submit(self._write, key, data, config)

    def _write(self, key: tuple[int, int], data: project.ProjectData, config) -> None:
        try:
            project.save_project(self.path, data, config)
        except (OSError, ValueError) as e:
            self._written.emit(key, f"Autosave to {self.path} failed: {e}")
        else:
            self._written.emit(key, "")

    def _on_written(self, key: tuple[int, int], error: str) -> None:
        if not error:
            self._failing = False
            self.saved.emit(str(self.path))
            return
        if self._saved_revision == key:
            self._saved_revision = None  # not saved: the next tick tries again (the disk may have space by then)
        if not self._failing:
            self._failing = True
            self.failed.emit(error)

    def discard(self) -> None:
        """A clean exit: stop and remove the recovery file."""
        self.stop()
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # e.g. a folder in its place: a leftover is offered at the next start, and nothing is lost

    def stop(self) -> None:
        self._timer.stop()
        self._pool.shutdown(wait=True)


def recovery_model_source(path: Path) -> str | None:
    """The model a recovery file was made with, to reload it before restoring; None if unreadable."""
    try:
        with zipfile.ZipFile(path) as z:
            return str(json.loads(z.read("manifest.json"))["model"]["source"]) or None
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None
