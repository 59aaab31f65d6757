"""Painting tools, undo/redo and selection on the document and canvas (no inference involved)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.canvas import MAX_SCALE, MIN_SCALE, ZOOM_STEP, CanvasView, Tool, ToolState
from app.document import UNDO_LIMIT, Document
from app.painting import brush_stamp, polygon_mask

from .helpers.models import tiny_config


@pytest.fixture
def canvas(qtbot) -> CanvasView:
    view = CanvasView(ToolState())
    qtbot.addWidget(view)
    view.resize(480, 320)
    view.set_document(Document(tiny_config()))
    return view


def drag(view: CanvasView, *points: tuple[int, int]) -> None:
    view.press_at(points[0])
    for p in points[1:]:
        view.drag_to(p)
    view.release_at(points[-1])


def test_square_stroke_writes_exactly_the_covered_pixels(canvas: CanvasView) -> None:
    canvas.tools.update(tool=Tool.BRUSH, class_id=3, size=3, round_tip=False)
    drag(canvas, (5, 10), (12, 10), (20, 10))
    expected = np.zeros((32, 48), dtype=np.int32)
    expected[9:12, 4:22] = 3
    np.testing.assert_array_equal(canvas.doc.labels, expected)
    assert canvas.doc.labels.dtype == np.int32  # ids, never blended colours


def test_round_dab_is_a_hard_disk_and_clips_at_the_border(canvas: CanvasView) -> None:
    canvas.tools.update(tool=Tool.BRUSH, class_id=2, size=5, round_tip=True)
    drag(canvas, (10, 10))
    expected = np.zeros((32, 48), dtype=bool)
    expected[8:13, 8:13] = brush_stamp(5, True)
    np.testing.assert_array_equal(canvas.doc.labels == 2, expected)
    assert not expected[8, 8] and expected[8, 9]  # corners cut: it is round
    canvas.tools.update(class_id=4)
    drag(canvas, (0, 0))
    assert canvas.doc.labels[0, 0] == 4 and set(np.unique(canvas.doc.labels)) == {0, 2, 4}


def test_mouse_events_paint_through_the_view_transform(canvas: CanvasView, qtbot) -> None:
    canvas.tools.update(tool=Tool.BRUSH, class_id=1, size=1, round_tip=False)
    target = canvas.to_widget(7.5, 4.5).toPoint()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=target)
    assert np.argwhere(canvas.doc.labels == 1).tolist() == [[4, 7]]
    assert canvas.to_canvas(QPoint(target)) == (7, 4)


def test_fill_contiguous_and_whole_class(canvas: CanvasView) -> None:
    doc = canvas.doc
    doc.labels[:, 20] = 1  # a wall splits class 0 into a left and a right region
    canvas.tools.update(tool=Tool.FILL, class_id=3, fill_contiguous=True)
    drag(canvas, (2, 2))
    assert (doc.labels[:, :20] == 3).all() and (doc.labels[:, 21:] == 0).all() and (doc.labels[:, 20] == 1).all()
    doc.undo()
    canvas.tools.update(fill_contiguous=False)
    drag(canvas, (2, 2))
    assert (doc.labels[:, :20] == 3).all() and (doc.labels[:, 21:] == 3).all() and (doc.labels[:, 20] == 1).all()


def test_eraser_eyedropper_line_and_rectangle(canvas: CanvasView) -> None:
    doc = canvas.doc
    canvas.tools.update(tool=Tool.RECT, class_id=2)
    drag(canvas, (10, 5), (4, 1))
    assert (doc.labels[1:6, 4:11] == 2).all() and (doc.labels == 2).sum() == 5 * 7
    canvas.tools.update(tool=Tool.ERASER, background_id=4, size=1, round_tip=False)
    drag(canvas, (4, 1), (10, 1))
    assert (doc.labels[1, 4:11] == 4).all() and (doc.labels == 2).sum() == 4 * 7
    picked = []
    canvas.class_picked.connect(picked.append)
    canvas.tools.update(tool=Tool.EYEDROPPER)
    drag(canvas, (5, 3))
    assert picked == [2]
    canvas.tools.update(tool=Tool.LINE, class_id=3, size=1)
    drag(canvas, (0, 31), (15, 31), (30, 31))  # only the end point counts, not the path
    assert np.argwhere(doc.labels == 3)[:, 1].tolist() == list(range(31)) and (doc.labels[31, :31] == 3).all()


def test_undo_redo_restore_exactly_and_store_only_regions(canvas: CanvasView) -> None:
    doc = canvas.doc
    canvas.tools.update(tool=Tool.BRUSH, size=2, round_tip=False)
    states = [doc.labels.copy()]
    for i in range(UNDO_LIMIT):
        canvas.tools.update(class_id=1 + i % 4)
        drag(canvas, (i % 40, i % 30), (i % 40 + 3, i % 30))
        states.append(doc.labels.copy())
    assert len(doc.undo_stack) == UNDO_LIMIT >= 100
    # Each step keeps its 2x5 bounding box (old and new), not two copies of the 32x48 map.
    assert doc.undo_stack.nbytes <= UNDO_LIMIT * 2 * (2 * 5) * doc.labels.itemsize
    for expected in reversed(states[:-1]):
        assert doc.undo()
        np.testing.assert_array_equal(doc.labels, expected)
    assert not doc.undo()
    for expected in states[1:]:
        assert doc.redo()
        np.testing.assert_array_equal(doc.labels, expected)
    assert not doc.redo()


def test_a_new_edit_after_undo_drops_the_redo_branch(canvas: CanvasView) -> None:
    doc = canvas.doc
    canvas.tools.update(tool=Tool.RECT, class_id=1)
    drag(canvas, (0, 0), (3, 3))
    doc.undo()
    canvas.tools.update(class_id=2)
    drag(canvas, (5, 5), (6, 6))
    assert not doc.redo()
    assert (doc.labels == 1).sum() == 0 and (doc.labels == 2).sum() == 4


def test_rectangle_and_lasso_selection_masks(canvas: CanvasView) -> None:
    doc = canvas.doc
    canvas.tools.update(tool=Tool.SELECT_RECT)
    drag(canvas, (3, 2), (9, 7))
    expected = np.zeros((32, 48), dtype=bool)
    expected[2:8, 3:10] = True
    np.testing.assert_array_equal(doc.selection, expected)
    drag(canvas, (5, 5))  # a click clears it
    assert doc.selection is None
    canvas.tools.update(tool=Tool.LASSO)
    drag(canvas, (10, 10), (30, 10), (30, 25), (10, 25))
    expected = np.zeros((32, 48), dtype=bool)
    expected[10:26, 10:31] = True
    np.testing.assert_array_equal(doc.selection, expected)
    tri = polygon_mask((32, 48), [(0, 0), (20, 0), (0, 20)])
    assert tri[0, 0] and tri[0, 20] and tri[19, 0] and not tri[15, 15]
    assert doc.labels.max() == 0  # selecting never paints


def test_zoom_keeps_the_point_under_the_cursor(canvas: CanvasView) -> None:
    anchor = canvas.to_widget(12, 8)
    canvas.zoom(2.0, anchor)
    after = canvas.to_widget(12, 8)
    assert abs(after.x() - anchor.x()) < 1e-6 and abs(after.y() - anchor.y()) < 1e-6
    assert canvas.to_canvas(canvas.to_widget(12.5, 8.5)) == (12, 8)


def test_a_gesture_ends_with_the_tool_that_started_it(canvas: CanvasView) -> None:
    """A tool key pressed in the middle of a drag changes the tool for the next press, not this gesture."""
    t, doc = canvas.tools, canvas.doc
    t.update(tool=Tool.BRUSH, class_id=3, size=1, round_tip=False)
    canvas.press_at((2, 2))
    canvas.drag_to((10, 2))
    t.update(tool=Tool.FILL)
    canvas.release_at((12, 2))
    assert not doc.in_stroke and doc.modified and doc.undo_stack.undo_label == "Brush"
    assert (doc.labels[2, 2:13] == 3).all() and (doc.labels == 3).sum() == 11
    t.update(tool=Tool.ERASER, background_id=1)
    canvas.press_at((2, 2))
    t.update(tool=Tool.BRUSH)
    canvas.release_at((5, 2))
    assert doc.undo_stack.undo_label == "Eraser" and (doc.labels[2, 2:6] == 1).all()  # erased to the end
    t.update(tool=Tool.RECT, class_id=4)
    canvas.press_at((20, 10))
    t.update(tool=Tool.PAN)
    canvas.release_at((25, 15))
    assert (doc.labels[10:16, 20:26] == 4).all()
    t.update(tool=Tool.LASSO)
    drag_points = [(30, 5), (40, 5), (40, 15)]
    canvas.press_at(drag_points[0])
    for p in drag_points[1:]:
        canvas.drag_to(p)
    t.update(tool=Tool.BRUSH)
    canvas.release_at((30, 15))
    assert doc.selection is not None and doc.selection[10, 35] and not canvas._lasso
    assert doc.undo() and doc.undo() and doc.undo() and (doc.labels == 0).all()


def wheel(view: CanvasView, dx: int, dy: int) -> None:
    pos = QPointF(100, 80)
    event = QWheelEvent(
        pos,
        view.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(dx, dy),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, event)


def test_the_wheel_zooms_a_step_per_notch_and_ignores_horizontal_scrolls(canvas: CanvasView) -> None:
    start = canvas._scale
    wheel(canvas, 120, 0)
    assert canvas._scale == start
    for _ in range(40):  # a touchpad: many small deltas, one notch in all
        wheel(canvas, 0, 3)
    assert canvas._scale == pytest.approx(start * ZOOM_STEP)
    wheel(canvas, 0, -240)
    assert canvas._scale == pytest.approx(start / ZOOM_STEP)


@pytest.mark.parametrize(
    "widget, size, factor", [((200, 150), (512, 1024), 1 / ZOOM_STEP), ((1000, 800), (16, 16), ZOOM_STEP)]
)
def test_zoom_never_goes_the_wrong_way_from_a_fitted_scale_beyond_the_limits(qtbot, widget, size, factor) -> None:
    """A canvas fitted below the minimum zoom does not zoom in on Zoom Out, nor one fitted above the maximum out."""
    view = CanvasView(ToolState())
    qtbot.addWidget(view)
    view.resize(*widget)
    view.set_document(Document(tiny_config(height=size[0], width=size[1])))
    fitted = view._scale
    assert not MIN_SCALE <= fitted <= MAX_SCALE
    view.zoom(factor)
    assert view._scale == fitted
    view.zoom(1 / factor)
    assert view._scale == pytest.approx(fitted / factor)
