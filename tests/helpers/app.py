"""Test doubles and waits of the app tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

from app.controller import Controller
from app.main_window import MainWindow
from oasis_core import OasisModel, Synthesizer


class Dialogs:
    """Records every message box instead of showing it; `answer` is what `question` returns."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.answer = QMessageBox.StandardButton.Discard

    def kinds(self, kind: str) -> list[tuple[str, str, str]]:
        return [s for s in self.shown if s[0] == kind]


class SlowSynth:
    """A real synthesizer whose `generate` takes `delay` seconds more, counting its calls."""

    delay = 0.4

    def __init__(self, model: OasisModel, device: str = "cpu", precision: str = "auto") -> None:
        self.inner = Synthesizer(model, "cpu", "fp32")
        self.device = self.inner.device
        self.generated_labels: list[np.ndarray] = []

    def describe(self) -> str:
        return "slow test double"

    def generate(self, labels, noise=None, seed=None):
        time.sleep(self.delay)
        self.generated_labels.append(np.array(labels))
        return self.inner.generate(labels, noise, seed)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def collecting_factory(kind: type[SlowSynth] = SlowSynth, delay: float | None = None) -> tuple[list, Callable]:
    """A synthesizer factory for `Controller` making `kind` (taking `delay`, if given) and the list of all it made."""
    made: list[SlowSynth] = []

    def factory(model: OasisModel, device: str, precision: str) -> SlowSynth:
        synth = kind(model)
        if delay is not None:
            synth.delay = delay
        made.append(synth)
        return synth

    return made, factory


def set_interp_ends(c: Controller) -> None:
    """Variation 1 as end A, then variation 2 as end B: two generations, then the frames, queued in that order."""
    c.new_variation(1)
    c.set_interp_end("a")
    c.new_variation(2)
    c.set_interp_end("b")


def make_window(
    qtbot,
    model_dir: Path,
    controller: Controller | None = None,
    autosave_ms: int | None = None,
    check_recovery: bool = False,
) -> MainWindow:
    window = MainWindow(controller or Controller(), autosave_ms=autosave_ms)
    qtbot.addWidget(window)
    window.start(str(model_dir), check_recovery=check_recovery)
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=20000)
    return window


def wait_image(qtbot, window: MainWindow, previous: np.ndarray | None = None) -> np.ndarray:
    """Wait for a new result image (a different array object than `previous`)."""
    doc = window.controller.document
    qtbot.waitUntil(lambda: doc.image is not None and doc.image is not previous, timeout=20000)
    return doc.image
