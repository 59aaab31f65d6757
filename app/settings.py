"""Where the app keeps its files and preferences; OASIS_STUDIO_DATA redirects both (tests, portable use)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from PySide6.QtCore import QSettings, QStandardPaths

APP_NAME = "OASIS Studio"
DEVICES = ("auto", "cuda", "cpu", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_RECENT = 8


def data_dir() -> Path:
    env = os.environ.get("OASIS_STUDIO_DATA")
    path = Path(env) if env else Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    path.mkdir(parents=True, exist_ok=True)
    return path


def recovery_path() -> Path:
    return data_dir() / "recovery.oasis"


def open_settings() -> QSettings:
    if os.environ.get("OASIS_STUDIO_DATA"):
        return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(APP_NAME, APP_NAME)


def device_settings() -> tuple[str, str]:
    s = open_settings()
    device, precision = str(s.value("device", "auto")), str(s.value("precision", "auto"))
    return (device if device in DEVICES else "auto", precision if precision in PRECISIONS else "auto")


def save_device_settings(device: str, precision: str) -> None:
    s = open_settings()
    s.setValue("device", device)
    s.setValue("precision", precision)
    s.sync()


def recent_files() -> list[Path]:
    """Projects and layouts opened or saved lately, the latest first (File > Open Recent)."""
    files = cast(list[str], open_settings().value("recent_files", [], type=list))
    return [Path(p) for p in files if p][:MAX_RECENT]


def _store_recent(files: list[Path]) -> None:
    s = open_settings()
    s.setValue("recent_files", [str(p) for p in files[:MAX_RECENT]])
    s.sync()


def add_recent_file(path: str | os.PathLike[str]) -> None:
    path = Path(os.path.abspath(path))  # the same file however it was named
    _store_recent([path, *(p for p in recent_files() if p != path)])


def remove_recent_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` was in the list."""
    files = recent_files()
    path = Path(os.path.abspath(path))
    if path not in files:
        return False
    _store_recent([p for p in files if p != path])
    return True


def clear_recent_files() -> None:
    _store_recent([])
