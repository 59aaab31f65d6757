"""The label canvas: shows class colours (optionally over the result), turns mouse input into document edits.

It never runs inference and never invents ids: all geometry comes from `painting` as boolean masks.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from oasis_core import colorize

from . import painting
from .document import Document

MIN_SCALE, MAX_SCALE = 0.25, 32.0  # widened to the fitted scale where that lies outside
ZOOM_STEP = 1.25  # one zoom action or mouse-wheel notch
WHEEL_NOTCH = 120  # angleDelta of one notch; touchpads send fractions of it


class Tool(str, Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"
    EYEDROPPER = "eyedropper"
    LINE = "line"
    RECT = "rectangle"
    SELECT_RECT = "select-rect"
    LASSO = "lasso"
    PAN = "pan"


class ToolState(QObject):
    """The tool options shared by the canvas, the toolbar and the keyboard shortcuts."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tool = Tool.BRUSH
        self.class_id = 0
        self.background_id = 0  # what the eraser paints
        self.size = 12
        self.round_tip = True
        self.fill_contiguous = True

    def update(self, **values: object) -> None:
        for k, v in values.items():
            if not hasattr(self, k):
                raise AttributeError(k)
            setattr(self, k, v)
        self.size = int(min(max(self.size, 1), 256))
        self.changed.emit()


