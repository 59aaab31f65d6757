"""Nothing overwritten, nothing silently wrong: large files, projects of other models, cancelled loads, labels and
messages that match what is shown."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton
from safetensors.torch import save as save_tensors

import app.controller
import app.main_window
import oasis_core.labels
from app.controller import Controller
from app.dialogs import SettingsDialog
from app.interpolation import FRAME_COUNT
from oasis_core import OasisModel, Synthesizer, colorize, load_model, random_layout
from oasis_core import noise as noise_ops

from .helpers.app import make_window, set_interp_ends, wait_image
from .helpers.models import realistic_weights, tiny_config

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


@pytest.fixture(scope="session")
def other_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with three other classes at another size."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "other"
    cfg = tiny_config(label_nc=3, class_names=("sea", "sand", "sky"), height=16, width=24, name="other")
    realistic_weights(OasisModel(cfg)).save_pretrained(path)
    return path


# ---- large files ---------------------------------------------------------------------------------


def test_a_photo_is_decoded_off_the_ui_thread_and_its_layout_made_at_the_models_size(
    studio, qtbot, tmp_path, monkeypatch
) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (320, 480, 3), dtype=np.uint8)).save(tmp_path / "big.jpg")
    decoded_in: list[threading.Thread] = []
    real_open = app.controller.open_image

    def open_image(*args, **kwargs):
        decoded_in.append(threading.current_thread())
        return real_open(*args, **kwargs)

    monkeypatch.setattr(app.controller, "open_image", open_image)
    doc = studio.controller.document
    doc.labels[...] = 4
    before = doc.labels.copy()
    studio.controller.segment_photo(tmp_path / "big.jpg")
    qtbot.waitUntil(lambda: not np.array_equal(doc.labels, before), timeout=20000)
    assert decoded_in and threading.main_thread() not in decoded_in
    message = studio.statusBar().currentMessage()
    assert "480x320" in message and "48x32" in message


def test_an_unreadable_photo_is_reported_and_the_layout_kept(studio, qtbot, dialogs, tmp_path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    doc = studio.controller.document
    before = doc.labels.copy()
    studio.controller.segment_photo(tmp_path / "broken.jpg")
    qtbot.waitUntil(lambda: bool(dialogs.kinds("critical")), timeout=20000)
    title, text = dialogs.kinds("critical")[0][1:]
    assert title == "Photo to layout" and "broken.jpg: not a readable photo" in text
    np.testing.assert_array_equal(doc.labels, before)


def test_a_large_layout_is_mapped_at_the_models_size_and_says_so(studio, dialogs, tmp_path, monkeypatch) -> None:
    cfg = studio.controller.document.config
    big = random_layout(320, 480, list(range(cfg.label_nc)), seed=3)
    Image.fromarray(colorize(big, cfg)).save(tmp_path / "big.png")
    mapped: list[tuple[int, ...]] = []
    real_map = oasis_core.labels.colors_to_labels

    def colors_to_labels(rgb, config):
        mapped.append(np.asarray(rgb).shape[:2])
        return real_map(rgb, config)

    monkeypatch.setattr(oasis_core.labels, "colors_to_labels", colors_to_labels)
    assert studio.open_labels(tmp_path / "big.png")
    assert mapped == [(32, 48)]  # not the file's 320x480 pixels
    expected = noise_ops.resize_nearest(torch.from_numpy(big)[None], (32, 48))[0].numpy()
    np.testing.assert_array_equal(studio.controller.document.labels, expected)
    assert "480x320" in dialogs.kinds("warning")[-1][2] and "48x32" in dialogs.kinds("warning")[-1][2]


# ---- projects and models -------------------------------------------------------------------------


def test_a_project_of_another_model_offers_to_switch_to_that_model(
    qtbot, model_dir, other_dir, dialogs, tmp_path
) -> None:
    window = make_window(qtbot, other_dir)
    c = window.controller
    c.document.set_labels(random_layout(16, 24, [0, 1, 2], seed=1))
    saved = c.document.labels.copy()
    assert window.save_project(tmp_path / "other.oasis")
    window.load_model_source(str(model_dir))
    qtbot.waitUntil(lambda: c.model.name == "tiny", timeout=10000)
    doc = c.document

    dialogs.answer = No
    assert not window.open_project(tmp_path / "other.oasis")
    question = dialogs.kinds("question")[-1]
    assert "'other'" in question[2] and "'tiny'" in question[2]
    qtbot.wait(200)
    assert c.model.name == "tiny" and c.document is doc and not dialogs.kinds("critical")

    dialogs.answer = Yes
    window.open_project(tmp_path / "other.oasis")
    qtbot.waitUntil(lambda: window.project_path == tmp_path / "other.oasis", timeout=10000)
    assert c.model.name == "other" and not c.document.modified and not dialogs.kinds("critical")
    np.testing.assert_array_equal(c.document.labels, saved)


def test_a_model_load_can_be_cancelled_and_the_current_model_keeps_working(
    studio, qtbot, dialogs, other_dir, monkeypatch
) -> None:
    release = threading.Event()

    def slow_loader() -> OasisModel:  # e.g. the Hub client retrying an unreachable server
        release.wait(20)
        return load_model(other_dir)

    monkeypatch.setattr(app.main_window, "model_loader", lambda source: (slow_loader, None))
    c = studio.controller
    try:
        studio.load_model_source("someone/unreachable")
        cancel = studio._progress.findChild(QPushButton)
        assert cancel is not None and cancel.text() == "Cancel"
        c.generate()  # the loaded model works meanwhile
        wait_image(qtbot, studio)
        cancel.click()
        assert studio._progress is None and "cancelled" in studio.statusBar().currentMessage()
    finally:
        release.set()
    qtbot.waitUntil(lambda: not c._loading, timeout=10000)  # the late result came, and was dropped
    qtbot.wait(100)
    assert c.model.name == "tiny" and not dialogs.shown
    c.generate()
    wait_image(qtbot, studio, c.document.image)


def test_a_load_cancelled_while_its_synthesizer_is_built_keeps_the_current_model(
    qtbot, model_dir, other_dir, dialogs
) -> None:
    building, release = threading.Event(), threading.Event()
    built: list[str] = []

    def factory(model: OasisModel, device: str, precision: str) -> Synthesizer:
        if model.config.name == "other":  # the model being loaded: its synthesizer takes a while
            building.set()
            release.wait(20)
        built.append(model.config.name)
        return Synthesizer(model, "cpu", "fp32")

    window = make_window(qtbot, model_dir, Controller(factory))
    c = window.controller
    try:
        window.load_model_source(str(other_dir))
        qtbot.waitUntil(building.is_set, timeout=20000)  # read and handed to the worker: not droppable any more
        window._progress.findChild(QPushButton).click()
    finally:
        release.set()
    qtbot.waitUntil(lambda: not c._loading, timeout=10000)
    qtbot.wait(100)
    assert built == ["tiny", "other", "tiny"]  # the finished one was thrown away, the current one built again
    assert c.model.name == "tiny" and not dialogs.shown and "cancelled" in window.statusBar().currentMessage()
    c.generate()
    assert wait_image(qtbot, window).shape[:2] == c.document.shape


def test_settings_keep_the_selected_class(studio, qtbot, monkeypatch) -> None:
    studio.class_palette.select(3)
    assert studio.tools.class_id == 3
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: 1)  # OK, the same model
    with qtbot.waitSignal(studio.controller.model_changed, timeout=10000):
        studio.act.settings.trigger()
    assert studio.tools.class_id == 3 and studio.class_palette.current_class() == 3


def test_the_timing_of_the_last_generation_goes_with_its_model(studio, qtbot, other_dir) -> None:
    studio.controller.generate()
    wait_image(qtbot, studio)
    assert studio.latency_label.text().startswith("last:")
    studio.load_model_source(str(other_dir))
    qtbot.waitUntil(lambda: studio.controller.model.name == "other", timeout=10000)
    assert studio.latency_label.text() == ""


# ---- variations and interpolation ----------------------------------------------------------------


def test_the_variation_strip_labels_are_unique(studio, qtbot) -> None:
    c, strip = studio.controller, studio.history
    image = None
    studio.act.select_all.trigger()
    for _ in range(2):
        c.new_variation(5)
        image = wait_image(qtbot, studio, image)
        studio.act.reroll_sel.trigger()
        image = wait_image(qtbot, studio, image)
    labels = [strip.item(i).text() for i in range(strip.count())]
    assert len(labels) == 4 and len(set(labels)) == 4, labels
    assert labels[:2] == ["seed 5", "seed 5, edited"]


def test_the_seed_box_shows_the_seed_of_the_frame_shown(studio, qtbot) -> None:
    c = studio.controller
    set_interp_ends(c)  # A: seed 1, B: seed 2
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    studio.interp.slider.setValue(0)
    assert studio.seed_spin.value() == c.document.seed == 1 and c.document.noise is c.interpolation.a
    studio.interp.slider.setValue(FRAME_COUNT - 1)
    assert studio.seed_spin.value() == 2 and c.document.noise is c.interpolation.b
    studio.interp.slider.setValue(4)  # between: A's noise, changed
    assert studio.seed_spin.value() == 1 and not c.document.noise_is_plain()


def test_a_gif_export_says_where_it_went(studio, qtbot, tmp_path, monkeypatch) -> None:
    c = studio.controller
    set_interp_ends(c)
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    path = tmp_path / "loop.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), "GIF (*.gif)"))
    studio.interp.gif_button.click()
    message = studio.statusBar().currentMessage()
    assert str(path) in message and f"{2 * FRAME_COUNT - 2} frames" in message


# ---- non-finite values ---------------------------------------------------------------------------


def test_a_project_with_non_finite_noise_is_refused(studio, dialogs, tmp_path) -> None:
    c = studio.controller
    assert studio.save_project(tmp_path / "p.oasis")
    bad = c.document.noise.clone()
    bad[0, 0, 3, 4] = float("nan")
    with zipfile.ZipFile(tmp_path / "p.oasis") as src, zipfile.ZipFile(tmp_path / "nan.oasis", "w") as dst:
        for name in src.namelist():
            data = save_tensors({"noise": bad}) if name == "noise.safetensors" else src.read(name)
            dst.writestr(name, data)
    doc = c.document
    assert not studio.open_project(tmp_path / "nan.oasis")
    assert "holds 1 NaN" in dialogs.kinds("critical")[-1][2] and c.document is doc


def test_a_generation_the_library_refuses_shows_its_error_not_an_image(studio, qtbot, dialogs) -> None:
    """oasis_core refuses non-finite noise: the worker's error reaches the user, no black image appears."""
    doc = studio.controller.document
    doc.set_noise(torch.full_like(doc.noise, float("inf")))
    studio.controller.generate()
    qtbot.waitUntil(lambda: bool(dialogs.kinds("critical")), timeout=20000)
    title, text = dialogs.kinds("critical")[0][1:]
    assert title == "Generation failed" and "finite" in text
    assert doc.image is None and not studio.result.has_image
