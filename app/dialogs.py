"""Small dialogs: settings (device, precision), the shortcut list, About with the model card, the choice of a model
to load, and the window's questions."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QInputDialog,
    QMessageBox,
    QProgressDialog,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from .controller import ModelInfo
from .model_sources import describe_source, official_source
from .settings import DEVICES, PRECISIONS

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?^---[ \t]*(\r?\n|\Z)", re.DOTALL | re.MULTILINE)  # Hub metadata


class SettingsDialog(QDialog):
    def __init__(self, device: str, precision: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(device)
        self.device.setToolTip("auto: CUDA, then Apple MPS, then the CPU")
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.precision.setCurrentText(precision)
        self.precision.setToolTip("auto: bf16/fp16 on GPUs, fp32 on CPUs; fp16 is GPU-only")
        form = QFormLayout(self)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


def shortcuts_dialog(actions: list[QAction], parent: QWidget | None = None) -> QDialog:
    """Every action with a shortcut, generated from the actions themselves so it cannot go stale."""
    rows = [
        (a.text().replace("&", ""), ", ".join(k.toString() for k in a.shortcuts())) for a in actions if a.shortcuts()
    ]
    dlg = QDialog(parent)
    dlg.setWindowTitle("Keyboard shortcuts")
    table = QTableWidget(len(rows), 2)
    table.setHorizontalHeaderLabels(["Action", "Shortcut"])
    for r, (name, keys) in enumerate(rows):
        table.setItem(r, 0, QTableWidgetItem(name))
        table.setItem(r, 1, QTableWidgetItem(keys))
    table.resizeColumnsToContents()
    table.verticalHeader().hide()
    layout = QVBoxLayout(dlg)
    layout.addWidget(table)
    extra = (
        "Mouse: left paints / uses the tool; middle-drag or the Hand tool pans; the wheel zooms. "
        "Right-click a class in the palette to re-roll its noise or make it the eraser's background."
    )
    note = QTextBrowser()
    note.setPlainText(extra)
    note.setMaximumHeight(70)
    layout.addWidget(note)
    dlg.resize(460, 560)
    return dlg


def model_card_text(info: ModelInfo | None) -> str:
    """Markdown for About: the model folder's README.md if it has one, else what the config says."""
    head = "# OASIS Studio\n\nPaint a semantic layout, get a photo (OASIS, ICLR 2021).\n\n"
    if info is None:
        return head + "No model is loaded."
    readme = info.folder / "README.md" if info.folder is not None else None
    if readme is not None and readme.is_file():
        return head + FRONT_MATTER.sub("", readme.read_text(encoding="utf-8-sig", errors="replace"), count=1)
    cfg = info.config
    return head + (
        f"## Model: {info.name}\n\nSource: `{describe_source(info.source)}`\n\n"
        f"{cfg.label_nc} classes, {cfg.width}x{cfg.height} pixels, "
        f"{'3D noise of ' + str(cfg.z_dim) + ' channels' if cfg.noise_3d else 'no 3D noise'}, "
        f"{'with' if info.can_segment else 'without'} a discriminator (photo to layout).\n\n"
        "This model has no model card (README.md)."
    )


def about_dialog(info: ModelInfo | None, parent: QWidget | None = None) -> QDialog:
    dlg = QDialog(parent)
    dlg.setWindowTitle("About OASIS Studio")
    text = QTextBrowser()
    if info is not None and info.folder is not None:
        text.setSearchPaths([str(info.folder)])  # the card's relative links, e.g. its sample sheet
    text.setMarkdown(model_card_text(info))
    text.setOpenExternalLinks(True)
    layout = QVBoxLayout(dlg)
    layout.addWidget(text)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dlg.reject)
    layout.addWidget(buttons)
    dlg.resize(560, 480)
    return dlg


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no) == yes


# ---- models to load: a model source (see `model_sources`), "" when cancelled --------------------------------------
def ask_model_folder(parent: QWidget) -> str:
    return QFileDialog.getExistingDirectory(parent, "Open model folder (config.json + model.safetensors)")


def ask_hub_id(parent: QWidget) -> str:
    repo, ok = QInputDialog.getText(parent, "Load from Hugging Face Hub", "Repository id (owner/name):")
    return repo.strip() if ok else ""


def ask_official_checkpoint(parent: QWidget) -> str:
    """The authors' generator checkpoint, its dataset and optionally its discriminator."""
    gen, _ = QFileDialog.getOpenFileName(
        parent,
        "Official generator checkpoint (*_EMA.pth or *_G.pth)",
        filter="PyTorch checkpoints (*.pth *.pt);;All files (*)",
    )
    if not gen:
        return ""
    dataset, ok = QInputDialog.getItem(
        parent, "Import checkpoint", "Dataset of the checkpoint:", ["ade20k", "cityscapes", "coco-stuff"], 0, False
    )
    if not ok:
        return ""
    disc, _ = QFileDialog.getOpenFileName(
        parent,
        "Optional: discriminator checkpoint (*_D.pth) for photo to layout; cancel to skip",
        str(Path(gen).parent),
        "PyTorch checkpoints (*.pth *.pt)",
    )
    return official_source(gen, dataset, disc or None)


def load_progress(source: str, parent: QWidget) -> QProgressDialog:
    """Shown while a model the user asked for loads; its Cancel abandons the load."""
    dlg = QProgressDialog(f"Loading {describe_source(source)}…", "Cancel", 0, 0, parent)
    dlg.setWindowTitle("Loading model")
    dlg.setWindowModality(Qt.WindowModality.WindowModal)
    dlg.setMinimumDuration(0)
    return dlg
