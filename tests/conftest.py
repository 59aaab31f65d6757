"""Shared fixtures: tiny models (a few thousand parameters) that run in milliseconds on a CPU, and the app on one.

Plain helpers live in tests/helpers, imported by name."""

# ruff: noqa: E402  (the environment must be set before Qt or the Hub client is imported)
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# An empty torch.hub cache: no test finds (or writes) the developer's downloaded FID weights.
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="oasis-tests-torch-home-")
atexit.register(shutil.rmtree, os.environ["TORCH_HOME"], ignore_errors=True)

from pathlib import Path

import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from app.main_window import MainWindow
from oasis_core import ModelConfig, OasisModel

from .helpers.app import Dialogs, make_window
from .helpers.models import realistic_weights, tiny_config

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Module construction draws from the global RNG (e.g. spectral-norm vectors): make every test repeatable."""
    torch.manual_seed(0)


@pytest.fixture
def config() -> ModelConfig:
    return tiny_config()


@pytest.fixture
def model(config: ModelConfig) -> OasisModel:
    torch.manual_seed(0)
    return realistic_weights(OasisModel(config))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model saved as a model folder, with a model card."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny"
    realistic_weights(OasisModel(tiny_config())).save_pretrained(path)
    (path / "README.md").write_text("# Tiny test model\n\nA model card for the About box.\n")
    return path


@pytest.fixture
def isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("OASIS_STUDIO_DATA", str(data))
    return data


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch, isolated_data: Path) -> Dialogs:
    rec = Dialogs()

    def fake(kind: str):
        def show(parent, title, text, *args, **kwargs):
            rec.shown.append((kind, title, text))
            return rec.answer if kind == "question" else QMessageBox.StandardButton.Ok

        return staticmethod(show)

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, fake(kind))
    return rec


@pytest.fixture
def studio(qtbot, model_dir: Path, dialogs: Dialogs) -> MainWindow:
    """The main window on the tiny model, with message boxes recorded and data in a temporary folder."""
    window = make_window(qtbot, model_dir)
    window.show()
    return window
