"""assets/examples: valid layouts for their models' classes, reproduced by make_examples.py, opened by the app."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from app import examples as app_examples
from app.examples import examples_for
from oasis_core import ModelConfig, OasisModel, colorize, read_label_png
from training.data import dataset_info

from .helpers.app import make_window
from .helpers.models import tiny_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
MODELS = ("landscapes", "streets")


def catalogue(model: str) -> dict:
    return json.loads((EXAMPLES / model / "examples.json").read_text(encoding="utf-8"))


def class_config(model: str) -> ModelConfig:
    """The classes a model trained on the example set's class file has."""
    info = dataset_info("folder", ROOT, ROOT / catalogue(model)["classes_file"])
    return ModelConfig.from_dataset(info, name=model)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.mark.parametrize("model", MODELS)
def test_examples_are_valid_layouts_of_their_classes(model: str) -> None:
    cat, cfg = catalogue(model), class_config(model)
    assert cat["model"] == model and tuple(cat["class_names"]) == cfg.class_names
    files = [e["file"] for e in cat["examples"]]
    assert 4 <= len(files) == len(set(files))
    assert sorted(files) == sorted(p.name for p in (EXAMPLES / model).glob("*.png"))  # none unlisted
    for entry in cat["examples"]:
        assert entry["title"] and entry["description"], entry
        loaded = read_label_png(EXAMPLES / model / entry["file"], cfg)
        assert not loaded.warnings, entry["file"]  # an index PNG: ids, not colours
        labels = loaded.labels
        assert labels.shape == (192, 256), entry["file"]
        ids = set(np.unique(labels).tolist())
        assert len(ids) >= 3 and cfg.dont_care_id not in ids, (entry["file"], ids)
        with Image.open(EXAMPLES / model / entry["file"]) as im:
            assert im.mode == "P" and im.getpalette()[: 3 * cfg.label_nc] == [v for c in cfg.class_colors for v in c]


@pytest.mark.parametrize("model", [m for m in MODELS if (ROOT / "assets" / "models" / m / "config.json").is_file()])
def test_each_bundled_model_gets_its_examples(model: str) -> None:
    cfg = ModelConfig.from_json((ROOT / "assets" / "models" / model / "config.json").read_text())
    examples, why = examples_for(cfg)
    assert [e.title for e in examples] == [e["title"] for e in catalogue(model)["examples"]] and not why


def test_make_examples_reproduces_the_committed_files(tmp_path: Path) -> None:
    written = load_script().write_examples(tmp_path)
    committed = sorted(p.relative_to(EXAMPLES) for m in MODELS for p in (EXAMPLES / m).iterdir())
    assert sorted(p.relative_to(tmp_path) for p in written) == committed
    for rel in committed:
        if rel.suffix == ".json":
            assert (tmp_path / rel).read_text() == (EXAMPLES / rel).read_text(), rel
            continue
        # Label for label and palette for palette: zlib builds may compress the same image differently.
        with Image.open(tmp_path / rel) as new, Image.open(EXAMPLES / rel) as old:
            assert new.mode == old.mode == "P" and new.getpalette() == old.getpalette(), rel
            np.testing.assert_array_equal(np.asarray(new), np.asarray(old), err_msg=str(rel))


def test_examples_for_says_why_there_are_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples, why = examples_for(tiny_config())
    assert not examples and "this model's classes" in why and "landscapes" in why and "streets" in why
    examples, why = examples_for(tiny_config(name="landscapes"))
    assert not examples and "other classes" in why
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "examples.json").write_text("{not json")
    monkeypatch.setattr(app_examples, "examples_dir", lambda: tmp_path)
    examples, why = examples_for(class_config("landscapes"))
    assert not examples and "No example layouts are installed" in why


def test_open_example_replaces_the_canvas_in_one_undo_step(qtbot, tmp_path, dialogs) -> None:
    land = class_config("landscapes")
    cfg = tiny_config(
        label_nc=land.label_nc,
        class_names=land.class_names,
        class_colors=land.class_colors,
        dont_care_id=land.dont_care_id,
        height=192,
        width=256,
    )
    torch.manual_seed(0)
    OasisModel(cfg).save_pretrained(tmp_path / "tiny-landscapes")
    window = make_window(qtbot, tmp_path / "tiny-landscapes")
    menu = window.act.examples_menu
    assert menu.menuAction().isEnabled()
    titles = [e["title"] for e in catalogue("landscapes")["examples"]]
    assert [a.text() for a in menu.actions()] == titles
    doc = window.controller.document
    before = doc.labels.copy()
    menu.actions()[1].trigger()
    expected = read_label_png(EXAMPLES / "landscapes" / catalogue("landscapes")["examples"][1]["file"], cfg).labels
    np.testing.assert_array_equal(doc.labels, expected)
    assert not dialogs.shown  # same size and classes: no warning
    assert titles[1] in window.statusBar().currentMessage()
    assert window.act.undo.text() == "&Undo Open example"
    window.act.undo.trigger()
    np.testing.assert_array_equal(doc.labels, before)


def test_examples_menu_is_disabled_with_a_reason_for_other_classes(studio) -> None:
    action = studio.act.examples_menu.menuAction()
    assert not action.isEnabled() and not studio.act.examples_menu.actions()
    assert "No example layouts for this model's classes" in action.toolTip()


def test_make_samples_draws_the_examples_only_and_compares_models(tmp_path: Path) -> None:
    """docs/make_samples.py: one row per example layout (layout, three variations, a re-roll), no dataset photo."""
    land = class_config("landscapes")
    cfg = tiny_config(
        label_nc=land.label_nc,
        class_names=land.class_names,
        class_colors=land.class_colors,
        dont_care_id=land.dont_care_id,
        height=192,
        width=256,
        noise_pixel_channels=2,
    )
    torch.manual_seed(0)
    OasisModel(cfg).save_pretrained(tmp_path / "model")
    spec = importlib.util.spec_from_file_location("make_samples", ROOT / "docs" / "make_samples.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rows = script.sample_rows(tmp_path / "model", EXAMPLES / "landscapes")
    assert len(rows) == len(catalogue("landscapes")["examples"])
    for row, entry in zip(rows, catalogue("landscapes")["examples"]):
        assert len(row) == len(script.COLUMNS) == 5 and all(c.shape == (192, 256, 3) for c in row)
        labels = read_label_png(EXAMPLES / "landscapes" / entry["file"], land).labels
        np.testing.assert_array_equal(row[0], colorize(labels, land))
        assert not np.array_equal(row[1], row[2])  # variations differ
        outlined = (row[4] == (255, 0, 255)).all(-1)
        assert outlined.any() and not np.array_equal(row[1][~outlined], row[4][~outlined])
    pair = {"a": tmp_path / "model", "b": tmp_path / "model"}
    compared, titles = script.comparison_rows(pair, EXAMPLES / "landscapes")
    assert titles == ["layout", "a 1", "a 2", "a 3", "b 1", "b 2", "b 3"]
    np.testing.assert_array_equal(compared[0][0], rows[0][0])
    np.testing.assert_array_equal(compared[0][1:4], compared[0][4:7])  # the same model: the same seeds' images
    np.testing.assert_array_equal(compared[0][1], rows[0][1])
    one, titles = script.comparison_rows(pair, EXAMPLES / "landscapes", variations=1)
    assert titles == ["layout", "a", "b"] and len(one[0]) == 3
    np.testing.assert_array_equal(one[0][1], rows[0][1])
