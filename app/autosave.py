"""Autosave to a recovery file while the document changes, written off the GUI thread; removed on a clean exit."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from . import project
from .controller import Controller

AUTOSAVE_MS = 4000


class Autosaver(QObject):
    """`failed` is emitted once per streak of failed writes (the timer retries every interval), `saved` on each
    write; both on the GUI thread. `project_path` tells which project file the document belongs to, if any: the
    recovery file records it, so that restored work is saved there."""

    saved = Signal(str)
    failed = Signal(str)
    _written = Signal(object, str)  # from the writing thread: (document id, revision), error message or ""

    def __init__(
        self,
        controller: Controller,
        path: Path,
        interval_ms: int = AUTOSAVE_MS,
        parent: QObject | None = None,
        project_path: Callable[[], Path | None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.path = path
        self.project_path = project_path
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
        # A snapshot on the GUI thread.
        origin = self.project_path()
        data = dataclasses.replace(self.controller.project_data(), autosave_of=str(origin) if origin else "")
        config = doc.config
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


def _recovery_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a recovery file ({} if unreadable: restoring it reports why)."""
    try:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("manifest.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def recovery_model_source(path: Path) -> str | None:
    """The model a recovery file was made with, to reload it before restoring; None if unknown."""
    model = _recovery_manifest(path).get("model")
    source = model.get("source") if isinstance(model, dict) else None
    return str(source) if source else None


def recovery_project_path(path: Path) -> Path | None:
    """The project file whose unsaved state a recovery file holds; None for untitled work."""
    origin = _recovery_manifest(path).get("autosave_of")
    return Path(origin) if isinstance(origin, str) and origin else None
