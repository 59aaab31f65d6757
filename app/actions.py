"""The main window's commands: every QAction (text, shortcuts, tip, what it does), the menus that show them, and
which of them the loaded model, the undo stack and the selection enable. The toolbars are the window's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

from oasis_core import bundled_models

from .canvas import ZOOM_STEP, Tool
from .dialogs import about_dialog, shortcuts_dialog
from .document import Document
from .examples import examples_for
from .palette import NUMBER_KEYS
from .settings import clear_recent_files, recent_files

if TYPE_CHECKING:
    from .controller import ModelInfo
    from .main_window import MainWindow

TOOL_KEYS = {
    Tool.BRUSH: ("&Brush", "B", "Paint the selected class (round or square tip, [ and ] change the size)"),
    Tool.ERASER: ("&Eraser", "E", "Paint the background class (right-click a class: use as eraser background)"),
    Tool.FILL: ("&Fill", "G", "Fill the clicked region (or every pixel of its class) with the selected class"),
    Tool.EYEDROPPER: ("Eye&dropper", "I", "Pick the class under the cursor"),
    Tool.LINE: ("&Line", "U", "Drag a straight line with the brush tip"),
    Tool.RECT: ("&Rectangle", "R", "Drag a filled rectangle"),
    Tool.SELECT_RECT: ("Rectangle &selection", "M", "Select a rectangle (for re-rolling or local interpolation)"),
    Tool.LASSO: ("L&asso selection", "L", "Select a free-hand region"),
    Tool.PAN: ("&Hand", "H", "Drag to pan (the middle mouse button pans with any tool)"),
}
PHOTO_TIP = "Segment a photo with the model's discriminator into an editable layout"
NO_PHOTO_TIP = "This model was saved without its discriminator, so it cannot turn photos into layouts"


class Actions:
    """Built once the window's widgets exist; the actions live in the window, so that their shortcuts work wherever
    the focus is."""

    def __init__(self, window: MainWindow) -> None:
        self._w = window
        # In the order of the Keyboard Shortcuts list.
        self._file_actions()
        self._edit_actions()
        self._generate_actions()
        self._view_actions()
        self._model_actions()
        self._tool_actions()

    def _add(
        self,
        text: str,
        slot: Callable[..., Any],
        keys: str | list[str] | None = None,
        tip: str = "",
        checkable: bool = False,
    ) -> QAction:
        a = QAction(text, self._w)
        if keys:
            a.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str) else keys)])
        if tip:
            a.setToolTip(tip)
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        (a.toggled if checkable else a.triggered).connect(slot)
        self._w.addAction(a)
        return a

    # ---- the actions -----------------------------------------------------------------------------
    def _file_actions(self) -> None:
        A, w = self._add, self._w
        self.open_labels = A("&Open Layout…", w.open_labels_dialog, "Ctrl+O", "Open a label map PNG")
        self.save_labels = A(
            "Save &Layout As…", w.save_labels_dialog, "Ctrl+Shift+L", "Save the layout as an index PNG with the palette"
        )
        self.open_project = A("Open &Project…", w.open_project_dialog, "Ctrl+Shift+O")
        self.save_project = A(
            "&Save Project", w.save_project_action, "Ctrl+S", "Save the layout, noise, seed and image (.oasis)"
        )
        self.save_project_as = A("Save Project &As…", w.save_project_dialog, "Ctrl+Shift+S")
        self.export = A("&Export Image…", w.export_image_dialog, "Ctrl+E", "Save the result as PNG or JPEG")
        self.photo = A("P&hoto to Layout…", w.photo_dialog, "Ctrl+Shift+P", PHOTO_TIP)
        self.quit = A("&Quit", w.close, "Ctrl+Q")

    def _edit_actions(self) -> None:
        A, w = self._add, self._w
        self.undo = A("&Undo", lambda: w.doc and w.doc.undo(), "Ctrl+Z")
        self.redo = A("&Redo", lambda: w.doc and w.doc.redo(), ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.select_all = A("Select &All", self._select_all, "Ctrl+A")
        self.select_none = A("Select &None", self._select_none, ["Ctrl+D", "Ctrl+Shift+A"])
        self.invert = A("&Invert Selection", self._invert_selection, "Ctrl+I")

    def _generate_actions(self) -> None:
        A, w, c = self._add, self._w, self._w.controller
        self.generate = A(
            "&Generate", c.generate, ["Ctrl+Return", "Ctrl+Enter"], "Generate an image from the layout (Ctrl+Enter)"
        )
        self.live = A("&Live", c.set_live, "Ctrl+L", "Regenerate shortly after every edit", checkable=True)
        self.lock = A(
            "Lock &Noise",
            self._set_lock,
            None,
            "Keep the noise while painting so only the layout changes; unlocked, painted areas get new noise",
            checkable=True,
        )
        self.lock.setChecked(True)
        self.variation = A("New &Variation", lambda: c.new_variation(), "Ctrl+R", "Re-roll the noise everywhere")
        self.reroll_sel = A(
            "Re-roll &Selection",
            w.reroll_selection,
            "Ctrl+Shift+R",
            "New noise only inside the selection; everything else stays",
        )
        self.reroll_class = A(
            "Re-roll &Class", w.reroll_current_class, "Ctrl+Alt+R", "New noise only on the pixels of the selected class"
        )

    def _view_actions(self) -> None:
        A, w = self._add, self._w
        self.zoom_in = A("Zoom &In", lambda: w.canvas.zoom(ZOOM_STEP), ["Ctrl++", "Ctrl+="])
        self.zoom_out = A("Zoom &Out", lambda: w.canvas.zoom(1 / ZOOM_STEP), "Ctrl+-")
        self.fit = A("&Fit", w.canvas.fit, "Ctrl+0")
        self.overlay = A("&Overlay", self._overlay_toggled, "O", "Show the layout over the result", True)
        self.smaller = A("Smaller Brush", lambda: self._resize_brush(-1), "[")
        self.bigger = A("Bigger Brush", lambda: self._resize_brush(1), "]")

    def _model_actions(self) -> None:
        A, w = self._add, self._w
        self.open_model = A(
            "Open &Model Folder…", w.open_model_dialog, None, "A folder with config.json and model.safetensors"
        )
        self.hub = A("Load from &Hub…", w.hub_dialog, None, "Download (or take from the cache) a Hub model")
        self.import_checkpoint = A(
            "&Import Official Checkpoint…",
            w.import_dialog,
            None,
            "Convert the authors' *_EMA.pth / *_G.pth checkpoints (tensors only, no code is run)",
        )
        self.settings = A("&Settings…", w.settings_dialog, "Ctrl+,")
        self.shortcuts = A("&Keyboard Shortcuts", lambda: shortcuts_dialog(w.actions(), w).exec(), "F1")
        self.about = A("&About / Model Card", lambda: about_dialog(w.controller.model, w).exec())

    def _tool_actions(self) -> None:
        A, w = self._add, self._w
        self.tool_group = QActionGroup(w)
        self.tools: dict[Tool, QAction] = {}
        for tool, (text, key, tip) in TOOL_KEYS.items():
            a = A(text, lambda on, t=tool: self._choose_tool(t, on), key, f"{tip} ({key})", True)
            a.setData(tool.value)
            self.tool_group.addAction(a)
            self.tools[tool] = a
        self.tools[Tool.BRUSH].setChecked(True)
        self.classes = [
            A(f"Class {n + 1}", lambda _=False, n=n: self._pick_nth_class(n), str(n + 1)) for n in range(NUMBER_KEYS)
        ]

    # ---- menus -----------------------------------------------------------------------------------
    def add_menus(self, bar: QMenuBar) -> None:
        w = self._w
        self.examples_menu = QMenu("Open E&xample", w)
        self.examples_menu.setToolTipsVisible(True)
        self.recent_menu = QMenu("Open &Recent", w)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.bundled_menu = QMenu("&Bundled Models", w)
        self.bundled_menu.aboutToShow.connect(self._fill_bundled_menu)
        file = _menu(
            bar,
            "&File",
            [self.open_labels, self.examples_menu.menuAction(), self.save_labels],
            [self.open_project, self.recent_menu.menuAction(), self.save_project, self.save_project_as],
            [self.export, self.photo],
            [self.quit],
        )
        file.setToolTipsVisible(True)  # a disabled "Open Example" says why
        edit = [self.undo, self.redo], [self.select_all, self.select_none, self.invert], [self.smaller, self.bigger]
        _menu(bar, "&Edit", *edit)
        _menu(bar, "&Tools", list(self.tools.values()))
        generate = [self.generate, self.live, self.lock], [self.variation, self.reroll_sel, self.reroll_class]
        _menu(bar, "&Generate", *generate)
        _menu(bar, "&View", [self.zoom_in, self.zoom_out, self.fit, self.overlay])
        models = [self.bundled_menu.menuAction(), self.open_model, self.hub, self.import_checkpoint]
        _menu(bar, "&Model", models, [self.settings])
        _menu(bar, "&Help", [self.shortcuts, self.about])

    def _fill_recent_menu(self) -> None:
        menu, w = self.recent_menu, self._w
        menu.clear()
        files = recent_files()
        for n, path in enumerate(files, 1):
            a = menu.addAction(f"&{n} {path.name.replace('&', '&&')}")
            a.triggered.connect(lambda _=False, p=path: w.open_file(p))
            a.setStatusTip(str(path))
            a.setEnabled(w.doc is not None)  # opening either needs a model
        if not files:
            menu.addAction("(no recent files)").setEnabled(False)
        menu.addSeparator()
        menu.addAction("&Clear Recent Files", clear_recent_files).setEnabled(bool(files))

    def _fill_bundled_menu(self) -> None:
        self.bundled_menu.clear()
        models = bundled_models()
        if not models:
            self.bundled_menu.addAction("(no bundled models)").setEnabled(False)
        for name, path in models.items():
            a = self.bundled_menu.addAction(name)
            a.triggered.connect(lambda _=False, p=str(path): self._w.load_model_source(p))

    def _fill_examples_menu(self, info: ModelInfo | None) -> None:
        """The example layouts drawn for the loaded model's classes; disabled, saying why, when there are none."""
        menu = self.examples_menu
        menu.clear()
        examples, why = examples_for(info.config) if info is not None else ([], "Load a model first")
        for ex in examples:
            a = menu.addAction(ex.title)
            a.triggered.connect(lambda _=False, e=ex: self._w.open_example(e))
            a.setToolTip(ex.description)
            a.setStatusTip(ex.description)
        tip = why or "Open a layout drawn for this model's classes (undoable, like opening a layout file)"
        menu.menuAction().setEnabled(bool(examples))
        menu.menuAction().setToolTip(tip)
        menu.menuAction().setStatusTip(tip)

    # ---- what is enabled -------------------------------------------------------------------------
    def model_loaded(self, info: ModelInfo | None, doc: Document | None) -> None:
        """What the model (None: none loaded) can do."""
        loaded = info is not None
        noise = info is not None and info.config.noise_3d
        for a in (
            self.open_labels,
            self.save_labels,
            self.open_project,
            self.save_project,
            self.save_project_as,
            self.generate,
            self.live,
            self.select_all,
            self.invert,
            *self.classes,
            *self.tools.values(),
        ):
            a.setEnabled(loaded)
        for a in (self.variation, self.reroll_class, self.lock):
            a.setEnabled(noise)
        self.image_changed(doc)
        self._fill_examples_menu(info)
        can_segment = info is not None and info.can_segment
        self.photo.setEnabled(can_segment)
        self.photo.setToolTip(PHOTO_TIP if can_segment else NO_PHOTO_TIP)
        self.selection_changed(doc)

    def image_changed(self, doc: Document | None) -> None:
        self.export.setEnabled(doc is not None and doc.image is not None)

    def undo_changed(self, doc: Document | None) -> None:
        stack = doc.undo_stack if doc is not None else None
        self.undo.setEnabled(stack is not None and stack.can_undo)
        self.redo.setEnabled(stack is not None and stack.can_redo)
        self.undo.setText(f"&Undo {stack.undo_label}" if stack is not None else "&Undo")
        self.redo.setText(f"&Redo {stack.redo_label}" if stack is not None else "&Redo")

    def selection_changed(self, doc: Document | None) -> None:
        has = doc is not None and doc.selection is not None
        self.reroll_sel.setEnabled(has and doc is not None and doc.noise is not None)
        self.select_none.setEnabled(has)

    # ---- small commands --------------------------------------------------------------------------
    def _select_all(self) -> None:
        if self._w.doc is not None:
            self._w.doc.set_selection(np.ones(self._w.doc.shape, bool))

    def _select_none(self) -> None:
        if self._w.doc is not None:
            self._w.doc.set_selection(None)

    def _invert_selection(self) -> None:
        doc = self._w.doc
        if doc is not None:
            doc.set_selection(np.ones(doc.shape, bool) if doc.selection is None else ~doc.selection)

    def _set_lock(self, on: bool) -> None:
        self._w.controller.lock_noise = on

    def _overlay_toggled(self, on: bool) -> None:
        self._w.canvas.set_overlay(on, self._w.overlay_slider.value() / 100)

    def _choose_tool(self, tool: Tool, on: bool) -> None:
        if on:  # the group's other actions toggle off
            self._w.tools.update(tool=tool)

    def _resize_brush(self, direction: int) -> None:
        tools = self._w.tools
        tools.update(size=tools.size + direction * max(1, tools.size // 8))

    def _pick_nth_class(self, n: int) -> None:
        palette = self._w.class_palette
        if n < len(palette.class_ids):
            palette.select(palette.class_ids[n])


def _menu(bar: QMenuBar, title: str, *groups: list[QAction]) -> QMenu:
    """A menu of groups of actions, a separator between groups."""
    menu = bar.addMenu(title)
    for i, group in enumerate(groups):
        if i:
            menu.addSeparator()
        menu.addActions(group)
    return menu
