"""Generation through the worker thread: results, re-rolls, interpolation, history, live mode, responsiveness."""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QTableWidget

from app.controller import Controller
from app.dialogs import shortcuts_dialog
from app.interpolation import FRAME_CHUNK, FRAME_COUNT
from oasis_core import OasisModel, Synthesizer
from oasis_core import noise as noise_ops

from .helpers.app import SlowSynth, collecting_factory, make_window, set_interp_ends, wait_image
from .helpers.models import realistic_weights, tiny_config


def test_generate_shows_an_image(studio, qtbot) -> None:
    doc = studio.controller.document
    assert doc.image is None and not studio.result.has_image
    studio.act.generate.trigger()
    image = wait_image(qtbot, studio)
    assert image.shape == (32, 48, 3) and image.dtype == np.uint8 and image.std() > 0
    assert studio.result.has_image
    expected = Synthesizer(studio.controller.worker._model, "cpu", "fp32").generate(doc.labels, doc.noise)
    np.testing.assert_array_equal(image, expected)
    assert "ms" in studio.latency_label.text() and "cpu" in studio.device_label.text()


def test_reroll_selection_changes_noise_only_inside(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    c.generate()
    first = wait_image(qtbot, studio)
    before = doc.noise.clone()
    mask = np.zeros(doc.shape, dtype=bool)
    mask[4:20, 10:30] = True
    doc.set_selection(mask)
    studio.act.reroll_sel.trigger()
    image = wait_image(qtbot, studio, first)
    changed = (doc.noise != before).any(dim=1)[0].numpy()
    np.testing.assert_array_equal(changed, mask)
    assert torch.equal(doc.noise[..., ~torch.from_numpy(mask)], before[..., ~torch.from_numpy(mask)])
    assert not np.array_equal(image, first)


def test_a_model_with_pixel_noise_channels_gets_them_in_new_and_rerolled_noise(qtbot, tmp_path, dialogs) -> None:
    torch.manual_seed(0)
    path = tmp_path / "textured"
    realistic_weights(OasisModel(tiny_config(noise_pixel_channels=5))).save_pretrained(path)
    window = make_window(qtbot, path)
    c, doc = window.controller, window.controller.document
    k = doc.noise.shape[1] - 5
    assert torch.equal(doc.noise[:, :k], doc.noise[:, :k, :1, :1].expand_as(doc.noise[:, :k]))
    assert (doc.noise[0, k:, 0, 0] != doc.noise[0, k:, 1, 1]).all()
    mask = np.zeros(doc.shape, dtype=bool)
    mask[4:20, 10:30] = True
    doc.set_selection(mask)
    before = doc.noise.clone()
    assert c.reroll_selection()
    inside = doc.noise[0][:, torch.from_numpy(mask)]
    assert (inside[:k] == inside[:k, :1]).all() and (inside[k:] != inside[k:, :1]).any(1).all()
    assert torch.equal(doc.noise[..., ~torch.from_numpy(mask)], before[..., ~torch.from_numpy(mask)])
    wait_image(qtbot, window)


def test_reroll_class_changes_noise_only_on_that_class(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    doc.set_labels(np.where(np.arange(48)[None, :] < 20, 0, 2).repeat(32, 0))
    before = doc.noise
    assert c.reroll_class(2)
    changed = (doc.noise != before).any(dim=1)[0].numpy()
    np.testing.assert_array_equal(changed, doc.labels == 2)
    assert not c.reroll_class(3)  # not on the canvas: nothing to re-roll


def test_new_variation_uses_the_typed_seed(studio, qtbot) -> None:
    doc = studio.controller.document
    studio.seed_spin.setValue(1234)
    image = wait_image(qtbot, studio)
    assert doc.seed == 1234 and torch.equal(doc.noise, noise_ops.sample(1234, 8, 32, 48))
    studio.act.variation.trigger()
    wait_image(qtbot, studio, image)
    assert studio.seed_spin.value() == doc.seed != 1234


def test_interpolation_slider_yields_frames_and_gif(studio, qtbot, tmp_path) -> None:
    c, doc = studio.controller, studio.controller.document
    c.new_variation(1)
    a_image = wait_image(qtbot, studio)
    studio.interp.a_button.click()
    c.new_variation(2)
    b_image = wait_image(qtbot, studio, a_image)
    studio.interp.b_button.click()
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    assert c.interpolation.frames.shape == (FRAME_COUNT, 32, 48, 3) and studio.interp.slider.isEnabled()
    np.testing.assert_array_equal(c.interpolation.frames[0], a_image)  # exact end points
    np.testing.assert_array_equal(c.interpolation.frames[-1], b_image)
    assert len({f.tobytes() for f in c.interpolation.frames}) == FRAME_COUNT
    studio.interp.slider.setValue(5)  # scrubbing shows a frame at once, no generation
    np.testing.assert_array_equal(doc.image, c.interpolation.frames[5])
    assert not np.array_equal(doc.image, a_image)
    path = tmp_path / "loop.gif"
    c.export_gif(path)
    with Image.open(path) as gif:
        assert gif.n_frames == 2 * FRAME_COUNT - 2


def test_interpolation_inside_the_selection_keeps_the_rest(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    c.new_variation(1)
    c.set_interp_end("a")
    a = doc.noise
    c.new_variation(2)
    mask = np.zeros(doc.shape, dtype=bool)
    mask[:, :24] = True
    doc.set_selection(mask)
    studio.interp.in_selection.setChecked(True)
    c.set_interp_end("b")
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    c.show_frame(FRAME_COUNT // 2)
    changed = (doc.noise != a).any(dim=1)[0].numpy()
    assert changed[:, :24].all() and not changed[:, 24:].any()


def test_history_returns_to_an_earlier_variation(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    c.new_variation(11)
    first = wait_image(qtbot, studio)
    noise_11 = doc.noise
    c.new_variation(12)
    wait_image(qtbot, studio, first)
    assert [v.seed for v in c.history] == [11, 12] and studio.history.count() == 2
    studio.history.variation_clicked.emit(0)
    assert doc.seed == 11 and doc.noise is noise_11
    np.testing.assert_array_equal(doc.image, first)


def test_unlocked_noise_is_resampled_where_painting_changed(studio) -> None:
    c, doc = studio.controller, studio.controller.document
    studio.lock_check.setChecked(False)
    assert not c.lock_noise
    before = doc.noise
    mask = np.zeros(doc.shape, dtype=bool)
    mask[5:9, 5:9] = True
    doc.paint(mask, 3)
    np.testing.assert_array_equal((doc.noise != before).any(dim=1)[0].numpy(), mask)
    studio.lock_check.setChecked(True)
    locked = doc.noise
    doc.paint(~mask, 2)
    assert doc.noise is locked


def test_live_mode_coalesces_a_burst_into_one_generation(qtbot, model_dir, dialogs) -> None:
    synths, factory = collecting_factory(delay=0.05)
    window = make_window(qtbot, model_dir, Controller(factory))
    doc = window.controller.document
    window.live_check.setChecked(True)  # live: one generation at once
    wait_image(qtbot, window)
    count = len(synths[0].generated_labels)
    for i in range(5):
        mask = np.zeros(doc.shape, dtype=bool)
        mask[i, :] = True
        doc.paint(mask, 1)
    qtbot.waitUntil(lambda: len(synths[0].generated_labels) > count, timeout=5000)
    qtbot.wait(500)  # more than the live delay: no second generation may follow
    assert len(synths[0].generated_labels) == count + 1
    np.testing.assert_array_equal(synths[0].generated_labels[-1], doc.labels)


def test_stale_requests_are_dropped_and_the_newest_wins(qtbot, model_dir, dialogs) -> None:
    synths, factory = collecting_factory()
    window = make_window(qtbot, model_dir, Controller(factory))
    c, doc = window.controller, window.controller.document
    shown = []
    doc.image_changed.connect(lambda: shown.append(doc.image))
    for cls in range(5):
        doc.labels[...] = cls
        c.generate()
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    qtbot.waitUntil(lambda: window.working.isHidden(), timeout=20000)
    ran = [int(lab[0, 0]) for lab in synths[0].generated_labels]
    assert ran[-1] == 4 and len(ran) <= 2  # the first may already run; 1..3 were replaced before running
    assert len(shown) == 1  # only the newest result reaches the document
    np.testing.assert_array_equal(shown[0], synths[0].inner.generate(doc.labels, doc.noise))


def test_event_loop_stays_responsive_while_a_slow_model_generates(qtbot, model_dir, dialogs) -> None:
    synth, factory = collecting_factory()
    window = make_window(qtbot, model_dir, Controller(factory))
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(50)
    window.controller.generate()
    qtbot.waitUntil(lambda: not window.working.isHidden(), timeout=5000)  # the "working" indicator
    wait_image(qtbot, window)
    timer.stop()
    assert synth[0].generated_labels, "the slow model ran"
    gaps = np.diff(ticks)
    assert len(ticks) > 20 and gaps.max() < 0.05, gaps.max()


class OomOnCuda(SlowSynth):
    delay = 0.0

    def __init__(self, model, device, precision) -> None:
        super().__init__(model)
        self.device = torch.device("cuda" if device == "cuda" else "cpu")

    def generate(self, labels, noise=None, seed=None):
        if self.device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().generate(labels, noise, seed)

    def describe(self) -> str:
        return f"{self.device.type} test double"


def test_gpu_out_of_memory_falls_back_to_the_cpu_with_a_notice(qtbot, model_dir, dialogs) -> None:
    devices: list[str] = []
    window = make_window(qtbot, model_dir, Controller(lambda m, d, p: devices.append(d) or OomOnCuda(m, d, p)))
    window.controller.reconfigure("cuda", "auto")
    qtbot.waitUntil(lambda: devices == ["auto", "cuda"], timeout=5000)
    qtbot.waitUntil(lambda: "cuda" in window.device_label.text(), timeout=5000)
    window.controller.generate()
    wait_image(qtbot, window)
    assert devices == ["auto", "cuda", "cpu"]
    assert "cpu test double" in window.device_label.text()
    assert any("out of memory" in text for _, _, text in dialogs.kinds("information"))


def test_frames_follow_the_layout_after_the_next_generation(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    set_interp_ends(c)
    assert "making frames" in studio.interp.status.text()
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    old = c.interpolation.frames
    mask = np.zeros(doc.shape, dtype=bool)
    mask[:10] = True
    doc.paint(mask, 4)
    assert c.interpolation.frames is None and not studio.interp.slider.isEnabled()
    assert "Generate" in studio.interp.status.text()
    studio.act.generate.trigger()
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    assert not np.array_equal(c.interpolation.frames, old) and studio.interp.status.text() == f"{FRAME_COUNT} frames"


def test_history_keeps_one_entry_per_variation(studio, qtbot) -> None:
    c = studio.controller
    c.new_variation(11)
    first = wait_image(qtbot, studio)
    c.new_variation(12)
    second = wait_image(qtbot, studio, first)
    c.restore_variation(0)
    wait_image(qtbot, studio, first)  # regenerated with the current layout
    c.generate()
    wait_image(qtbot, studio, c.document.image)
    assert [v.seed for v in c.history] == [11, 12] and second is c.history[1].image


def test_shortcut_list_and_tooltips(studio) -> None:
    dlg = shortcuts_dialog(studio.actions(), studio)
    table = dlg.findChild(QTableWidget)
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Generate"].startswith("Ctrl+Return") and rows["Bigger Brush"] == "]" and rows["Class 1"] == "1"
    assert rows["Generate"] == "Ctrl+Return, Ctrl+Enter" and rows["Select None"] == "Ctrl+D, Ctrl+Shift+A"
    assert all(studio.act.tools[t].toolTip() for t in studio.act.tools)
    studio.act.bigger.trigger()
    assert studio.tools.size == 13 and studio.brush_bar.size_slider.value() == 13
    studio.act.classes[2].trigger()
    assert studio.tools.class_id == 2


def test_keyboard_shortcuts_do_not_steal_typing(studio, qtbot) -> None:
    studio.activateWindow()
    qtbot.waitUntil(studio.isActiveWindow, timeout=2000)
    qtbot.keyClick(studio.canvas, Qt.Key.Key_BracketRight)
    qtbot.keyClick(studio.canvas, Qt.Key.Key_3)
    assert studio.tools.size == 13 and studio.tools.class_id == 2
    qtbot.keyClick(studio.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_image(qtbot, studio)
    studio.class_palette.search.setFocus()
    qtbot.keyClick(studio.class_palette.search, Qt.Key.Key_4)  # text, not "class 4"
    assert studio.class_palette.search.text() == "4" and studio.tools.class_id == 2


class Recording(SlowSynth):
    """Records the order of its calls; frame batches take `delay` per frame."""

    delay = 0.0

    def __init__(self, model, device="cpu", precision="auto") -> None:
        super().__init__(model)
        self.calls: list[str] = []

    def generate(self, labels, noise=None, seed=None):
        self.calls.append("generate")
        return super().generate(labels, noise, seed)

    def generate_batch(self, labels, noise, batch_size=8):
        self.calls.append(f"frames {len(noise)}")
        time.sleep(self.delay * len(noise))
        return self.inner.generate_batch(labels, noise, batch_size)


def test_a_generation_does_not_wait_for_the_interpolation_frames(qtbot, model_dir, dialogs) -> None:
    synths, factory = collecting_factory(Recording)
    window = make_window(qtbot, model_dir, Controller(factory))
    c, doc, synth = window.controller, window.controller.document, synths[0]
    set_interp_ends(c)
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=10000)
    synth.calls.clear()
    synth.delay = 0.1
    mask = np.zeros(doc.shape, dtype=bool)
    mask[:4] = True
    doc.paint(mask, 3)  # the frames are stale now: Generate remakes them
    c.generate()
    qtbot.waitUntil(lambda: len(synth.calls) > 1, timeout=5000)
    assert synth.calls[:2] == ["generate", f"frames {FRAME_CHUNK}"]  # the generation first, the frames after
    frames_pending_at_image: list[bool] = []
    doc.image_changed.connect(lambda: frames_pending_at_image.append(c.frames_pending))
    c.new_variation(3)  # asked for while the frames are being made
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=10000)
    assert frames_pending_at_image[0], "the generation waited for all the frames"
    assert synth.calls.count("generate") == 2
    assert {call for call in synth.calls if call != "generate"} == {f"frames {FRAME_CHUNK}"}


def test_settings_ok_keeps_the_queued_generation_and_frames(qtbot, model_dir, dialogs) -> None:
    synths, factory = collecting_factory(delay=0.3)
    window = make_window(qtbot, model_dir, Controller(factory))
    c, doc = window.controller, window.controller.document
    set_interp_ends(c)  # the first generation runs in the worker; the second and the frames wait
    c.reconfigure("cpu", "auto")  # Settings, OK
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=10000)
    assert not c.frames_pending and window.interp.status.text() == f"{FRAME_COUNT} frames"
    assert len(synths) == 2 and synths[1].generated_labels  # the queued generation ran on the new synthesizer
    assert c.history[-1].seed == 2 and c.history[-1].noise is doc.noise


def test_remade_frames_show_at_the_slider_position(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    set_interp_ends(c)
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=10000)
    studio.interp.slider.setValue(5)
    mask = np.zeros(doc.shape, dtype=bool)
    mask[:, :24] = True
    doc.set_selection(mask)
    old = c.interpolation.frames
    studio.interp.in_selection.setChecked(True)  # the frames are remade
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=10000)
    assert not np.array_equal(c.interpolation.frames[5], old[5])
    assert studio.interp.slider.value() == 5
    np.testing.assert_array_equal(doc.image, c.interpolation.frames[5])


def test_rerolling_a_class_that_is_not_painted_says_so(studio) -> None:
    before = studio.controller.document.noise
    studio.class_palette.reroll_requested.emit(3)  # the palette's "Re-roll this class's noise"
    assert studio.controller.document.noise is before
    assert "'water' is not on the canvas" in studio.statusBar().currentMessage()


def test_undo_with_unlocked_noise_brings_back_the_noise_and_picture_of_before(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    c.new_variation(3)
    before = wait_image(qtbot, studio)
    plain = doc.noise
    studio.lock_check.setChecked(False)
    mask = np.zeros(doc.shape, dtype=bool)
    mask[5:9, 5:9] = True
    doc.paint(mask, 3)
    rerolled = doc.noise
    assert doc.undo() and (doc.labels == 0).all() and torch.equal(doc.noise, plain)  # not re-rolled once more
    c.generate()
    np.testing.assert_array_equal(wait_image(qtbot, studio, before), before)
    assert doc.redo() and torch.equal(doc.noise, rerolled)
    assert doc.undo()
    c.new_variation(4)  # not an undo step: Redo leaves it as it is
    other = doc.noise
    assert doc.redo() and doc.noise is other and (doc.labels[mask] == 3).all()
    studio.lock_check.setChecked(True)
    doc.paint(mask, 2)
    studio.lock_check.setChecked(False)
    assert doc.undo() and doc.noise is other  # a locked edit's Undo does not re-roll either


def test_frames_inside_the_selection_go_stale_when_the_selection_changes(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    left = np.zeros(doc.shape, dtype=bool)
    left[:, :24] = True
    doc.set_selection(left)
    studio.interp.in_selection.setChecked(True)
    c.new_variation(1)
    c.set_interp_end("a")
    a = doc.noise
    c.new_variation(2)
    c.set_interp_end("b")
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    doc.set_selection(left.copy())  # the same region again: the frames still fit
    assert c.interpolation.frames is not None
    doc.set_selection(~left)
    assert c.interpolation.frames is None and "selection changed" in studio.interp.status.text()
    studio.act.generate.trigger()
    qtbot.waitUntil(lambda: c.interpolation.frames is not None, timeout=20000)
    c.show_frame(FRAME_COUNT // 2)
    changed = (doc.noise != a).any(dim=1)[0].numpy()
    assert changed[:, 24:].all() and not changed[:, :24].any()


def test_entering_the_seed_after_a_local_re_roll_returns_to_its_plain_variation(studio, qtbot) -> None:
    c, doc = studio.controller, studio.controller.document
    c.new_variation(5)
    first = wait_image(qtbot, studio)
    studio.act.select_all.trigger()
    studio.act.reroll_sel.trigger()
    rerolled = wait_image(qtbot, studio, first)
    assert doc.seed == studio.seed_spin.value() == 5
    assert [studio.history.item(i).text() for i in range(2)] == ["seed 5", "seed 5, edited"]
    qtbot.keyClick(studio.seed_spin, Qt.Key.Key_Return)
    assert torch.equal(doc.noise, noise_ops.sample(5, 8, 32, 48))
    np.testing.assert_array_equal(wait_image(qtbot, studio, rerolled), first)
    plain = doc.noise
    qtbot.keyClick(studio.seed_spin, Qt.Key.Key_Return)  # already that variation: nothing to do
    assert doc.noise is plain


def test_the_history_strip_keeps_the_shown_variation_current_and_restores_with_the_keyboard(studio, qtbot) -> None:
    c, doc, strip = studio.controller, studio.controller.document, studio.history
    image = None
    for seed in (11, 12, 13):
        c.new_variation(seed)
        image = wait_image(qtbot, studio, image)
    assert strip.currentRow() == 2
    with qtbot.waitSignal(c.history_changed, timeout=5000):  # restored and regenerated
        strip.variation_clicked.emit(0)
    assert strip.currentRow() == 0 and doc.noise is c.history[0].noise
    strip.setFocus()
    qtbot.keyClick(strip, Qt.Key.Key_Right)
    with qtbot.waitSignal(c.history_changed, timeout=5000):
        qtbot.keyClick(strip, Qt.Key.Key_Return)
    assert doc.seed == 12 and doc.noise is c.history[1].noise and strip.currentRow() == 1
