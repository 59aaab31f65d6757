"""Widgets around the canvas: the result, the history strip, the interpolation panel and the brush options."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from .canvas import ToolState, qimage_rgb
from .history import Variation


class ResultView(QWidget):
    """The generated image, scaled to fit with its aspect ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.placeholder = "No image yet: press Generate (Ctrl+Enter)"
        self.setMinimumSize(200, 150)

    def set_image(self, image: np.ndarray | None) -> None:
        self._image = None if image is None else qimage_rgb(image)
        self.update()

    @property
    def has_image(self) -> bool:
        return self._image is not None

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(48, 48, 52))
        if self._image is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        w, h = self._image.width(), self._image.height()
        s = min((self.width() - 8) / w, (self.height() - 8) / h)
        x, y = (self.width() - w * s) / 2, (self.height() - h * s) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(QRectF(x, y, w * s, h * s), self._image)


class HistoryStrip(QListWidget):
    """Thumbnails of earlier variations; a click (or the arrow keys and Enter) returns to one."""

    variation_clicked = Signal(int)
    THUMB = 72

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(self.THUMB, self.THUMB))
        self.setFixedHeight(self.THUMB + 34)
        self.setMovement(QListView.Movement.Static)
        self.setToolTip("Earlier variations: click one (or pick one with the arrow keys and Enter) to return to it")
        self.itemClicked.connect(lambda item: self.variation_clicked.emit(self.row(item)))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter restores the current entry. Not through itemActivated: a double-click (or a single click, where
        # the platform activates on one) sends it besides itemClicked, which would restore twice.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentRow() >= 0:
            self.variation_clicked.emit(self.currentRow())
        else:
            super().keyPressEvent(event)

    def set_variations(self, variations: Iterable[Variation], current: int | None) -> None:
        """`current`: the variation the document shows, if it is one of them."""
        self.clear()
        seen: dict[str, int] = {}
        for v in variations:
            pix = QPixmap.fromImage(qimage_rgb(v.image)).scaled(
                self.THUMB, self.THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            label = f"seed {v.seed}" if v.plain else f"seed {v.seed}, edited"
            # A seed comes back (typed again, re-rolled again): number the repeats so that no two entries read alike.
            seen[label] = seen.get(label, 0) + 1
            text = label if seen[label] == 1 else f"{label} ({seen[label]})"
            item = QListWidgetItem(QIcon(pix), text)
            if v.plain:
                item.setToolTip(text)
            else:
                item.setToolTip(f"{text}: local noise changes (re-rolls, unlocked painting, interpolation)")
            self.addItem(item)
        self.show_current(current)

    def show_current(self, index: int | None) -> None:
        """Highlight the variation the document shows and scroll to it; none: the newest stays in view."""
        self.setCurrentRow(-1 if index is None else index)
        if self.count():
            self.scrollToItem(self.item(self.count() - 1 if index is None else index))


class InterpolationPanel(QWidget):
    """A and B end points, "only inside the selection", the frame slider and GIF export."""

    set_a = Signal()
    set_b = Signal()
    in_selection_toggled = Signal(bool)
    frame_selected = Signal(int)
    export_gif = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.a_button = QPushButton("Set A")
        self.a_button.setToolTip("Use the current variation as the start of the interpolation")
        self.b_button = QPushButton("Set B")
        self.b_button.setToolTip("Use the current variation as the end of the interpolation")
        self.in_selection = QCheckBox("Only in selection")
        self.in_selection.setToolTip("Interpolate the noise only inside the selection; the rest stays as in A")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Scrub between A and B (all frames are made at once in the background)")
        self.status = QLabel("Set A and B")
        self.gif_button = QPushButton("Export GIF…")
        self.gif_button.setEnabled(False)
        layout = QHBoxLayout(self)
        for w in (self.a_button, self.b_button, self.in_selection, self.slider, self.status, self.gif_button):
            layout.addWidget(w)
        layout.setStretch(3, 1)
        self.a_button.clicked.connect(self.set_a)
        self.b_button.clicked.connect(self.set_b)
        self.in_selection.toggled.connect(self.in_selection_toggled)
        self.slider.valueChanged.connect(self.frame_selected)
        self.gif_button.clicked.connect(self.export_gif)

    def set_frames(self, count: int, ready: bool, status: str, index: int) -> None:
        """`index`: the frame the document shows."""
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(count - 1, 0))
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.slider.setEnabled(ready)
        self.gif_button.setEnabled(ready)
        self.status.setText(status)


class BrushBar(QToolBar):
    """The brush's size and tip and the fill bucket's mode, kept in step with the tool state."""

    def __init__(self, tools: ToolState, parent: QWidget | None = None) -> None:
        super().__init__("Brush", parent)
        self.setObjectName("brush")
        self._tools = tools
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, 128)
        self.size_slider.setMaximumWidth(140)
        self.size_slider.setValue(tools.size)
        self.size_slider.setToolTip("Brush size in pixels ([ and ])")
        self.size_spin = QSpinBox(minimum=1, maximum=256, value=tools.size)
        self.tip_combo = QComboBox()
        self.tip_combo.addItems(["Round", "Square"])
        self.tip_combo.setToolTip("Brush tip")
        self.fill_combo = QComboBox()
        self.fill_combo.addItems(["Fill region", "Fill whole class"])
        self.fill_combo.setToolTip("Fill bucket: the connected region, or every pixel of the clicked class")
        for w in (QLabel(" Size "), self.size_slider, self.size_spin, self.tip_combo, self.fill_combo):
            self.addWidget(w)
        self.size_slider.valueChanged.connect(lambda v: tools.update(size=v))
        self.size_spin.valueChanged.connect(lambda v: tools.update(size=v))
        self.tip_combo.currentIndexChanged.connect(lambda i: tools.update(round_tip=i == 0))
        self.fill_combo.currentIndexChanged.connect(lambda i: tools.update(fill_contiguous=i == 0))
        tools.changed.connect(self._show_size)

    def _show_size(self) -> None:
        for w in (self.size_slider, self.size_spin):
            w.blockSignals(True)
            w.setValue(self._tools.size)
            w.blockSignals(False)
