"""Where the app keeps its files and preferences; OASIS_STUDIO_DATA redirects both (tests, portable use)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

APP_NAME = "OASIS Studio"
DEVICES = ("auto", "cuda", "cpu", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
