from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oasis_core import LabelError, OasisModel, colorize, read_label_png, save_label_png
from oasis_core.cli import main as generate_main
from oasis_core.labels import random_layout


def test_index_png_round_trip_keeps_ids_and_palette(model: OasisModel, tmp_path: Path) -> None:
    labels = random_layout(30, 40, [0, 1, 2, 3, 4], seed=3)
    save_label_png(tmp_path / "l.png", labels, model.config)
    im = Image.open(tmp_path / "l.png")
    assert im.mode == "P" and im.getpalette()[:3] == list(model.config.class_colors[0])
    loaded = read_label_png(tmp_path / "l.png", model.config)
    assert np.array_equal(loaded.labels, labels) and not loaded.warnings


def test_colour_png_maps_through_palette_and_names_unknown_colours(model: OasisModel, tmp_path: Path) -> None:
    labels = random_layout(30, 40, [0, 1, 2], seed=3)
    rgb = colorize(labels, model.config)
    rgb[:2, :3] = (1, 2, 3)  # 6 pixels of a colour that is no class
    Image.fromarray(rgb).save(tmp_path / "c.png")
    loaded = read_label_png(tmp_path / "c.png", model.config)
    expected = labels.copy()
    expected[:2, :3] = 0
    assert np.array_equal(loaded.labels, expected)
    assert len(loaded.warnings) == 1 and "#010203 (6 px)" in loaded.warnings[0]


def test_bad_label_files(model: OasisModel, tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(LabelError, match="not a readable image"):
        read_label_png(tmp_path / "x.png", model.config)
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(tmp_path / "ids.png")
    with pytest.raises(LabelError, match=r"ids.png: label ids 9 are outside"):
        read_label_png(tmp_path / "ids.png", model.config)
    Image.new("F", (4, 4)).save(tmp_path / "f.tif")
    with pytest.raises(LabelError, match="mode 'F'"):
        read_label_png(tmp_path / "f.tif", model.config)


def test_bad_id_is_found_in_pixels_the_resize_drops(model: OasisModel, tmp_path: Path) -> None:
    labels = np.zeros((64, 96), np.uint8)
    labels[1, 1] = 9  # a 64x96 -> 32x48 nearest resize keeps even rows and columns only
    Image.fromarray(labels).save(tmp_path / "big.png")
    with pytest.raises(LabelError, match=r"big.png: label ids 9 are outside"):
        read_label_png(tmp_path / "big.png", model.config, size=(32, 48))
    labels[1, 1] = 0
    Image.fromarray(labels).save(tmp_path / "big.png")
    assert read_label_png(tmp_path / "big.png", model.config, size=(32, 48)).labels.shape == (32, 48)


def test_oasis_generate_cli(model: OasisModel, tmp_path: Path, capsys) -> None:
    model.save_pretrained(tmp_path / "model")
    labels = random_layout(30, 40, [0, 1, 2], seed=0)
    save_label_png(tmp_path / "a.png", labels, model.config)
    Image.fromarray(colorize(labels, model.config)).save(tmp_path / "b.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    args = [str(tmp_path / n) for n in ("a.png", "b.png", "bad.png")]
    code = generate_main(
        [
            *args,
            "--model",
            str(tmp_path / "model"),
            "--out",
            str(tmp_path / "out"),
            "--variations",
            "2",
            "--seed",
            "5",
            "--device",
            "cpu",
        ]
    )
    assert code == 1  # one input was bad; the others were still written
    err = capsys.readouterr().err
    assert "skipped" in err and "the layout was 40x30 and was resized to the model's 48x32" in err
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == ["a_seed5.png", "a_seed6.png", "b_seed5.png", "b_seed6.png"]
    a5 = np.asarray(Image.open(tmp_path / "out" / "a_seed5.png"))
    assert a5.shape == (32, 48, 3)  # the model's size, as in the app
    assert np.array_equal(a5, np.asarray(Image.open(tmp_path / "out" / "b_seed5.png")))  # same layout, same seed
    assert not np.array_equal(a5, np.asarray(Image.open(tmp_path / "out" / "a_seed6.png")))

    # A second run into the same folder is refused before anything is written, unless --force.
    before = (tmp_path / "out" / "a_seed5.png").read_bytes()
    a6 = np.asarray(Image.open(tmp_path / "out" / "a_seed6.png"))
    again = [
        str(tmp_path / "a.png"),
        "--model",
        str(tmp_path / "model"),
        "--out",
        str(tmp_path / "out"),
        "--device",
        "cpu",
    ]
    assert generate_main([*again, "--seed", "5", "--variations", "2"]) == 2
    assert "a_seed5.png and 1 more exist; choose another --out" in capsys.readouterr().err
    assert generate_main([*again, "--seed", "6", "--variations", "2"]) == 2  # a_seed7 is new, a_seed6 is not
    assert "a_seed6.png exists" in capsys.readouterr().err and not (tmp_path / "out" / "a_seed7.png").exists()
    (tmp_path / "out" / "a_seed6.png").write_bytes(b"older work")
    assert generate_main([*again, "--seed", "5", "--variations", "2", "--force"]) == 0
    assert (tmp_path / "out" / "a_seed5.png").read_bytes() == before  # written again: the same image
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a_seed6.png")), a6)


def test_oasis_generate_cli_reports_a_bad_model(tmp_path: Path, capsys) -> None:
    assert generate_main([str(tmp_path / "a.png"), "--model", str(tmp_path / "nothing")]) == 1
    assert "no such model folder" in capsys.readouterr().err


def test_oasis_generate_cli_refuses_clashing_outputs_and_negative_seeds(tmp_path: Path, capsys) -> None:
    # Nothing is loaded or written: a/x.png and b/x.png would both become out/x.png.
    assert generate_main([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "--out", str(tmp_path)]) == 2
    assert "would write the same output file" in capsys.readouterr().err
    assert generate_main([str(tmp_path / "x.png"), "--seed", "-5"]) == 2
    assert "--seed >= 0" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"a label map")
    assert generate_main([str(tmp_path / "x.png"), "--out", str(tmp_path)]) == 2  # out/x.png is the input
    assert "over its own label map" in capsys.readouterr().err and (tmp_path / "x.png").read_bytes() == b"a label map"
