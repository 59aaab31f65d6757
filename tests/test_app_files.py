"""Files: layouts, projects, image export, photo -> layout, autosave recovery, models, the screenshot CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFileDialog, QMessageBox, QTextBrowser

from app import main as app_main
from app.autosave import Autosaver
from app.canvas import Tool
from app.controller import Controller
from app.dialogs import about_dialog, model_card_text
from app.main_window import MainWindow
from app.settings import device_settings, recovery_path, save_device_settings
from oasis_core import OasisModel, palette_image, random_layout, save_label_png

from .helpers.app import make_window, wait_image
from .helpers.models import tiny_config


def painted(window) -> np.ndarray:
    doc = window.controller.document
    doc.set_labels(random_layout(32, 48, [0, 1, 2, 3, 4], seed=3))
    return doc.labels.copy()


def test_project_round_trip_gives_back_the_same_picture(studio, qtbot, tmp_path) -> None:
    c, doc = studio.controller, studio.controller.document
    painted(studio)
    c.new_variation(77)
    first = wait_image(qtbot, studio)
    mask = np.zeros(doc.shape, dtype=bool)
    mask[3:12, 5:25] = True
    doc.set_selection(mask)
    c.reroll_selection()  # noise that no seed alone reproduces
    image = wait_image(qtbot, studio, first)
    labels, noise, seed = doc.labels.copy(), doc.noise.clone(), doc.seed
    path = tmp_path / "scene"
    assert studio.save_project(path)
    assert (tmp_path / "scene.oasis").is_file() and not doc.modified
    with zipfile.ZipFile(tmp_path / "scene.oasis") as z:
        assert {"manifest.json", "labels.png", "noise.safetensors", "image.png"} <= set(z.namelist())
        assert not any(n.endswith((".pt", ".pth", ".pkl")) for n in z.namelist())
        assert json.loads(z.read("manifest.json"))["format_version"] == 1
    doc.set_labels(np.zeros(doc.shape, dtype=np.int64))
    c.new_variation(5)
    assert studio.open_project(tmp_path / "scene.oasis")
    new = c.document
    np.testing.assert_array_equal(new.labels, labels)
    assert torch.equal(new.noise, noise) and new.seed == seed == 77
    np.testing.assert_array_equal(new.image, image)
    assert studio.canvas.doc is new and studio.result.has_image
    c.generate()  # regenerating the loaded project reproduces the picture exactly
    np.testing.assert_array_equal(wait_image(qtbot, studio, new.image), image)


def malformed_files(tmp: Path) -> dict[str, Path]:
    files = {
        "garbage.oasis": b"this is not a zip",
        "text.png": b"not a png at all",
        "truncated.png": None,
        "noise.oasis": None,
        "other-model.oasis": None,
        "bad-ids.png": None,
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp / name
        if content is not None:
            out[name].write_bytes(content)
    buf = tmp / "full.png"
    save_label_png(buf, np.zeros((32, 48), np.int64), tiny_config())
    out["truncated.png"].write_bytes(buf.read_bytes()[:60])
    Image.fromarray(np.full((32, 48), 9, np.uint8), mode="L").save(out["bad-ids.png"])
    manifest = {
        "format": "oasis-studio-project",
        "format_version": 1,
        "seed": 0,
        "model": {"name": "tiny", "label_nc": 5},
    }
    with zipfile.ZipFile(out["noise.oasis"], "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("labels.png", buf.read_bytes())
        z.writestr("noise.safetensors", b"\x00" * 64)
    with zipfile.ZipFile(out["other-model.oasis"], "w") as z:
        z.writestr("manifest.json", json.dumps({**manifest, "model": {"name": "ade20k", "label_nc": 151}}))
        z.writestr("labels.png", buf.read_bytes())
    return out


def test_malformed_files_give_an_error_dialog_and_keep_the_canvas(studio, qtbot, dialogs, tmp_path) -> None:
    c = studio.controller
    labels = painted(studio)
    doc = c.document
    undo_depth = len(doc.undo_stack)
    for name, path in malformed_files(tmp_path).items():
        before = len(dialogs.kinds("critical"))
        opened = studio.open_project(path) if name.endswith(".oasis") else studio.open_labels(path)
        assert not opened, name
        assert len(dialogs.kinds("critical")) == before + 1, name
        assert c.document is doc and len(doc.undo_stack) == undo_depth, name
        np.testing.assert_array_equal(doc.labels, labels)
    messages = " ".join(text for _, _, text in dialogs.kinds("critical"))
    assert "9" in messages and "151 classes" in messages and "corrupt" in messages
    count = len(dialogs.kinds("critical"))
    c.segment_photo(tmp_path / "text.png")  # decoded in the worker, which reports it
    qtbot.waitUntil(lambda: len(dialogs.kinds("critical")) > count, timeout=10000)
    assert "not a readable photo" in dialogs.kinds("critical")[-1][2]


def test_colour_png_is_mapped_with_a_warning_naming_unmapped_colours(studio, dialogs, tmp_path) -> None:
    cfg = studio.controller.model.config
    labels = random_layout(32, 48, [0, 1, 2, 3, 4], seed=1)
    rgb = np.asarray(cfg.class_colors, dtype=np.uint8)[labels]
    rgb[0, 0] = (1, 2, 3)  # not in the palette
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    assert studio.open_labels(tmp_path / "colour.png")
    ((_, _, text),) = dialogs.kinds("warning")
    assert "#010203" in text
    expected = labels.copy()
    expected[0, 0] = 0
    np.testing.assert_array_equal(studio.controller.document.labels, expected)


def test_layout_png_and_image_export(studio, qtbot, tmp_path) -> None:
    c = studio.controller
    labels = painted(studio)
    c.save_labels(tmp_path / "layout.png")
    with Image.open(tmp_path / "layout.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), labels)
    c.document.set_labels(np.zeros((32, 48), np.int64))
    assert studio.open_labels(tmp_path / "layout.png")
    np.testing.assert_array_equal(c.document.labels, labels)
    with pytest.raises(ValueError, match="generate"):
        c.export_image(tmp_path / "none.png")
    c.generate()
    image = wait_image(qtbot, studio)
    c.export_image(tmp_path / "out.png")
    c.export_image(tmp_path / "out.jpg")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), image)
    assert Image.open(tmp_path / "out.jpg").format == "JPEG"


def test_undo_reverts_an_opened_layout(studio, tmp_path) -> None:
    doc = studio.controller.document
    save_label_png(tmp_path / "l.png", np.full((32, 48), 3), tiny_config())
    studio.open_labels(tmp_path / "l.png")
    assert (doc.labels == 3).all()
    studio.act.undo.trigger()
    assert (doc.labels == 0).all()


def test_autosave_recovery_after_a_crash(qtbot, model_dir, dialogs) -> None:
    first = make_window(qtbot, model_dir, autosave_ms=50)
    assert isinstance(first.autosaver, Autosaver)
    labels = painted(first)
    first.controller.new_variation(99)
    noise = first.controller.document.noise
    with qtbot.waitSignal(first.autosaver.saved, timeout=10000):
        pass
    assert recovery_path().is_file()
    # The crash: no close, no clean shutdown of the autosaver; only the threads stop.
    first.autosaver.stop()
    first.controller.shutdown()
    first.autosaver = None  # so that the fixture's close does not count as a clean exit

    dialogs.answer = QMessageBox.StandardButton.Yes
    second = make_window(qtbot, model_dir, autosave_ms=50, check_recovery=True)
    qtbot.waitUntil(lambda: second.controller.document.seed == 99, timeout=10000)
    assert dialogs.kinds("question")[0][1] == "Restore work?"
    doc = second.controller.document
    np.testing.assert_array_equal(doc.labels, labels)
    assert torch.equal(doc.noise, noise) and doc.modified

    dialogs.answer = QMessageBox.StandardButton.Discard
    second.close()  # a clean exit removes the recovery file
    assert not recovery_path().exists()


def test_declined_recovery_is_removed_and_nothing_is_restored(qtbot, model_dir, dialogs) -> None:
    recovery_path().write_bytes(b"stale")
    dialogs.answer = QMessageBox.StandardButton.No
    window = make_window(qtbot, model_dir, autosave_ms=50, check_recovery=True)
    assert dialogs.kinds("question") and not recovery_path().exists()
    assert (window.controller.document.labels == 0).all()


def test_photo_to_layout(studio, qtbot, tmp_path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg")
    assert studio.act.photo.isEnabled()
    doc = studio.controller.document
    doc.labels[...] = 4
    before = doc.labels.copy()
    studio.controller.segment_photo(tmp_path / "photo.jpg")
    qtbot.waitUntil(lambda: not np.array_equal(doc.labels, before), timeout=20000)
    assert doc.labels.shape == (32, 48) and doc.labels.min() >= 0 and doc.labels.max() < 5
    doc.undo()
    np.testing.assert_array_equal(doc.labels, before)


def test_a_photo_layout_arriving_during_a_stroke_is_an_undo_step_of_its_own(studio, qtbot, tmp_path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "p.jpg")
    c, doc, canvas = studio.controller, studio.controller.document, studio.canvas
    canvas.tools.update(tool=Tool.BRUSH, class_id=4, size=3)
    canvas.press_at((10, 10))
    painted = doc.labels.copy()
    with qtbot.waitSignal(c.busy_changed, check_params_cb=lambda busy: not busy, timeout=20000):
        c.segment_photo(tmp_path / "p.jpg")  # the result arrives while the mouse button is held
    np.testing.assert_array_equal(doc.labels, painted)  # the stroke goes on undisturbed
    canvas.release_at((10, 10))
    assert doc.undo_stack.undo_label == "Photo to layout" and not np.array_equal(doc.labels, painted)
    assert doc.undo() and doc.undo_stack.undo_label == "Brush"
    np.testing.assert_array_equal(doc.labels, painted)


def test_model_without_discriminator_disables_photo_to_layout(qtbot, tmp_path, dialogs) -> None:
    torch.manual_seed(0)
    OasisModel(tiny_config(), with_discriminator=False).save_pretrained(tmp_path / "nod")
    window = make_window(qtbot, tmp_path / "nod")
    assert not window.act.photo.isEnabled() and "discriminator" in window.act.photo.toolTip()
    with pytest.raises(RuntimeError, match="discriminator"):
        window.controller.segment_photo(tmp_path / "x.png")


def test_no_bundled_model_starts_with_a_clear_message(qtbot, tmp_path, dialogs, monkeypatch, model_dir) -> None:
    monkeypatch.setenv("OASIS_MODELS_DIR", str(tmp_path / "empty"))
    window = MainWindow(Controller(), autosave_ms=None)
    qtbot.addWidget(window)
    window.start(None, check_recovery=False)
    qtbot.waitUntil(lambda: window.load_error is not None, timeout=10000)
    assert "no model is bundled" in window.empty_message.text()
    assert window.stack.currentIndex() == 0 and not window.act.generate.isEnabled()
    assert not dialogs.shown  # a message in the window, not a modal dialog at start-up
    window.load_model_source(str(model_dir))  # "Open Model Folder" still works
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=10000)
    assert window.stack.currentIndex() == 1 and window.act.generate.isEnabled()
    window.load_model_source(str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: bool(dialogs.kinds("critical")), timeout=10000)
    assert "no such model folder" in dialogs.kinds("critical")[0][2]
    assert window.controller.model is not None  # the loaded model stays


def test_about_shows_the_model_card_and_settings_persist(studio) -> None:
    assert "A model card for the About box." in model_card_text(studio.controller.model)
    save_device_settings("cpu", "bf16")
    assert device_settings() == ("cpu", "bf16")


def test_about_hides_the_card_metadata_and_shows_its_images(qtbot, tmp_path, dialogs) -> None:
    torch.manual_seed(0)
    folder = tmp_path / "carded"
    OasisModel(tiny_config()).save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: other\ntags: [gan]\n---\n\n# Carded\n\n![samples](s.png)\n")
    Image.new("RGB", (4, 2), (255, 0, 0)).save(folder / "s.png")
    window = make_window(qtbot, folder)
    text = model_card_text(window.controller.model)
    assert "license" not in text and "# Carded" in text
    browser = about_dialog(window.controller.model, window).findChild(QTextBrowser)
    image = browser.loadResource(QTextDocument.ResourceType.ImageResource.value, "s.png")  # relative to the folder
    assert image is not None and bytes(image) == (folder / "s.png").read_bytes()


def test_screenshot_cli(tmp_path, model_dir, isolated_data, capsys) -> None:
    layout = tmp_path / "layout.png"
    palette_image(random_layout(32, 48, [0, 1, 2, 3, 4]), tiny_config()).save(layout)
    out = tmp_path / "shot.png"
    assert app_main.main(["--screenshot", str(out), "--layout", str(layout), "--model", str(model_dir)]) == 0
    with Image.open(out) as im:
        assert im.size[0] > 600 and im.size[1] > 400
    assert str(out) in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_images_too_large_are_refused_with_their_size(studio, qtbot, dialogs, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # PIL's limit, lowered so that small files exceed it
    c = studio.controller
    Image.new("L", (50, 50)).save(tmp_path / "big.png")  # 2500 pixels: PIL only warns
    Image.new("L", (100, 100)).save(tmp_path / "huge.png")  # beyond twice the limit: DecompressionBombError
    studio.save_project(tmp_path / "p.oasis")
    with zipfile.ZipFile(tmp_path / "p.oasis", "a") as z:
        z.writestr("image.png", (tmp_path / "huge.png").read_bytes())
    labels = painted(studio)
    doc = c.document
    assert not studio.open_labels(tmp_path / "huge.png")
    assert "image too large: 10000 pixels" in dialogs.kinds("critical")[-1][2]
    assert not studio.open_labels(tmp_path / "big.png")
    assert "image too large: 50 x 50 pixels" in dialogs.kinds("critical")[-1][2]
    c.segment_photo(tmp_path / "huge.png")  # decoded in the worker, which reports it
    qtbot.waitUntil(lambda: len(dialogs.kinds("critical")) == 3, timeout=10000)
    assert "image too large" in dialogs.kinds("critical")[-1][2]
    assert not studio.open_project(tmp_path / "p.oasis")
    assert "image.png in the project: image too large" in dialogs.kinds("critical")[-1][2]
    assert len(dialogs.kinds("critical")) == 4 and c.document is doc
    np.testing.assert_array_equal(doc.labels, labels)


def test_export_needs_an_image_and_names_get_an_extension(studio, qtbot, dialogs, tmp_path, monkeypatch) -> None:
    c = studio.controller
    assert not studio.act.export.isEnabled()
    c.generate()
    image = wait_image(qtbot, studio)
    assert studio.act.export.isEnabled()
    assert c.export_image(tmp_path / "picture") == tmp_path / "picture.png"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "picture.png")), image)
    chosen = (str(tmp_path / "photo"), "JPEG image (*.jpg *.jpeg)")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: chosen)
    studio.act.export.trigger()
    assert Image.open(tmp_path / "photo.jpg").format == "JPEG" and not dialogs.shown
    chosen = (str(tmp_path / "picture.xyz"), "PNG image (*.png)")
    studio.act.export.trigger()
    assert "use .png or .jpg" in dialogs.kinds("critical")[-1][2] and not (tmp_path / "picture.xyz").exists()