def qimage_rgb(rgb: np.ndarray) -> QImage:
    """An owning QImage of an (H, W, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def qimage_mask(mask: np.ndarray, color: QColor) -> QImage:
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask] = (color.red(), color.green(), color.blue(), color.alpha())
    h, w = mask.shape
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class CanvasView(QWidget):
    class_picked = Signal(int)
    hovered = Signal(int, int, int)  # x, y, class id (-1 outside)

    def __init__(self, tools: ToolState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self.doc: Document | None = None
        self.overlay = False
        self.label_opacity = 0.5
        self._labels_img: QImage | None = None
        self._result_img: QImage | None = None
        self._selection_img: QImage | None = None
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self._fit = True  # follow the widget size until the user zooms or pans
        self._active: Tool | None = None  # the tool a press started: it finishes the gesture, whatever is chosen since
        self._drag_start: tuple[int, int] | None = None
        self._last: tuple[int, int] | None = None
        self._lasso: list[tuple[int, int]] = []
        self._pan_from: QPointF | None = None
        self._mouse: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(200, 150)
        self.setCursor(Qt.CursorShape.CrossCursor)
        tools.changed.connect(self.update)

    # ---- document --------------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        self.doc = doc
        self._active, self._last, self._drag_start, self._lasso = None, None, None, []  # gestures of the old one
        doc.labels_changed.connect(self._labels_changed)
        doc.image_changed.connect(self._image_changed)
        doc.selection_changed.connect(self._selection_changed)
        self._labels_changed()
        self._image_changed()
        self._selection_changed()
        self.fit()

    def _labels_changed(self) -> None:
        if self.doc is not None:
            self._labels_img = qimage_rgb(colorize(self.doc.labels, self.doc.config))
            self.update()

    def _image_changed(self) -> None:
        img = None if self.doc is None else self.doc.image
        self._result_img = None if img is None else qimage_rgb(img)
        self.update()

    def _selection_changed(self) -> None:
        sel = None if self.doc is None else self.doc.selection
        self._selection_img = None if sel is None else qimage_mask(sel, QColor(40, 140, 255, 110))
        self.update()

    def set_overlay(self, on: bool, opacity: float | None = None) -> None:
        self.overlay = on
        if opacity is not None:
            self.label_opacity = opacity
        self.update()

    # ---- view transform --------------------------------------------------------------------------
    def _fitted_scale(self, doc: Document) -> float:
        h, w = doc.shape
        return max(min((self.width() - 8) / w, (self.height() - 8) / h), 0.05)

    def fit(self) -> None:
        if self.doc is None:
            return
        h, w = self.doc.shape
        self._scale = self._fitted_scale(self.doc)
        self._offset = QPointF((self.width() - w * self._scale) / 2, (self.height() - h * self._scale) / 2)
        self._fit = True
        self.update()

    def zoom(self, factor: float, around: QPointF | None = None) -> None:
        around = around if around is not None else QPointF(self.width() / 2, self.height() / 2)
        # The limits include the fitted and the current scale, so that zooming out never zooms in and vice versa.
        limits = (self._scale, self._fitted_scale(self.doc)) if self.doc is not None else (self._scale,)
        new = min(max(self._scale * factor, min(MIN_SCALE, *limits)), max(MAX_SCALE, *limits))
        # Keep the canvas point under `around` where it is.
        self._offset = around - (around - self._offset) * (new / self._scale)
        self._scale = new
        self._fit = False
        self.update()

    def to_canvas(self, pos: QPointF | QPoint) -> tuple[int, int]:
        """The canvas pixel shown at the screen pixel under `pos`. Drawing samples that screen pixel at its centre,
        half a device pixel right and down of `pos`: mapping `pos` itself would pick the canvas pixel to the left
        or above wherever a boundary crosses the screen pixel, and below scale 1 never reach the last column or row."""
        half = 0.5 / self.devicePixelRatioF()
        p = (QPointF(pos) + QPointF(half, half) - self._offset) / self._scale
        return int(np.floor(p.x())), int(np.floor(p.y()))

    def to_widget(self, x: float, y: float) -> QPointF:
        return self._offset + QPointF(x, y) * self._scale

    def _inside(self, p: tuple[int, int]) -> bool:
        if self.doc is None:
            return False
        h, w = self.doc.shape
        return 0 <= p[0] < w and 0 <= p[1] < h

    def resizeEvent(self, event) -> None:
        if self._fit:
            self.fit()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / WHEEL_NOTCH
        if not notches:  # a horizontal scroll
            event.ignore()
            return
        # Fractional notches zoom by the fraction: a touchpad's many small deltas add up to what a wheel does.
        self.zoom(ZOOM_STEP**notches, event.position())

    # ---- painting --------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(48, 48, 52))
        if self.doc is None or self._labels_img is None:
            return
        h, w = self.doc.shape
        target = QRectF(self._offset, self._offset + QPointF(w, h) * self._scale)
        # Nearest sampling: a zoomed canvas shows hard pixels, as the ids are.
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        if self.overlay and self._result_img is not None:
            p.drawImage(target, self._result_img)
            p.setOpacity(self.label_opacity)
        p.drawImage(target, self._labels_img)
        p.setOpacity(1.0)
        if self._selection_img is not None:
            p.drawImage(target, self._selection_img)
        self._paint_preview(p)

    def _paint_preview(self, p: QPainter) -> None:
        pen = QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine)
        p.setPen(pen)
        tool = self.tools.tool
        if self._drag_start is not None and self._mouse is not None:
            (x0, y0), (x1, y1) = self._drag_start, self._mouse
            if self._active in (Tool.RECT, Tool.SELECT_RECT):
                a = self.to_widget(min(x0, x1), min(y0, y1))
                b = self.to_widget(max(x0, x1) + 1, max(y0, y1) + 1)
                p.drawRect(QRectF(a, b))
            elif self._active == Tool.LINE:
                p.drawLine(self.to_widget(x0 + 0.5, y0 + 0.5), self.to_widget(x1 + 0.5, y1 + 0.5))
        if self._lasso:
            path = QPainterPath(self.to_widget(self._lasso[0][0] + 0.5, self._lasso[0][1] + 0.5))
            for x, y in self._lasso[1:]:
                path.lineTo(self.to_widget(x + 0.5, y + 0.5))
            p.drawPath(path)
        if tool in (Tool.BRUSH, Tool.ERASER, Tool.LINE) and self._mouse is not None:
            s = self.tools.size
            x, y = self._mouse
            lo = -(s // 2)
            r = QRectF(self.to_widget(x + lo, y + lo), self.to_widget(x + lo + s, y + lo + s))
            p.setPen(QPen(QColor(255, 255, 255), 1))
            p.drawEllipse(r) if self.tools.round_tip else p.drawRect(r)

    # ---- mouse -----------------------------------------------------------------------------------
    def _panning(self, event: QMouseEvent) -> bool:
        return bool(event.buttons() & Qt.MouseButton.MiddleButton) or self.tools.tool == Tool.PAN

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.doc is None:
            return
        if self._panning(event):
            self._pan_from = event.position()
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pt = self.to_canvas(event.position())
        self.press_at(pt)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.doc is None:
            return
        pt = self.to_canvas(event.position())
        self._mouse = pt
        self.hovered.emit(*pt, int(self.doc.labels[pt[1], pt[0]]) if self._inside(pt) else -1)
        if self._pan_from is not None:
            self._offset += event.position() - self._pan_from
            self._pan_from = event.position()
            self._fit = False
        elif event.buttons() & Qt.MouseButton.LeftButton:
            self.drag_to(pt)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.doc is None:
            return
        if self._pan_from is not None:
            self._pan_from = None
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.release_at(self.to_canvas(event.position()))

    def leaveEvent(self, event) -> None:
        self._mouse = None
        self.update()

    # ---- tool actions in canvas pixels (also the entry points for tests and scripting) -----------
    def press_at(self, pt: tuple[int, int]) -> None:
        doc, t = self.doc, self.tools
        if doc is None:
            return
        tool = self._active = t.tool
        if tool in (Tool.BRUSH, Tool.ERASER):
            doc.begin_stroke()
            self._last = pt
            doc.paint(painting.stroke_mask(doc.shape, pt, pt, t.size, t.round_tip), self._paint_id())
        elif tool == Tool.FILL and self._inside(pt):
            doc.paint(painting.fill_mask(doc.labels, pt, t.fill_contiguous), t.class_id, "Fill")
        elif tool == Tool.EYEDROPPER and self._inside(pt):
            self.class_picked.emit(int(doc.labels[pt[1], pt[0]]))
        elif tool in (Tool.LINE, Tool.RECT, Tool.SELECT_RECT):
            self._drag_start = pt
            self._mouse = pt
        elif tool == Tool.LASSO:
            self._lasso = [pt]

    def drag_to(self, pt: tuple[int, int]) -> None:
        if self._active in (Tool.BRUSH, Tool.ERASER) and self._last is not None:
            self._stroke_to(pt)
        elif self._active == Tool.LASSO and self._lasso and pt != self._lasso[-1]:
            self._lasso.append(pt)
        self._mouse = pt
        self.update()

    def release_at(self, pt: tuple[int, int]) -> None:
        doc, t, tool = self.doc, self.tools, self._active
        if doc is None:
            return
        if tool in (Tool.BRUSH, Tool.ERASER) and self._last is not None:
            self._stroke_to(pt)
            self._last = None
            doc.end_stroke("Eraser" if tool == Tool.ERASER else "Brush")
        elif self._drag_start is not None:
            start, self._drag_start = self._drag_start, None
            if tool == Tool.LINE:
                doc.paint(painting.stroke_mask(doc.shape, start, pt, t.size, t.round_tip), t.class_id, "Line")
            elif tool == Tool.RECT:
                doc.paint(painting.rect_mask(doc.shape, start, pt), t.class_id, "Rectangle")
            elif tool == Tool.SELECT_RECT:
                # A click without a drag clears the selection.
                doc.set_selection(painting.rect_mask(doc.shape, start, pt) if start != pt else None)
        elif tool == Tool.LASSO and self._lasso:
            points, self._lasso = self._lasso + [pt], []
            doc.set_selection(painting.polygon_mask(doc.shape, points) if len(points) > 2 else None)
        self._active = None
        self._mouse = pt
        self.update()

    def _stroke_to(self, pt: tuple[int, int]) -> None:
        doc, t, last = self.doc, self.tools, self._last
        if doc is not None and last is not None and pt != last:
            doc.paint(painting.stroke_mask(doc.shape, last, pt, t.size, t.round_tip), self._paint_id())
        self._last = pt

    def _paint_id(self) -> int:
        return self.tools.background_id if self._active == Tool.ERASER else self.tools.class_id
