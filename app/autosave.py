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
    saved = Signal(str)
    failed = Signal(str)

    def __init__(
        self, controller: Controller, path: Path, interval_ms: int = AUTOSAVE_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.path = path
        self._saved_revision: tuple[int, int] | None = None  # (document id, revision)
        self.paused = False  # e.g. while the recovery file holds a crashed session's work, not restored yet
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oasis-autosave")
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
        return self._pool.submit(self._write, data, config)

    def _write(self, data: project.ProjectData, config) -> None:
        try:
            project.save_project(self.path, data, config)
        except (OSError, ValueError) as e:
            self.failed.emit(f"autosave to {self.path} failed: {e}")
            return
        self.saved.emit(str(self.path))

    def discard(self) -> None:
        """A clean exit: stop and remove the recovery file."""
        self._timer.stop()
        self._pool.shutdown(wait=True)
        self.path.unlink(missing_ok=True)

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
