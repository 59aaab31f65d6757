"""The main window: lays out the widgets, wires them and the actions (`actions`) to the controller, and runs the
file and model flows with their dialogs. No model logic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from oasis_core import default_model

from . import project
from .actions import Actions
from .autosave import AUTOSAVE_MS, Autosaver, recovery_model_source, recovery_project_path
from .canvas import CanvasView, ToolState
from .controller import MAX_UI_SEED, Controller, ModelInfo
from .dialogs import SettingsDialog, ask_hub_id, ask_model_folder, ask_official_checkpoint, ask_yes_no, load_progress
from .document import Document
from .examples import Example
from .interpolation import FRAME_COUNT
from .model_sources import default_source, describe_source, model_loader
from .palette import PaletteWidget
from .settings import add_recent_file, device_settings, recovery_path, remove_recent_file, save_device_settings
from .views import BrushBar, HistoryStrip, InterpolationPanel, ResultView

LABEL_FILTER = "Label maps (*.png);;All files (*)"
PROJECT_FILTER = f"OASIS Studio projects (*{project.SUFFIX})"
IMAGE_FILTER = "PNG image (*.png);;JPEG image (*.jpg *.jpeg)"
PHOTO_FILTER = "Photos (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: Controller | None = None,
        autosave_ms: int | None = AUTOSAVE_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("OASIS Studio")
        self.controller = controller or Controller()
        self.tools = ToolState(self)
        self.project_path: Path | None = None
        self.load_error: str | None = None
        self._restore_pending: Path | None = None
        self._open_pending: Path | None = None  # a project to open once the model it was made with has loaded
        self._progress: QProgressDialog | None = None
        self._interactive_load = False  # failures of loads the user asked for get a dialog
        self._build_widgets()
        self.act = Actions(self)
        self._build_toolbars()
        self.act.add_menus(self.menuBar())
        self._connect()
        self.autosaver = (
            None
            if autosave_ms is None
            else Autosaver(self.controller, recovery_path(), autosave_ms, self, lambda: self.project_path)
        )
        if self.autosaver is not None:
            self.autosaver.failed.connect(self._autosave_failed)
        self._set_model_actions(None)
        self.resize(1400, 860)

    # ---- construction ----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.canvas = CanvasView(self.tools)
        self.result = ResultView()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.result)
        self.empty_message = QLabel("Loading the model…", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        empty = QWidget()
        lay = QVBoxLayout(empty)
        lay.addStretch()
        lay.addWidget(self.empty_message)
        self.open_model_button = QPushButton("Open Model Folder…")
        self.hub_button = QPushButton("Load from Hugging Face Hub…")
        for b in (self.open_model_button, self.hub_button):
            lay.addWidget(b, alignment=Qt.AlignmentFlag.AlignCenter)
        lay.addStretch()
        self.stack = QStackedWidget()
        self.stack.addWidget(empty)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)

        self.class_palette = PaletteWidget()
        dock = QDockWidget("Classes", self)
        dock.setObjectName("classes")
        dock.setWidget(self.class_palette)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.history = HistoryStrip()
        self.interp = InterpolationPanel()
        bottom = QWidget()
        blay = QVBoxLayout(bottom)
        blay.setContentsMargins(4, 0, 4, 0)
        blay.addWidget(self.history)
        blay.addWidget(self.interp)
        dock = QDockWidget("Variations", self)
        dock.setObjectName("variations")
        dock.setWidget(bottom)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)

        sb = self.statusBar()
        self.model_label = QLabel("no model")
        self.device_label = QLabel("")
        self.latency_label = QLabel("")
        self.working = QProgressBar()
        self.working.setMaximumWidth(90)
        self.working.setTextVisible(False)
        self.working.setRange(0, 0)  # busy indicator
        self.working.setToolTip("Working…")
        self.working.hide()
        for w in (self.working, self.model_label, self.device_label, self.latency_label):
            sb.addPermanentWidget(w)

    def _build_toolbars(self) -> None:
        tb = self.addToolBar("Tools")
        tb.setObjectName("tools")
        tb.addActions(list(self.act.tools.values()))
        self.brush_bar = BrushBar(self.tools)
        self.addToolBar(self.brush_bar)
        self.overlay_slider = QSlider(Qt.Orientation.Horizontal)
        self.overlay_slider.setRange(0, 100)
        self.overlay_slider.setValue(50)
        self.overlay_slider.setMaximumWidth(100)
        self.overlay_slider.setToolTip("Opacity of the layout over the result in overlay mode")
        self.brush_bar.addAction(self.act.overlay)
        self.brush_bar.addWidget(self.overlay_slider)

        self.addToolBarBreak()
        tb = self.addToolBar("Generate")
        tb.setObjectName("generate")
        tb.addAction(self.act.generate)
        self.live_check = QCheckBox("Live")
        self.live_check.setToolTip(self.act.live.toolTip())
        self.lock_check = QCheckBox("Lock noise")
        self.lock_check.setChecked(True)
        self.lock_check.setToolTip(self.act.lock.toolTip())
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_UI_SEED)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setMinimumWidth(110)
        self.seed_spin.setToolTip(
            "Seed of the global noise: type one and press Enter to return to that variation (without local re-rolls)"
        )
        for w in (self.live_check, self.lock_check, QLabel(" Seed "), self.seed_spin):
            tb.addWidget(w)
        tb.addActions([self.act.variation, self.act.reroll_sel, self.act.reroll_class])

    def _connect(self) -> None:
        c = self.controller
        c.document_changed.connect(self._on_document)
        c.model_changed.connect(self._on_model)
        c.model_failed.connect(self._on_model_failed)
        c.device_described.connect(self.device_label.setText)
        c.busy_changed.connect(self.working.setVisible)
        c.latency.connect(lambda s: self.latency_label.setText(f"last: {s * 1000:.0f} ms"))
        c.error.connect(self.show_error)
        c.notice.connect(self._notice)
        c.status.connect(lambda message: self.statusBar().showMessage(message, 10000))
        c.history_changed.connect(lambda: self.history.set_variations(c.history, c.current_variation()))
        c.frames_changed.connect(self._frames_changed)
        self.history.variation_clicked.connect(c.restore_variation)
        self.interp.set_a.connect(lambda: c.set_interp_end("a"))
        self.interp.set_b.connect(lambda: c.set_interp_end("b"))
        self.interp.in_selection_toggled.connect(c.set_interp_in_selection)
        self.interp.frame_selected.connect(c.show_frame)
        self.interp.export_gif.connect(self.export_gif_dialog)
        self.class_palette.class_selected.connect(lambda i: self.tools.update(class_id=i))
        self.class_palette.reroll_requested.connect(self.reroll_class)
        self.class_palette.eraser_requested.connect(lambda i: self.tools.update(background_id=i))
        self.canvas.class_picked.connect(self._class_picked)
        self.canvas.hovered.connect(self._hovered)
        self.tools.changed.connect(self._tools_changed)
        self.overlay_slider.valueChanged.connect(lambda v: self.canvas.set_overlay(self.canvas.overlay, v / 100))
        self.live_check.toggled.connect(self.act.live.setChecked)
        self.act.live.toggled.connect(self.live_check.setChecked)
        self.lock_check.toggled.connect(self.act.lock.setChecked)
        self.act.lock.toggled.connect(self.lock_check.setChecked)
        self.seed_spin.valueChanged.connect(self._seed_typed)  # arrows, and a typed seed that differs
        self.seed_spin.lineEdit().returnPressed.connect(self._seed_entered)  # not on focus loss: it would undo re-rolls
        self.open_model_button.clicked.connect(self.open_model_dialog)
        self.hub_button.clicked.connect(self.hub_dialog)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def doc(self) -> Document | None:
        return self.controller.document

    def _on_document(self, doc: Document) -> None:
        self.project_path = None  # a new picture: Save must not write over the previous one's file
        self.canvas.set_document(doc)
        self._image_changed(doc)
        doc.image_changed.connect(lambda: self._image_changed(doc))
        doc.undo_state_changed.connect(lambda: self.act.undo_changed(self.doc))
        doc.modified_changed.connect(lambda _: self._update_title())
        doc.noise_changed.connect(self._noise_changed)
        doc.selection_changed.connect(lambda: self.act.selection_changed(self.doc))
        self.act.undo_changed(doc)
        self._noise_changed()
        self.act.selection_changed(doc)
        self._update_title()

    def _image_changed(self, doc: Document) -> None:
        self.result.set_image(doc.image)
        self.act.image_changed(doc)

    def _on_model(self, info: ModelInfo) -> None:
        self._close_progress()
        self.load_error = None
        if (info.device, info.precision) != device_settings():
            save_device_settings(info.device, info.precision)  # what works: a setting that failed is not kept
        cfg = info.config
        # Other classes; the same ones (e.g. after Settings) keep the tools' classes.
        if self.class_palette.set_config(cfg):
            first = cfg.semantic_ids[0]
            self.tools.update(class_id=first, background_id=first)
            self.class_palette.select(first)
        self.stack.setCurrentIndex(1)
        self.model_label.setText(f"model: {info.name}")
        self.device_label.setText(info.description)
        self.latency_label.clear()  # it timed the previous model or device
        self._set_model_actions(info)
        if self._restore_pending is not None:
            self._restore(self._restore_pending)
        if self._open_pending is not None:
            path, self._open_pending = self._open_pending, None
            self.open_project(path, offer_model=False)

    def _restore(self, path: Path) -> None:
        """Open the autosaved project of a crashed session. It stays the recovery file (the autosave does not
        write over it) until it is restored or the user lets it go."""
        try:
            self.controller.open_project(path)
        except (OSError, ValueError) as e:
            keep = f"{e}\n\nKeep the autosaved project, to restore it when a model it fits is loaded? No deletes it."
            if ask_yes_no(self, "Could not restore the autosaved project", keep):
                return
            path.unlink(missing_ok=True)
        else:
            self.project_path = recovery_project_path(path)  # Save writes where the work belongs
            assert self.doc is not None  # open_project attached the project's document
            self.doc.mark_modified()
            self._update_title()
            self.statusBar().showMessage("Restored the autosaved project", 8000)
        self._set_restore_pending(None)

    def _set_restore_pending(self, path: Path | None) -> None:
        self._restore_pending = path
        if self.autosaver is not None:
            self.autosaver.paused = path is not None

    def _on_model_failed(self, message: str) -> None:
        self._close_progress()
        self._open_pending = None
        self.load_error = message
        if self.controller.model is None:
            kept = "\n\nThe autosaved work is kept: it is restored once a model loads." if self._restore_pending else ""
            self.empty_message.setText(
                f"No model loaded.\n\n{message}{kept}\n\nOpen a model folder or a Hub id to start."
            )
            self.stack.setCurrentIndex(0)
            self.statusBar().showMessage("no model loaded")
        if self._interactive_load:
            self.show_error("Could not load the model", message)

    def _set_model_actions(self, info: ModelInfo | None) -> None:
        self.act.model_loaded(info, self.doc)
        noise = info is not None and info.config.noise_3d
        for w in (self.seed_spin, self.interp, self.lock_check):
            w.setEnabled(noise)
        self.live_check.setEnabled(info is not None)

    def _noise_changed(self) -> None:
        if self.doc is not None:
            self.seed_spin.blockSignals(True)
            self.seed_spin.setValue(min(self.doc.seed, MAX_UI_SEED))
            self.seed_spin.blockSignals(False)
            self.history.show_current(self.controller.current_variation())

    def _update_title(self) -> None:
        name = self.project_path.name if self.project_path else "untitled"
        star = "*" if self.doc is not None and self.doc.modified else ""
        self.setWindowTitle(f"{name}{star} — OASIS Studio")

    def _tools_changed(self) -> None:
        t = self.tools
        self.act.tools[t.tool].setChecked(True)
        if self.class_palette.current_class() != t.class_id:
            self.class_palette.select(t.class_id)

    def _hovered(self, x: int, y: int, class_id: int) -> None:
        if class_id >= 0 and self.doc is not None:
            self.statusBar().showMessage(f"({x}, {y})  {class_id}: {self.doc.config.class_names[class_id]}")

    def _frames_changed(self) -> None:
        c, frames = self.controller, self.controller.interpolation.frames
        if frames is not None:
            status = f"{len(frames)} frames"
        elif c.frames_pending:
            status = "making frames…"
        elif c.interpolation.stale:
            status = f"{c.interpolation.stale} changed: Generate remakes the frames"
        else:
            status = "Set A and B"
        self.interp.set_frames(FRAME_COUNT, frames is not None, status, c.current_frame() or 0)

    # ---- small actions ---------------------------------------------------------------------------
    def _seed_typed(self, seed: int) -> None:
        if self.doc is not None and seed != self.doc.seed:
            self.controller.new_variation(seed)

    def _seed_entered(self) -> None:
        """Enter on the seed shown after a local re-roll: back to that seed's plain variation."""
        seed = self.seed_spin.value()
        if self.doc is not None and (seed != self.doc.seed or not self.doc.noise_is_plain()):
            self.controller.new_variation(seed)

    def _class_picked(self, class_id: int) -> None:
        if class_id in self.class_palette.class_ids:
            self.class_palette.select(class_id)
        elif self.doc is not None:
            name = self.doc.config.class_names[class_id]
            message = f"Nothing picked: {class_id} '{name}' is the model's don't-care class and cannot be painted"
            self.statusBar().showMessage(message, 5000)

    def reroll_selection(self) -> None:
        if not self.controller.reroll_selection():
            self.statusBar().showMessage("Select a region first (M: rectangle, L: lasso)", 5000)

    def reroll_current_class(self) -> None:
        self.reroll_class(self.tools.class_id)

    def reroll_class(self, class_id: int) -> None:
        if self.doc is not None and not self.controller.reroll_class(class_id):
            name = self.doc.config.class_names[class_id]
            why = "is not on the canvas" if self.doc.noise is not None else "has no noise to re-roll in this model"
            self.statusBar().showMessage(f"Nothing re-rolled: '{name}' {why}", 5000)

    def _autosave_failed(self, message: str) -> None:
        """Once per streak of failed autosaves: without a recovery file, a crash would lose the work."""
        self.statusBar().showMessage(f"{message} — a crash now would lose unsaved work: save the project", 30000)

    def _notice(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)
        QMessageBox.information(self, "OASIS Studio", message)

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.critical(self, title, message)

    def _guarded(self, title: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a file operation; any failure becomes an error dialog and leaves the document as it was."""
        try:
            result = fn(*args)
        except (OSError, ValueError, RuntimeError) as e:  # LabelError and ProjectError are ValueErrors
            self.show_error(title, str(e))
            return None
        return True if result is None else result

    # ---- models ----------------------------------------------------------------------------------
    def start(self, model: str | None = None, check_recovery: bool = True) -> None:
        """First model load; offers the autosaved project of a session that did not end cleanly."""
        rec = recovery_path()
        if check_recovery and self.autosaver is not None and rec.is_file():
            question = "OASIS Studio did not shut down cleanly last time. Restore the autosaved project?"
            if ask_yes_no(self, "Restore work?", question):
                self._set_restore_pending(rec)
                model = model or recovery_model_source(rec)
            else:
                rec.unlink(missing_ok=True)
        model = model or default_source()
        if model:
            self.load_model_source(model, interactive=False)
        else:  # nothing bundled: the loader's error says so in the window
            self._load(default_model, "", None, interactive=False)

    def load_model_source(self, source: str, interactive: bool = True) -> None:
        """A model folder, a Hub id or an imported checkpoint (see `model_sources`)."""
        loader, folder = model_loader(source)
        self._load(loader, source, folder, interactive)

    def _load(
        self, loader: Callable[[], Any], source: str, folder: Path | None, interactive: bool, ask_save: bool = True
    ) -> None:
        """`interactive`: the user asked for it, so unsaved work is offered for saving (unless `ask_save` is False:
        the caller has asked), the load can be cancelled and failures get a dialog."""
        if interactive and ask_save and not self._maybe_save("Save the project before loading another model?"):
            return
        self._interactive_load = interactive
        if interactive:
            self._close_progress()
            self._progress = load_progress(source, self)
            self._progress.canceled.connect(self._cancel_load)
            self._progress.show()
        device, precision = device_settings()
        self.controller.load_model(loader, source, folder, device, precision)

    def _cancel_load(self) -> None:
        """Cancel in the loading dialog (which hides itself): the loaded model stays."""
        if self._progress is not None:
            self._progress.deleteLater()
            self._progress = None
        self._open_pending = None
        self.controller.cancel_load()
        model = self.controller.model
        self.statusBar().showMessage(
            "Loading cancelled" + (f": the model stays '{model.name}'" if model is not None else ""), 8000
        )

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.canceled.disconnect(self._cancel_load)  # closing it emits `canceled` too
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None

    def open_model_dialog(self) -> None:
        if source := ask_model_folder(self):
            self.load_model_source(source)

    def hub_dialog(self) -> None:
        if source := ask_hub_id(self):
            self.load_model_source(source)

    def import_dialog(self) -> None:
        if source := ask_official_checkpoint(self):
            self.load_model_source(source)

    def settings_dialog(self) -> None:
        """Also without a model (e.g. when the saved device cannot load one); a setting that fails is reported."""
        device, precision = device_settings()
        dlg = SettingsDialog(device, precision, self)
        if dlg.exec():
            save_device_settings(dlg.device.currentText(), dlg.precision.currentText())
            self._interactive_load = True
            self.controller.reconfigure(dlg.device.currentText(), dlg.precision.currentText())

    # ---- files -----------------------------------------------------------------------------------
    def open_labels(self, path: str | Path, undo_name: str = "Open layout") -> bool:
        warnings = self._guarded("Could not open the layout", self.controller.open_labels, path, undo_name)
        if warnings is None:
            return False
        if isinstance(warnings, list) and warnings:
            QMessageBox.warning(self, "Layout opened with warnings", "\n".join(warnings))
        return True

    def open_example(self, example: Example) -> bool:
        """An example replaces the canvas as an opened layout file does: one undo step."""
        if not self.open_labels(example.path, "Open example"):
            return False
        self.statusBar().showMessage(f"Opened the example '{example.title}' (Undo brings back the last layout)", 8000)
        return True

    def open_labels_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open layout", filter=LABEL_FILTER)
        if path and self.open_labels(path):
            add_recent_file(path)

    def open_file(self, path: str | Path) -> bool:
        """A project (by its suffix) or a layout: File > Open Recent and the command line."""
        path = Path(path)
        if not path.is_file():
            removed = " (any more); it was removed from File > Open Recent" if remove_recent_file(path) else ""
            self.show_error("Could not open the file", f"{path} does not exist{removed}")
            return False
        if path.suffix.lower() == project.SUFFIX:
            return self._maybe_save("Save the project before opening another one?") and self.open_project(path)
        if not self.open_labels(path):
            return False
        add_recent_file(path)
        return True

    def save_labels_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save layout", "layout.png", "Index PNG (*.png)")
        if path:
            self._guarded("Could not save the layout", self.controller.save_labels, path)

    def export_image_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export image", "image.png", IMAGE_FILTER)
        if path:
            suffix = ".jpg" if chosen.startswith("JPEG") else ".png"  # for a name typed without one
            self._guarded("Could not export the image", self.controller.export_image, path, suffix)

    def export_gif_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export interpolation", "interpolation.gif", "GIF (*.gif)")
        if path:
            count = self._guarded("Could not export the GIF", self.controller.export_gif, path)
            if count is not None:
                self.statusBar().showMessage(f"Saved {path} ({count} frames, A to B and back)", 8000)

    def open_project(self, path: str | Path, offer_model: bool = True) -> bool:
        """Open a project; one made with another model offers (`offer_model`) to load that model first, and is
        opened once it has: False until then."""
        try:
            warnings = self.controller.open_project(path)
        except project.ModelMismatch as e:
            if offer_model and e.model_source:
                self._offer_model_of(Path(path), e)
            else:
                self.show_error("Could not open the project", str(e))
            return False
        except (OSError, ValueError, RuntimeError) as e:  # as `_guarded` does
            self.show_error("Could not open the project", str(e))
            return False
        self.project_path = Path(path)
        self._update_title()
        add_recent_file(path)
        if isinstance(warnings, list) and warnings:
            QMessageBox.warning(self, "Project opened with warnings", "\n".join(warnings))
        return True

    def _offer_model_of(self, path: Path, mismatch: project.ModelMismatch) -> None:
        """Yes: load the project's model, then open the project (`_on_model`). No: nothing changes."""
        loaded = self.controller.model.name if self.controller.model is not None else "none"
        question = (
            f"{path.name} was made with the model '{mismatch.model_name}' "
            f"({describe_source(mismatch.model_source)}); the loaded model is '{loaded}'.\n\n"
            f"Load '{mismatch.model_name}' and open the project?"
        )
        if ask_yes_no(self, "Open the project with its model?", question):
            loader, folder = model_loader(mismatch.model_source)
            self._open_pending = path
            self._load(loader, mismatch.model_source, folder, interactive=True, ask_save=False)  # the opener asked

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", filter=PROJECT_FILTER)
        if path and self._maybe_save("Save the project before opening another one?"):
            self.open_project(path)

    def save_project(self, path: str | Path) -> bool:
        path = Path(path)
        if path.suffix != project.SUFFIX:
            path = path.with_name(path.name + project.SUFFIX)
        if self._guarded("Could not save the project", self.controller.save_project, path) is None:
            return False
        self.project_path = path
        self._update_title()
        add_recent_file(path)
        return True

    def save_project_action(self) -> bool:
        return self.save_project(self.project_path) if self.project_path else self.save_project_dialog()

    def save_project_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save project", f"untitled{project.SUFFIX}", PROJECT_FILTER)
        return bool(path) and self.save_project(path)

    def photo_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Photo to layout", filter=PHOTO_FILTER)
        if path:
            self._guarded("Could not use the photo", self.controller.segment_photo, path)

    # ---- shutdown --------------------------------------------------------------------------------
    def _maybe_save(self, question: str) -> bool:
        """Before unsaved work is replaced: Save, Discard or Cancel. False: keep it (cancelled, or not saved)."""
        if self.doc is None or not self.doc.modified:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            question,
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        return answer != QMessageBox.StandardButton.Save or self.save_project_action()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._maybe_save("Save the project before closing?"):
            event.ignore()
            return
        if self.autosaver is not None:
            if self._restore_pending is None:
                self.autosaver.discard()
            else:
                self.autosaver.stop()  # the crashed session's work, not restored yet, is offered again next time
        self.controller.shutdown()
        event.accept()
