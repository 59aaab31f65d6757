"""The class palette of the loaded model: colour swatches, names, a search box."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

from oasis_core import ModelConfig

NUMBER_KEYS = 9  # keys 1-9 pick the first nine paintable classes


class PaletteWidget(QWidget):
    class_selected = Signal(int)
    reroll_requested = Signal(int)
    eraser_requested = Signal(int)  # "use as eraser background"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search classes…", clearButtonEnabled=True)
        self.search.setToolTip("Type to filter the classes by name or id")
        self.list = QListWidget()
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.search.textChanged.connect(self._filter)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.customContextMenuRequested.connect(self._menu)
        self.class_ids: tuple[int, ...] = ()
        self._shown: tuple | None = None  # the classes shown: ids, names, colours

    def set_config(self, config: ModelConfig) -> bool:
        """Show the classes of `config`; False, keeping the selection, when they are the ones shown already."""
        shown = (config.semantic_ids, config.class_names, config.class_colors)
        if shown == self._shown:
            return False
        self._shown = shown
        self.list.blockSignals(True)
        self.list.clear()
        self.class_ids = config.semantic_ids
        for n, i in enumerate(self.class_ids):
            pix = QPixmap(16, 16)
            pix.fill(QColor(*config.class_colors[i]))
            key = f"  [{n + 1}]" if n < NUMBER_KEYS else ""
            item = QListWidgetItem(QIcon(pix), f"{i:>3}  {config.class_names[i]}{key}")
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip(f"class {i}: {config.class_names[i]} — right-click for more")
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._filter(self.search.text())
        return True

    def select(self, class_id: int) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == class_id:
                self.list.setCurrentRow(row)
                return

    def current_class(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(bool(needle) and needle not in item.text().lower())

    def _current_changed(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.class_selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        cid = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Re-roll this class's noise", lambda: self.reroll_requested.emit(cid))
        menu.addAction("Use as eraser background", lambda: self.eraser_requested.emit(cid))
        menu.exec(self.list.mapToGlobal(pos))
