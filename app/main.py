"""`oasis-studio`: start the app, or render a screenshot of it offscreen (`--screenshot`)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .settings import APP_NAME


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oasis-studio", description="Paint a semantic layout, get a photo (OASIS).")
    p.add_argument("--model", help="model folder or Hugging Face Hub id (default: the bundled model)")
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="OUT.png",
        help="open the window offscreen, load --layout, generate, save a screenshot and exit",
    )
    p.add_argument("--layout", type=Path, metavar="PNG", help="label map to open (index or colour PNG)")
    return p


def wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until `done()` or the timeout (screenshot mode has no user to wait for)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)
    return True


def screenshot(window, out: Path, layout: Path | None, timeout_s: float = 300) -> int:
    """Generate once and save a picture of the whole window; 0 on success (the picture is saved either way)."""
    c = window.controller
    window.show()
    if not wait_until(lambda: c.model is not None or window.load_error is not None, timeout_s):
        print("oasis-studio: the model did not load in time", file=sys.stderr)
    status = 0
    if c.model is None:
        print(f"oasis-studio: {window.load_error or 'no model'}", file=sys.stderr)
        status = 1
    else:
        if layout is not None and not window.open_labels(layout):
            status = 1
        c.generate()
        if not wait_until(lambda: c.document.image is not None, timeout_s):
            print("oasis-studio: generation did not finish in time", file=sys.stderr)
            status = 1
    wait_until(lambda: False, 0.2)  # let the last repaints land
    window.grab().save(str(out))
    print(out)
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    if args.screenshot is not None:
        window = MainWindow(autosave_ms=None)
        window.start(args.model, check_recovery=False)
        try:
            return screenshot(window, args.screenshot, args.layout)
        finally:
            window.controller.shutdown()
            window.deleteLater()
    window = MainWindow()
    window.show()
    if args.layout is not None:
        # Opened once the model, which defines the classes, is there.
        window.controller.model_changed.connect(
            lambda _: window.open_labels(args.layout), type=Qt.ConnectionType.SingleShotConnection
        )
    window.start(args.model)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
