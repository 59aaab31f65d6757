"""Nothing overwritten, nothing silently wrong: autosave failures, the command line, recovery, the rectangle's
far edge, colour layouts that went through JPEG, and File > Open Recent."""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app import main as app_main
from app.canvas import CanvasView, Tool, ToolState
from app.document import Document
from app.main_window import MainWindow
from app.settings import MAX_RECENT, recent_files, recovery_path
from oasis_core import colorize, colors_to_labels, random_layout, save_label_png

from .helpers.app import make_window
from .helpers.models import tiny_config


def displayed_extent(view: CanvasView) -> tuple[QPoint, QPoint]:
    """The first and the last widget pixel that show the canvas (its colours, not the background)."""
    image = view.grab().toImage()
    background = (48, 48, 52)
    shown = np.array(
        [[image.pixelColor(x, y).getRgb()[:3] != background for x in range(view.width())] for y in range(view.height())]
    )
    ys, xs = np.nonzero(shown)
    return QPoint(int(xs.min()), int(ys.min())), QPoint(int(xs.max()), int(ys.max()))


@pytest.mark.parametrize("size", [(480, 320), (400, 260), (700, 420)])  # scales 0.92, 0.49, 1.35
def test_a_rectangle_dragged_corner_to_corner_covers_the_whole_canvas(qtbot, size) -> None:
    view = CanvasView(ToolState())
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    view.set_document(Document(tiny_config(height=256, width=512)))
    view.tools.update(tool=Tool.RECT, class_id=3)
    first, last = displayed_extent(view)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=first)
    qtbot.mouseMove(view, last)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=last)
    assert (view.doc.labels == 3).all(), np.argwhere(view.doc.labels != 3)[[0, -1]]


def test_the_pixel_under_the_mouse_is_the_one_shown_there(qtbot) -> None:
    view = CanvasView(ToolState())
    qtbot.addWidget(view)
    view.resize(400, 260)
    view.show()
    doc = Document(tiny_config(height=64, width=96))
    view.set_document(doc)
    ys, xs = np.mgrid[0:64, 0:96]
    doc.set_labels((xs + 2 * ys) % 5)
    view.zoom(1.7)  # a scale that is no whole number
    image = view.grab().toImage()
    colors = np.asarray(doc.config.class_colors)
    wrong = []
    for wy in range(0, view.height(), 3):
        for wx in range(0, view.width(), 3):
            x, y = view.to_canvas(QPoint(wx, wy))
            if 0 <= x < 96 and 0 <= y < 64 and tuple(colors[doc.labels[y, x]]) != image.pixelColor(wx, wy).getRgb()[:3]:
                wrong.append((wx, wy))
    assert len(wrong) < 0.01 * view.width() * view.height() / 9, wrong[:10]  # Qt's own rounding: a few edge pixels


def autosave_once(qtbot, window) -> None:
    """One autosave attempt, waited for, with its result delivered to the GUI thread."""
    future = window.autosaver.save_if_changed()
    assert future is not None
    future.result(timeout=20)
    qtbot.wait(50)  # the queued report of the autosave thread


