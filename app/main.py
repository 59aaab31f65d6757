"""`oasis-studio`: start the app, render a screenshot of it offscreen (`--screenshot`), or check that it works
(`--self-test`: offscreen, load the model, open the window, generate once through the worker, exit 0)."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .settings import APP_NAME


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oasis-studio", description="Paint a semantic layout, get a photo (OASIS).")
    p.add_argument("file", nargs="?", type=Path, help="a project (.oasis) or a layout (index or colour PNG) to open")
    p.add_argument("--model", help="model folder or Hugging Face Hub id (default: the bundled model)")
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="OUT.png",
        help="open the window offscreen, load --layout, generate, save a screenshot and exit",
    )
    p.add_argument("--layout", type=Path, metavar="PNG", help="label map to open (index or colour PNG)")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="offscreen: load the default model (or --model), open the window, generate one image, print the "
        "device, precision and latency, exit 0 (non-zero with the reason on failure)",
    )
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


def dismiss_dialogs(parent, messages: list[str] | None = None):
    """Headless modes have no user to click "OK": print and close every modal dialog (an error box would
    otherwise block forever). Returns the polling timer; `messages` collects "title: text"."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

    def close_modal() -> None:
        w = QApplication.activeModalWidget()
        if isinstance(w, QDialog):
            text = w.text() if isinstance(w, QMessageBox) else ""
            message = f"{w.windowTitle()}: {text}".strip(": ")
            print(f"oasis-studio: dialog closed: {message}", file=sys.stderr)
            if messages is not None:
                messages.append(message)
            w.done(int(QDialog.DialogCode.Rejected))

    timer = QTimer(parent)
    timer.setInterval(100)
    timer.timeout.connect(close_modal)
    timer.start()
    return timer


def screenshot(window, out: Path, layout: Path | None, timeout_s: float = 300) -> int:
    """Generate once and save a picture of the whole window; 0 on success (a failed generation is pictured too)."""
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
    if not window.grab().save(str(out)):
        print(f"oasis-studio: could not write the screenshot to {out}", file=sys.stderr)
        return 1
    print(out)
    return status


def screenshot_path_problem(out: Path) -> str | None:
    """Why no screenshot can be written to `out`, found before the model loads; None if none is known yet."""
    from PySide6.QtGui import QImageWriter

    writable = {bytes(f.data()).decode() for f in QImageWriter.supportedImageFormats()}
    if not out.suffix:
        return f"{out}: the name has no image suffix; use .png or .jpg"
    if out.suffix.lower().lstrip(".") not in writable:
        return f"{out}: '{out.suffix}' is not an image type that can be written; use .png or .jpg"
    if not out.parent.is_dir():
        return f"{out}: the folder {out.parent} does not exist"
    return None


def self_test(window, timeout_s: float = 300) -> int:
    """Load, open, generate one image through the normal worker; 0 and "self-test ok" on success."""
    import numpy as np

    def fail(message: str) -> int:
        print(f"oasis-studio --self-test: FAILED: {message}", file=sys.stderr)
        return 1

    c = window.controller
    latencies: list[float] = []
    c.latency.connect(latencies.append)
    start = time.perf_counter()
    window.show()
    if not wait_until(lambda: c.model is not None or window.load_error is not None, timeout_s):
        return fail(f"the model did not load within {timeout_s:.0f} s")
    if c.model is None:
        return fail(f"could not load the model: {window.load_error or 'unknown error'}")
    load_s = time.perf_counter() - start
    if not window.isVisible():
        return fail("the main window did not open")
    info, doc = c.model, c.document
    cfg = info.config
    ids = cfg.semantic_ids
    labels = np.full(doc.shape, ids[0], dtype=doc.labels.dtype)  # a simple layout: two bands
    labels[doc.shape[0] // 2 :] = ids[len(ids) // 2]
    doc.set_labels(labels, "Self-test layout")
    errors: list[str] = []
    c.error.connect(lambda title, message: errors.append(f"{title}: {message}"))
    c.generate()
    if not wait_until(lambda: doc.image is not None or bool(errors), timeout_s):
        return fail(f"generation did not finish within {timeout_s:.0f} s")
    if errors:
        return fail(errors[0])
    image = doc.image
    if image.shape != (cfg.height, cfg.width, 3) or image.dtype != np.uint8:
        return fail(f"unexpected image {image.shape} {image.dtype}, expected ({cfg.height}, {cfg.width}, 3) uint8")
    m = re.match(r"(\S+) \(([^)]+)\)", info.description)  # Synthesizer.describe(): "cpu (fp32): why"
    device, precision = (m.group(1), m.group(2)) if m else (info.description, "?")
    latency = f"{latencies[-1] * 1000:.0f} ms" if latencies else "?"
    print(f"model: {info.name} ({info.source}), {len(ids)} classes, {cfg.height}x{cfg.width}, loaded in {load_s:.1f} s")
    print(f"device: {device}")
    print(f"precision: {precision}")
    print(f"description: {info.description}")
    print(f"latency: {latency}")
    print("self-test ok")
    return 0


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # a frozen (PyInstaller) child process runs its task here and exits
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.file is not None and (args.screenshot is not None or args.self_test):
        parser.error("FILE is for the app's window, not --screenshot or --self-test; --screenshot opens --layout")
    if args.screenshot is not None or args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    if args.self_test:
        dialogs: list[str] = []
        dismiss_dialogs(app, dialogs)
        try:
            window = MainWindow(autosave_ms=None)
            window.start(args.model, check_recovery=False)
        except Exception as e:  # a self-test reports every failure and exits non-zero
            print(f"oasis-studio --self-test: FAILED: could not open the main window: {e!r}", file=sys.stderr)
            return 1
        try:
            status = self_test(window)
            if status == 0 and dialogs:
                print(f"oasis-studio --self-test: FAILED: unexpected dialog: {dialogs[0]}", file=sys.stderr)
                status = 1
            return status
        except Exception as e:  # an error in the checks fails the self-test too, with its traceback
            import traceback

            traceback.print_exc()
            print(f"oasis-studio --self-test: FAILED: {e!r}", file=sys.stderr)
            return 1
        finally:
            window.controller.shutdown()
            window.deleteLater()
    if args.screenshot is not None:
        problem = screenshot_path_problem(args.screenshot)
        if problem is not None:
            print(f"oasis-studio: {problem}", file=sys.stderr)
            return 2
        dismiss_dialogs(app)
        window = MainWindow(autosave_ms=None)
        window.start(args.model, check_recovery=False)
        try:
            return screenshot(window, args.screenshot, args.layout)
        finally:
            window.controller.shutdown()
            window.deleteLater()
    window = MainWindow()
    window.show()
    # Opened once the model, which defines the classes, is there; a file that cannot be opened is reported then.
    if args.layout is not None:
        window.controller.model_changed.connect(
            lambda _: window.open_labels(args.layout), type=Qt.ConnectionType.SingleShotConnection
        )
    if args.file is not None:
        window.controller.model_changed.connect(
            lambda _: window.open_file(args.file), type=Qt.ConnectionType.SingleShotConnection
        )
    window.start(args.model)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
