"""Nothing overwritten, nothing silently wrong: large files, projects of other models, cancelled loads, labels and
messages that match what is shown."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QMessageBox, QPushButton
from safetensors.torch import save as save_tensors

import app.main_window
from oasis_core import OasisModel, load_model, random_layout

from .conftest import realistic_weights, tiny_config
from .test_app_support import *
from .test_app_support import make_window, wait_image

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


@pytest.fixture(scope="session")
def other_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with three other classes at another size."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "other"
    cfg = tiny_config(label_nc=3, class_names=("sea", "sand", "sky"), height=16, width=24, name="other")
    realistic_weights(OasisModel(cfg)).save_pretrained(path)
    return path


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
    assert "non-finite" in dialogs.kinds("critical")[-1][2] and c.document is doc
