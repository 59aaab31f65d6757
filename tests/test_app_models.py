"""Models and documents: crash recovery of any model, device settings, switching models, stale results."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from app import model_sources
from app.autosave import recovery_model_source
from app.canvas import Tool
from app.controller import Controller
from app.dialogs import SettingsDialog, model_card_text
from app.main_window import MainWindow
from app.settings import device_settings, recovery_path, save_device_settings
from oasis_core import OasisModel, load_model, random_layout

from .helpers.app import SlowSynth, collecting_factory, make_window, wait_image
from .helpers.models import realistic_weights, tiny_config

Yes, No, Discard, Cancel = (
    QMessageBox.StandardButton.Yes,
    QMessageBox.StandardButton.No,
    QMessageBox.StandardButton.Discard,
    QMessageBox.StandardButton.Cancel,
)


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model: three other classes at another size."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "small"
    cfg = tiny_config(label_nc=3, class_names=("sea", "sand", "sky"), height=16, width=24, name="small")
    realistic_weights(OasisModel(cfg)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's classes at another size: a layout carries over to it."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-small"
    realistic_weights(OasisModel(tiny_config(height=16, width=24, name="tiny-small"))).save_pretrained(path)
    return path


def open_window(qtbot, model: str | None, autosave_ms: int | None = 50, check_recovery: bool = True) -> MainWindow:
    window = MainWindow(Controller(), autosave_ms=autosave_ms)
    qtbot.addWidget(window)
    window.start(model, check_recovery=check_recovery)
    qtbot.waitUntil(lambda: window.controller.model is not None or window.load_error is not None, timeout=10000)
    return window


def crash(window: MainWindow) -> None:
    """No close, no clean shutdown of the autosaver: only the threads stop."""
    window.autosaver.stop()
    window.controller.shutdown()
    window.autosaver = None  # so that the fixture's close does not count as a clean exit


def autosave(qtbot, window: MainWindow) -> np.ndarray:
    doc = window.controller.document
    doc.set_labels(random_layout(*doc.shape, list(range(doc.config.label_nc)), seed=5))
    with qtbot.waitSignal(window.autosaver.saved, timeout=10000):
        pass
    return doc.labels.copy()


# ---- crash recovery ------------------------------------------------------------------------------


def test_recovery_of_work_on_the_bundled_default_model(qtbot, model_dir, dialogs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OASIS_MODELS_DIR", str(tmp_path / "models"))
    shutil.copytree(model_dir, tmp_path / "models" / "landscapes")
    first = open_window(qtbot, None)  # `oasis-studio` without --model
    assert first.controller.model.source == str(tmp_path / "models" / "landscapes")
    labels = autosave(qtbot, first)
    crash(first)

    dialogs.answer = Yes
    second = open_window(qtbot, None)
    assert second.load_error is None
    np.testing.assert_array_equal(second.controller.document.labels, labels)
    assert second.controller.document.modified
    dialogs.answer = Discard


def test_recovery_is_kept_until_a_model_it_fits_is_loaded(qtbot, model_dir, small_dir, dialogs, tmp_path) -> None:
    moved = tmp_path / "tiny"
    shutil.copytree(model_dir, moved)
    first = open_window(qtbot, str(moved))
    labels = autosave(qtbot, first)
    crash(first)
    shutil.rmtree(moved)  # the model the work was made with is gone
    saved = recovery_path().read_bytes()

    dialogs.answer = Yes
    second = open_window(qtbot, None)
    assert "no such model folder" in second.load_error and "autosaved work is kept" in second.empty_message.text()
    dialogs.answer = Discard
    second.close()  # a clean exit, but the crashed session's work was not restored: it stays
    assert recovery_path().read_bytes() == saved

    dialogs.answer = Yes
    third = open_window(qtbot, None)
    third.load_model_source(str(small_dir))  # other classes: cannot restore; "keep it?" Yes
    qtbot.waitUntil(lambda: third.controller.model is not None, timeout=10000)
    assert dialogs.kinds("question")[-1][1] == "Could not restore the autosaved project"
    third.controller.document.set_labels(np.full((16, 24), 2))
    assert third.autosaver.save_if_changed() is None  # the autosave does not write over the crashed work
    third.load_model_source(str(model_dir))
    qtbot.waitUntil(lambda: third.controller.model.name == "tiny", timeout=10000)
    doc = third.controller.document
    np.testing.assert_array_equal(doc.labels, labels)
    assert not third.autosaver.paused  # restored: autosaving again (its timer may have saved already)
    with qtbot.waitSignal(third.autosaver.saved, timeout=10000):
        doc.set_labels(np.full(doc.shape, 1))
    dialogs.answer = Discard


def test_an_imported_checkpoint_is_recorded_so_that_it_loads_again(
    qtbot, studio, model_dir, monkeypatch, tmp_path
) -> None:
    imports: list[tuple] = []

    def fake_import(generator, dataset, discriminator):
        imports.append((generator, dataset, discriminator))
        return load_model(model_dir)

    monkeypatch.setattr(model_sources, "import_official", fake_import)
    generator = str(tmp_path / "odd: name;\n_EMA.pth")
    picked = iter([(generator, ""), ("", "")])  # the generator, then no discriminator
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: next(picked))
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("cityscapes", True))
    studio.import_dialog()
    qtbot.waitUntil(lambda: studio.controller.model.folder is None, timeout=10000)
    source = studio.controller.model.source
    assert studio.save_project(tmp_path / "p.oasis") and recovery_model_source(tmp_path / "p.oasis") == source
    loader, folder = model_sources.model_loader(source)
    loader()
    assert imports == [(generator, "cityscapes", None)] * 2 and folder is None
    assert model_sources.describe_source(source).startswith(generator)
    assert generator in model_card_text(studio.controller.model)  # About names the file, not the JSON


# ---- device settings -----------------------------------------------------------------------------


class NoCuda(SlowSynth):
    """A machine without CUDA, where the model with three classes cannot run on any device."""

    delay = 0.0

    def __init__(self, model, device, precision) -> None:
        if device == "cuda":
            raise RuntimeError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU")
        if model.config.label_nc == 3:
            raise RuntimeError("this model cannot run here")
        super().__init__(model)


def test_a_device_this_machine_lacks_is_reported_and_the_model_keeps_working(
    qtbot, model_dir, small_dir, dialogs, monkeypatch
) -> None:
    empty = MainWindow(Controller(NoCuda), autosave_ms=None)
    qtbot.addWidget(empty)
    assert empty.act.settings.isEnabled()  # also without a model
    window = make_window(qtbot, model_dir, Controller(NoCuda))
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: self.device.setCurrentText("cuda") or 1)
    window.act.settings.trigger()
    qtbot.waitUntil(lambda: bool(dialogs.kinds("critical")), timeout=10000)
    title, text = dialogs.kinds("critical")[0][1:]
    assert title == "Device settings not applied" and "no CUDA GPU" in text and "slow test double" in text
    assert device_settings() == ("auto", "auto")  # a setting that failed is not kept
    window.controller.generate()
    wait_image(qtbot, window)

    window.load_model_source(str(small_dir))  # cannot run on any device: the loaded model stays and works
    qtbot.waitUntil(lambda: len(dialogs.kinds("critical")) == 2, timeout=10000)
    assert "cannot run here" in dialogs.kinds("critical")[1][2] and window.controller.model.name == "tiny"
    window.controller.generate()
    wait_image(qtbot, window, window.controller.document.image)

    save_device_settings("cuda", "auto")  # e.g. saved on a machine with a GPU
    second = make_window(qtbot, model_dir, Controller(NoCuda))
    assert second.controller.model.device == "auto" and device_settings() == ("auto", "auto")
    assert "no CUDA GPU" in dialogs.kinds("critical")[-1][2]


# ---- switching models ----------------------------------------------------------------------------


def test_switching_models_asks_about_unsaved_work_and_starts_untitled(
    studio, qtbot, dialogs, small_dir, tiny_small_dir, tmp_path, monkeypatch
) -> None:
    c, doc = studio.controller, studio.controller.document
    mask = np.zeros(doc.shape, dtype=bool)
    mask[:10] = True
    doc.paint(mask, 3)
    assert studio.save_project(tmp_path / "mine.oasis")
    saved = (tmp_path / "mine.oasis").read_bytes()
    doc.paint(~mask, 4)  # more work, not saved
    dialogs.answer = Cancel
    studio.load_model_source(str(small_dir))
    assert dialogs.kinds("question")[-1][1:] == ("Unsaved changes", "Save the project before loading another model?")
    qtbot.wait(200)
    assert c.model.name == "tiny" and c.document is doc and doc.modified

    dialogs.answer = Discard
    studio.load_model_source(str(tiny_small_dir))  # the same classes: the layout comes along
    qtbot.waitUntil(lambda: c.model.name == "tiny-small", timeout=10000)
    assert studio.project_path is None and studio.windowTitle().startswith("untitled*")
    assert c.document.modified and set(np.unique(c.document.labels)) == {3, 4}
    studio.load_model_source(str(small_dir))
    qtbot.waitUntil(lambda: c.model.name == "small", timeout=10000)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    assert not studio.save_project_action()  # Ctrl+S asks for a name: it does not write over mine.oasis
    assert (tmp_path / "mine.oasis").read_bytes() == saved


# ---- results of a document that is gone ----------------------------------------------------------


class Slow(SlowSynth):
    """Generation and photo to layout take 0.2 s; `started` counts the generations begun."""

    delay = 0.2
    started = 0

    def generate(self, labels, noise=None, seed=None):
        self.started += 1
        return super().generate(labels, noise, seed)

    def segment(self, rgb):
        time.sleep(self.delay)
        return self.inner.segment(rgb)


def slow_window(qtbot, model_dir) -> tuple[MainWindow, list[Slow]]:
    synths, factory = collecting_factory(Slow)
    return make_window(qtbot, model_dir, Controller(factory)), synths


def test_a_result_for_the_previous_document_is_dropped(qtbot, model_dir, dialogs, tmp_path) -> None:
    window, synths = slow_window(qtbot, model_dir)
    c = window.controller
    c.generate()
    saved = wait_image(qtbot, window)
    assert window.save_project(tmp_path / "saved.oasis")
    c.document.set_labels(np.full(c.document.shape, 2))
    c.generate()
    qtbot.waitUntil(lambda: synths[0].started == 2, timeout=5000)  # running in the worker...
    with qtbot.waitSignal(c.worker.finished, timeout=5000):  # ...until after File > Open Project
        assert window.open_project(tmp_path / "saved.oasis")
    doc = c.document
    np.testing.assert_array_equal(doc.image, saved)
    assert not doc.modified and len(c.history) == 1 and not window.windowTitle().startswith("saved.oasis*")


def test_requests_made_while_a_model_loads_go_to_the_document_they_were_made_for(
    qtbot, model_dir, small_dir, dialogs, tmp_path
) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    window, _ = slow_window(qtbot, model_dir)
    c = window.controller
    c.segment_photo(tmp_path / "p.png")  # running while the next model is asked for
    window.load_model_source(str(small_dir))
    c.generate()  # Generate, and photo to layout, while the model loads: for the old layout
    c.segment_photo(tmp_path / "p.png")
    qtbot.waitUntil(lambda: c.model.name == "small", timeout=10000)
    qtbot.waitUntil(lambda: window.working.isHidden(), timeout=10000)
    qtbot.wait(100)
    doc = c.document
    assert doc.image is None and not doc.modified and not c.history and (doc.labels == 0).all()
    assert not dialogs.kinds("critical")

    window.load_model_source(str(small_dir))
    c.generate()  # the same configuration keeps the document: a generation asked for while it loads comes through
    wait_image(qtbot, window)
    assert c.document is doc and not dialogs.kinds("critical")


def test_the_eyedropper_on_a_dont_care_pixel_says_why_nothing_was_picked(qtbot, tmp_path, dialogs) -> None:
    torch.manual_seed(0)
    OasisModel(tiny_config(dont_care_id=4, class_names=("sky", "tree", "grass", "water", "void"))).save_pretrained(
        tmp_path / "void"
    )
    window = make_window(qtbot, tmp_path / "void")
    doc, canvas = window.controller.document, window.canvas
    doc.labels[3, 5] = 4
    window.tools.update(tool=Tool.EYEDROPPER, class_id=2)
    canvas.press_at((5, 3))
    canvas.release_at((5, 3))
    assert window.tools.class_id == 2
    assert "'void' is the model's don't-care class" in window.statusBar().currentMessage()