def test_autosave_failures_are_reported_once_per_streak_and_leave_no_temp_file(qtbot, model_dir, dialogs) -> None:
    blocked = recovery_path()
    blocked.mkdir(parents=True)
    (blocked / "in the way").write_text("a folder where the recovery file should be: it cannot be replaced")
    window = make_window(qtbot, model_dir, autosave_ms=10**6)  # attempts only when the test asks
    reports: list[str] = []
    window.autosaver.failed.connect(reports.append)
    doc = window.controller.document
    doc.set_labels(np.full(doc.shape, 2))
    autosave_once(qtbot, window)
    assert len(reports) == 1 and str(blocked) in reports[0]
    assert "autosave" in window.statusBar().currentMessage().lower()
    assert list(blocked.parent.glob("*.tmp")) == []
    doc.set_labels(np.full(doc.shape, 3))
    autosave_once(qtbot, window)
    autosave_once(qtbot, window)  # the failed state is tried again, not taken as saved
    assert len(reports) == 1 and list(blocked.parent.glob("*.tmp")) == []

    saved: list[str] = []
    window.autosaver.saved.connect(saved.append)
    (blocked / "in the way").unlink()
    blocked.rmdir()
    autosave_once(qtbot, window)  # the same state, now written: the streak ends
    assert saved == [str(blocked)] and blocked.is_file()
    blocked.unlink()
    blocked.mkdir()
    (blocked / "in the way").write_text("")
    doc.set_labels(np.full(doc.shape, 4))
    autosave_once(qtbot, window)
    assert len(reports) == 2  # a new streak is reported again


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("shot.xyz", "not an image type"),  # refused before the model loads
        ("shot", "no image suffix"),
        ("missing/shot.png", "does not exist"),
        ("folder.png", "could not write"),  # found out only when writing
    ],
)
def test_an_unwritable_screenshot_fails_with_one_line(tmp_path, model_dir, isolated_data, capsys, name, says) -> None:
    (tmp_path / "folder.png").mkdir()
    out = tmp_path / name
    assert app_main.main(["--screenshot", str(out), "--model", str(model_dir)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("oasis-studio: ") and says in err[0] and str(out) in err[0], err
    assert {p.name for p in tmp_path.iterdir()} - {"data"} == {"folder.png"}  # nothing written


def test_restored_work_keeps_its_project_file(qtbot, model_dir, dialogs, tmp_path) -> None:
    first = make_window(qtbot, model_dir, autosave_ms=10**6)
    doc = first.controller.document
    doc.set_labels(np.full(doc.shape, 1))
    assert first.save_project(tmp_path / "scene.oasis")
    doc.set_labels(np.full(doc.shape, 2))  # unsaved when the crash comes
    autosave_once(qtbot, first)
    first.autosaver.stop()  # the crash: no clean exit
    first.controller.shutdown()
    first.autosaver = None

    dialogs.answer = QMessageBox.StandardButton.Yes
    second = make_window(qtbot, model_dir, autosave_ms=10**6, check_recovery=True)
    qtbot.waitUntil(lambda: (second.controller.document.labels == 2).all(), timeout=10000)
    assert second.project_path == tmp_path / "scene.oasis" and second.doc.modified
    assert second.windowTitle().startswith("scene.oasis*")
    assert second.save_project_action() and not second.doc.modified  # Ctrl+S: where it belongs, no dialog
    with zipfile.ZipFile(tmp_path / "scene.oasis") as z:
        assert "autosave_of" not in json.loads(z.read("manifest.json"))  # only recovery files say it
    assert (second.controller.open_project(tmp_path / "scene.oasis") == []) and (second.doc.labels == 2).all()


def test_untitled_work_is_restored_untitled(qtbot, model_dir, dialogs) -> None:
    first = make_window(qtbot, model_dir, autosave_ms=10**6)
    first.controller.document.set_labels(np.full(first.controller.document.shape, 2))
    autosave_once(qtbot, first)
    first.autosaver.stop()
    first.controller.shutdown()
    first.autosaver = None
    dialogs.answer = QMessageBox.StandardButton.Yes
    second = make_window(qtbot, model_dir, autosave_ms=10**6, check_recovery=True)
    qtbot.waitUntil(lambda: (second.controller.document.labels == 2).all(), timeout=10000)
    assert second.project_path is None and second.windowTitle().startswith("untitled*")


def test_a_colour_layout_that_went_through_jpeg_keeps_its_classes(studio, dialogs, tmp_path) -> None:
    cfg = studio.controller.model.config
    labels = random_layout(32, 48, [0, 1, 2, 3, 4], regions=5, seed=2)
    buf = io.BytesIO()
    Image.fromarray(colorize(labels, cfg)).save(buf, format="JPEG", quality=90, subsampling=0)
    rgb = np.array(Image.open(buf).convert("RGB"))
    rgb[0, :3] = (1, 2, 3)  # no class's colour, even nearly
    Image.fromarray(rgb).save(tmp_path / "layout.png")  # a colour PNG, saved as JPEG once on its way
    exact = (rgb[..., None, :] == np.asarray(cfg.class_colors)).all(-1).any(-1)
    assert exact.mean() < 0.9  # the test is meaningful: JPEG moved many pixels off the palette

    assert studio.open_labels(tmp_path / "layout.png")
    got = studio.controller.document.labels
    assert (got[1:] == labels[1:]).mean() > 0.95 and (got[0, :3] == 0).all()
    ((_, _, text),) = dialogs.kinds("warning")
    snapped = int(re.search(r"(\d+) pixels were within", text).group(1))
    assert 0.8 * (~exact).sum() < snapped <= (~exact).sum() - 3 and "#010203 (3 px)" in text


def test_colours_near_two_palette_colours_are_not_guessed() -> None:
    cfg = tiny_config(class_colors=((200, 0, 0), (210, 0, 0), (0, 0, 200), (0, 200, 0), (90, 90, 90)), dont_care_id=4)
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[0] = [(0, 0, 200), (0, 12, 190), (0, 16, 216), (0, 17, 200)]  # exact, near, at the limit, too far
    rgb[1] = [(205, 0, 0), (225, 0, 0), (90, 90, 90), (106, 74, 90)]  # between two classes, near one, exact, near
    loaded = colors_to_labels(rgb, cfg)
    np.testing.assert_array_equal(loaded.labels, [[2, 2, 2, 4], [4, 1, 4, 4]])
    snapped, unmapped = loaded.warnings
    assert snapped.startswith("4 pixels were within 16") and "2 colours are not in the palette" in unmapped


def recent_entries(window) -> list[str]:
    window.act.recent_menu.aboutToShow.emit()  # the menu is filled when it opens
    return [a.text() for a in window.act.recent_menu.actions() if not a.isSeparator()]


def test_open_recent_lists_the_latest_files_and_drops_missing_ones(studio, dialogs, tmp_path) -> None:
    c = studio.controller
    assert recent_entries(studio) == ["(no recent files)", "&Clear Recent Files"]
    for n in range(MAX_RECENT + 1):
        assert studio.save_project(tmp_path / f"p{n}.oasis")
    save_label_png(tmp_path / "layout & more.png", np.full(c.document.shape, 3), c.model.config)
    chosen = (str(tmp_path / "layout & more.png"), "")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: chosen)
        studio.act.open_labels.trigger()
    entries = recent_entries(studio)
    assert entries[:3] == ["&1 layout && more.png", "&2 p8.oasis", "&3 p7.oasis"]
    assert len(entries) == MAX_RECENT + 1 and "p0.oasis" not in " ".join(entries)  # the oldest fell off

    c.document.set_labels(np.full(c.document.shape, 1))
    assert studio.save_project(tmp_path / "p8.oasis")
    (tmp_path / "p7.oasis").unlink()
    actions = {a.text(): a for a in studio.act.recent_menu.actions()}
    actions["&3 p7.oasis"].trigger()
    ((_, _, text),) = dialogs.kinds("critical")
    assert "p7.oasis" in text and "removed" in text and studio.project_path == tmp_path / "p8.oasis"
    assert not any("p7.oasis" in e for e in recent_entries(studio))
    c.document.set_labels(np.full(c.document.shape, 4))
    dialogs.answer = QMessageBox.StandardButton.Discard
    {a.text(): a for a in studio.act.recent_menu.actions()}["&3 p6.oasis"].trigger()
    assert studio.project_path == tmp_path / "p6.oasis" and (c.document.labels == 0).all()
    assert recent_entries(studio)[0] == "&1 p6.oasis"
    {a.text(): a for a in studio.act.recent_menu.actions()}["&Clear Recent Files"].trigger()
    assert recent_entries(studio)[0] == "(no recent files)" and recent_files() == []


def run_app_with(qtbot, monkeypatch, model_dir, args: list[str]) -> MainWindow:
    """`oasis-studio ARGS` up to its event loop; the window it opened, once its model has loaded."""
    windows: list[MainWindow] = []
    monkeypatch.setattr(QApplication, "exec", lambda *a: 0)
    monkeypatch.setattr(MainWindow, "show", lambda self: windows.append(self))
    assert app_main.main([*args, "--model", str(model_dir)]) == 0
    (window,) = windows
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=20000)
    qtbot.wait(50)  # what the model's arrival set off
    return window


def test_a_project_or_layout_named_on_the_command_line_is_opened(qtbot, monkeypatch, model_dir, dialogs, tmp_path):
    cfg = tiny_config()
    labels = random_layout(32, 48, [0, 1, 2, 3, 4], seed=5)
    save_label_png(tmp_path / "layout.png", labels, cfg)
    window = run_app_with(qtbot, monkeypatch, model_dir, [str(tmp_path / "layout.png")])
    np.testing.assert_array_equal(window.controller.document.labels, labels)
    window.controller.document.set_seed(42)
    assert window.save_project(tmp_path / "scene.oasis")
    window.close()

    window = run_app_with(qtbot, monkeypatch, model_dir, [str(tmp_path / "scene.oasis")])
    assert window.project_path == tmp_path / "scene.oasis" and window.controller.document.seed == 42
    np.testing.assert_array_equal(window.controller.document.labels, labels)
    assert not dialogs.shown
    window.close()


@pytest.mark.parametrize(("name", "says"), [("missing.oasis", "does not exist"), ("notes.txt", "not a readable")])
def test_a_bad_file_on_the_command_line_is_reported_and_the_app_starts_empty(
    qtbot, monkeypatch, model_dir, dialogs, tmp_path, name, says
) -> None:
    (tmp_path / "notes.txt").write_text("not a layout")
    window = run_app_with(qtbot, monkeypatch, model_dir, [str(tmp_path / name)])
    ((_, _, text),) = dialogs.kinds("critical")
    assert name in text and says in text
    assert window.project_path is None and (window.controller.document.labels == 0).all()
    window.close()


def test_a_file_with_screenshot_or_self_test_is_a_usage_error(capsys) -> None:
    for mode in (["--screenshot", "shot.png"], ["--self-test"]):
        with pytest.raises(SystemExit) as exit_:
            app_main.main(["scene.oasis", *mode])
        assert exit_.value.code == 2 and "FILE is for the app's window" in capsys.readouterr().err
