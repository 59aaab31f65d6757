"""training.data: dataset layouts, id mapping, validation and augmentation, on tiny synthetic datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.data import (
    KINDS,
    Augment,
    DatasetError,
    DatasetInfo,
    Pair,
    SegmentationDataset,
    dataset_info,
    find_pairs,
    validate,
)
from training.datasets import DATASET_TABLE, DatasetKind, Layout

# Well separated colours: a blend of any two is far from every one of them.
PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [255, 0, 255]], dtype=np.uint8)


def save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr)).save(path, **kw)
    return path


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def block_labels(h: int, w: int, n: int, block: int = 6, seed: int = 0) -> np.ndarray:
    """Random blocks of class ids 0..n-1 (asymmetric, so a flip or shifted crop is visible)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, n, (-(-h // block), -(-w // block)))
    return np.kron(small, np.ones((block, block), dtype=np.int64))[:h, :w].astype(np.uint8)


def folder_info(n: int = len(PALETTE)) -> DatasetInfo:
    return DatasetInfo("folder", n, tuple(f"c{k}" for k in range(n)), None, None)


def write_classes(root: Path, **data) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "classes.json"
    path.write_text(json.dumps(data))
    return path


def make_folder(root: Path, names, h=12, w=16, n=4, split_layout=None, ext=".jpg", **classes) -> Path:
    """A folder-kind dataset; split_layout maps split -> names for the train/ val/ variant."""
    for i, name in enumerate(names):
        base = root if split_layout is None else root / next(s for s, ns in split_layout.items() if name in ns)
        save(base / "images" / f"{name}{ext}", photo(h, w, i))
        save(base / "labels" / f"{name}.png", block_labels(h, w, n, 3, i))
    write_classes(root, **(classes or {"names": [f"c{k}" for k in range(n)]}))
    return root


# ---- layouts and id mapping -------------------------------------------------------------------------


def test_ade20k_layout_names_and_ids(tmp_path):
    ade = tmp_path / "ADEChallengeData2016"
    raw = np.array([[0, 1, 2, 150]] * 3, dtype=np.uint8)
    for _split, sub in (("train", "training"), ("val", "validation")):
        for k in range(2):
            name = f"ADE_{sub[:5]}_{k:08d}"
            save(ade / "images" / sub / f"{name}.jpg", photo(3, 4, k))
            save(ade / "annotations" / sub / f"{name}.png", raw)
    info = dataset_info("ade20k", tmp_path)
    assert (info.label_nc, info.dont_care_id, len(info.class_names)) == (151, 0, 151)
    assert info.class_names[:4] == ("other", "wall", "building", "sky") and info.class_names[150] == "flag"
    assert info.class_names[13] == "person" and info.class_names[21] == "car"
    # The root may be ADEChallengeData2016/ or its parent.
    for root in (tmp_path, ade):
        pairs = find_pairs("ade20k", root, "train")
        assert [p.name for p in pairs] == ["ADE_train_00000000", "ADE_train_00000001"]
        assert all(p.label.parent == ade / "annotations" / "training" for p in pairs)
    val = validate("ade20k", tmp_path, "val", workers=2)
    assert val.ok and len(val.pairs) == 2
    item = SegmentationDataset(info, val.pairs, (3, 4), train=False)[0]
    assert torch.equal(item["labels"], torch.from_numpy(raw.astype(np.int64)))  # ids used as they are


def test_cityscapes_layout_and_mapping(tmp_path):
    raw = np.array([[0, 7, 26, 33], [255, 255, 24, 8]], dtype=np.uint8)
    for split, city in (("train", "aachen"), ("val", "lindau")):
        for k in range(2):
            stem = f"{city}_000000_{k:06d}"
            save(tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", photo(2, 4, k))
            save(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", raw)
            # Other gtFine files must be ignored.
            save(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_color.png", photo(2, 4))
            save(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png", raw)
    info = dataset_info("cityscapes", tmp_path)
    assert (info.label_nc, info.dont_care_id) == (35, 0)
    assert len(info.class_names) == len(info.class_colors) == 35
    assert (info.class_names[7], info.class_colors[7]) == ("road", (128, 64, 128))
    assert (info.class_names[26], info.class_colors[26]) == ("car", (0, 0, 142))
    assert (info.class_names[33], info.class_colors[33]) == ("bicycle", (119, 11, 32))
    pairs = find_pairs("cityscapes", tmp_path, "val")
    assert [p.name for p in pairs] == ["lindau/lindau_000000_000000", "lindau/lindau_000000_000001"]
    assert all(p.label.name.endswith("_gtFine_labelIds.png") for p in pairs)
    labels = SegmentationDataset(info, pairs, (2, 4), train=False)[1]["labels"]
    assert labels.tolist() == [[0, 7, 26, 33], [0, 0, 24, 8]]  # 255 (license plate / unlabeled) -> 0
    assert info.invalid_raw_values(np.array([[0, 33, 35, 200]], np.uint8)) == [35, 200]


def test_coco_stuff_layout_and_mapping(tmp_path):
    raw = np.array([[0, 1, 181, 255]], dtype=np.uint8)
    for split in ("train", "val"):
        save(tmp_path / f"{split}_img" / "000000000139.jpg", photo(1, 4))
        save(tmp_path / f"{split}_label" / "000000000139.png", raw)
    info = dataset_info("coco-stuff", tmp_path)
    assert (info.label_nc, info.dont_care_id, len(info.class_names)) == (183, 0, 183)
    assert info.class_names[0] == "unlabeled" and info.class_names[1] == "person"
    assert info.class_names[182] == "wood" and info.class_names[157] == "sky-other"
    pairs = find_pairs("coco-stuff", tmp_path, "train")
    assert [p.name for p in pairs] == ["000000000139"]
    labels = SegmentationDataset(info, pairs, (1, 4), train=False)[0]["labels"]
    assert labels.tolist() == [[1, 2, 182, 0]]
    assert info.invalid_raw_values(np.array([[0, 181, 182, 254, 255]], np.uint8)) == [182, 254]


def test_folder_with_split_files(tmp_path):
    names = ["a", "b", "c", "d", "e"]
    make_folder(tmp_path, names)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("a\nc.jpg\n\n# a comment\ne\n")
    (tmp_path / "splits" / "val.txt").write_text("b\n")
    assert [p.name for p in find_pairs("folder", tmp_path, "train")] == ["a", "c", "e"]
    assert [p.name for p in find_pairs("folder", tmp_path, "val")] == ["b"]
    p = find_pairs("folder", tmp_path, "val")[0]
    assert p == Pair(tmp_path / "images" / "b.jpg", tmp_path / "labels" / "b.png", "b")
    # With only train.txt, val is every other name.
    (tmp_path / "splits" / "val.txt").unlink()
    assert [p.name for p in find_pairs("folder", tmp_path, "val")] == ["b", "d"]


def test_folder_default_split_is_deterministic_90_10(tmp_path):
    names = [f"img{k:03d}" for k in range(30)]
    make_folder(tmp_path, names, h=2, w=2)
    train = [p.name for p in find_pairs("folder", tmp_path, "train")]
    val = [p.name for p in find_pairs("folder", tmp_path, "val")]
    assert len(val) == 3 and len(train) == 27
    assert sorted(train + val) == names and not set(train) & set(val)
    assert val != names[-3:] and val != names[:3]  # spread out, not one end of the list
    assert val == [p.name for p in find_pairs("folder", tmp_path, "val")]


def test_folder_split_folders_and_subfolders(tmp_path):
    make_folder(tmp_path, ["t1", "t2", "v1"], split_layout={"train": ["t1", "t2"], "val": ["v1"]}, ext=".png")
    assert [p.name for p in find_pairs("folder", tmp_path, "train")] == ["t1", "t2"]
    assert [p.name for p in find_pairs("folder", tmp_path, "val")] == ["v1"]
    assert validate("folder", tmp_path, "train", workers=1).ok
    # Sub-folders pair by relative path.
    sub = tmp_path / "nested"
    save(sub / "images" / "x" / "p.jpg", photo(2, 2))
    save(sub / "labels" / "x" / "p.png", np.zeros((2, 2), np.uint8))
    save(sub / "images" / "y" / "p.jpg", photo(2, 2))
    save(sub / "labels" / "y" / "p.png", np.zeros((2, 2), np.uint8))
    (sub / "splits").mkdir()
    (sub / "splits" / "train.txt").write_text("x/p\ny/p\n")
    assert [p.name for p in find_pairs("folder", sub, "train")] == ["x/p", "y/p"]


def test_classes_json_variants(tmp_path):
    # Stanford Background: 8 names and a raw ignore value -> a don't-care class is appended.
    stanford = ["sky", "tree", "road", "grass", "water", "building", "mountain", "foreground object"]
    write_classes(tmp_path / "s", names=stanford, ignore_value=255)
    info = dataset_info("folder", tmp_path / "s")
    assert (info.label_nc, info.dont_care_id, info.class_names[8]) == (9, 8, "don't care")
    assert info.map_labels(np.array([0, 7, 255, 8, 254], np.uint8)).tolist() == [0, 7, 8, -1, -1]
    # CamVid: 12 names with "void" as the don't-care class, no ignore value.
    camvid = ["sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "ped", "bike", "void"]
    write_classes(tmp_path / "c", names=camvid, dont_care_id=11)
    info = dataset_info("folder", tmp_path / "c")
    assert (info.label_nc, info.dont_care_id, info.class_colors) == (12, 11, None)
    assert info.map_labels(np.array([0, 11, 12, 255], np.uint8)).tolist() == [0, 11, -1, -1]
    # Both: the ignore value maps to the given don't-care id; colours are kept.
    colors = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    write_classes(tmp_path / "b", names=["x", "y", "void"], colors=colors, dont_care_id=2, ignore_value=200)
    info = dataset_info("folder", tmp_path / "b")
    assert info.label_nc == 3 and info.class_colors == ((1, 2, 3), (4, 5, 6), (7, 8, 9))
    assert info.map_labels(np.array([1, 200], np.uint8)).tolist() == [1, 2]
    # Colours get a black don't-care colour appended.
    write_classes(tmp_path / "d", names=["x", "y"], colors=colors[:2], ignore_value=255)
    assert dataset_info("folder", tmp_path / "d").class_colors == ((1, 2, 3), (4, 5, 6), (0, 0, 0))
    # classes_file overrides the (absent, read-only) root's classes.json.
    external = write_classes(tmp_path / "elsewhere", names=["only"])
    assert dataset_info("folder", tmp_path / "no-classes-here", classes_file=external).class_names == ("only",)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"names": []}, "names"),
        ({"names": ["a", "b"], "colors": [[1, 2, 3]]}, "colors"),
        ({"names": ["a", "b"], "colors": [[1, 2, 300], [0, 0, 0]]}, "colors"),
        ({"names": ["a", "b"], "dont_care_id": 2}, "dont_care_id"),
        ({"names": ["a", "b"], "ignore_value": 1}, "ignore_value"),
        ({"names": ["a"], "colours": []}, "unknown keys"),
    ],
)
def test_bad_classes_json(tmp_path, data, words):
    write_classes(tmp_path, **data)
    with pytest.raises(DatasetError, match=words):
        dataset_info("folder", tmp_path)


def test_missing_classes_json_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match="classes.json"):
        dataset_info("folder", tmp_path)


def test_a_missing_data_folder_is_named_rather_than_its_classes_json(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as e:
        dataset_info("folder", tmp_path / "moved-away")
    assert "moved-away" in str(e.value) and "classes file" not in str(e.value)


def test_resume_after_the_data_folder_moved_says_how_to_point_at_it(tmp_path, capsys):
    from training.cli import main as train_main
    from training.options import TrainConfig

    runs = tmp_path / "my runs"
    run = TrainConfig(dataset="folder", dataroot=str(tmp_path / "data"), name="r 1", runs_dir=str(runs))
    (runs / "r 1").mkdir(parents=True)
    (runs / "r 1" / "config.json").write_text(run.to_json())
    resume = ["--name", "r 1", "--runs-dir", str(runs), "--resume", "--dry-run"]
    assert train_main(resume) == 2
    err = capsys.readouterr().err
    assert f"data folder {tmp_path / 'data'} is gone" in err
    assert f"oasis-train --name 'r 1' --runs-dir '{runs}' --resume --dataroot NEW_PATH" in err
    moved = make_folder(tmp_path / "elsewhere", ["a", "b"])
    assert train_main([*resume, "--dataroot", str(moved)]) == 0  # the suggested command works
    assert f"dataroot {str(tmp_path / 'data')!r} -> {str(moved)!r}" in capsys.readouterr().err


def test_a_new_kind_is_one_table_entry(tmp_path, monkeypatch):
    """Pascal VOC as an example: split files in ImageSets/, palette labels with 255 on object borders."""
    voc = DatasetKind(
        "voc",
        (Layout("JPEGImages", "SegmentationClass", split_files="ImageSets/Segmentation/{split}.txt"),),
        "JPEGImages/*.jpg, SegmentationClass/*.png and ImageSets/Segmentation/{train,val}.txt",
        split_dirs={"train": "train", "val": "val"},
        class_names=tuple(f"c{k}" for k in range(21)),
        dont_care_id=0,
        raw_map=((255, 0),),
    )
    monkeypatch.setitem(DATASET_TABLE, "voc", voc)
    for k, name in enumerate(["2007_000032", "2007_000039", "2007_000063"]):
        save(tmp_path / "JPEGImages" / f"{name}.jpg", photo(2, 3, k))
        save(tmp_path / "SegmentationClass" / f"{name}.png", np.array([[0, 20, 255]] * 2, np.uint8))
    (tmp_path / "ImageSets" / "Segmentation").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000039\n")
    assert [p.name for p in find_pairs("voc", tmp_path, "train")] == ["2007_000032", "2007_000063"]
    report = validate("voc", tmp_path, "val")
    assert report.ok and [p.name for p in report.pairs] == ["2007_000039"]
    assert report.info.label_nc == 21 and report.info.invalid_raw_values(np.array([21, 254], np.uint8)) == [21, 254]
    item = SegmentationDataset(report.info, report.pairs, (2, 3), train=False)[0]
    assert item["labels"].tolist() == [[0, 20, 0]] * 2
    with pytest.raises(DatasetError, match="ImageSets/Segmentation"):  # the layout's own words
        find_pairs("voc", tmp_path / "JPEGImages", "train")


def test_the_readme_lists_the_tables_kinds_and_classes():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| `--dataset` |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = {row.split("`")[1]: row for row in table}
    assert tuple(rows) == KINDS
    for kind, spec in DATASET_TABLE.items():
        if spec.class_names is not None:
            assert f"{len(spec.class_names)} channels" in rows[kind]


# ---- errors -------------------------------------------------------------------------------------------


def test_unknown_kind_lists_valid_kinds(tmp_path):
    for call in (
        lambda: dataset_info("pascal", tmp_path),
        lambda: find_pairs("pascal", tmp_path, "train"),
        lambda: validate("pascal", tmp_path, "train"),
    ):
        with pytest.raises(ValueError) as e:
            call()
        assert all(k in str(e.value) for k in KINDS)
    with pytest.raises(ValueError, match="train"):
        find_pairs("folder", tmp_path, "test")


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("ade20k", ["images/training", "annotations/training"]),
        ("cityscapes", ["leftImg8bit/train", "gtFine/train"]),
        ("coco-stuff", ["train_img", "train_label"]),
        ("folder", ["images", "labels", "train/images"]),
    ],
)
def test_wrong_layout_says_which_folders(tmp_path, kind, expected):
    save(tmp_path / "pics" / "a.jpg", photo(2, 2))
    with pytest.raises(DatasetError) as e:
        find_pairs(kind, tmp_path, "train")
    assert all(x in str(e.value) for x in expected), str(e.value)
    assert kind in str(e.value)
    with pytest.raises(DatasetError, match="does not exist"):
        find_pairs(kind, tmp_path / "nowhere", "train")


def test_split_folder_layout_missing_val(tmp_path):
    make_folder(tmp_path, ["t1"], split_layout={"train": ["t1"]})
    with pytest.raises(DatasetError, match="val/images"):
        find_pairs("folder", tmp_path, "val")


# ---- validation -----------------------------------------------------------------------------------------


def test_validation_finds_every_problem_category(tmp_path):
    root = tmp_path / "ds"
    write_classes(root, names=["a", "b", "c"], ignore_value=255)  # raw 0..2 and 255 are valid
    ok_label = np.array([[0, 1], [2, 255]], np.uint8)
    save(root / "images" / "good.jpg", photo(2, 2))
    save(root / "labels" / "good.png", ok_label)
    save(root / "images" / "nolabel.jpg", photo(2, 2))
    save(root / "labels" / "noimage.png", ok_label)
    (root / "images" / "broken.jpg").write_bytes(b"this is not a jpeg")
    save(root / "labels" / "broken.png", ok_label)
    save(root / "images" / "badlabelfile.jpg", photo(2, 2))
    (root / "labels" / "badlabelfile.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    save(root / "images" / "mismatch.jpg", photo(3, 2))
    save(root / "labels" / "mismatch.png", ok_label)
    save(root / "images" / "outofrange.jpg", photo(2, 2))
    save(root / "labels" / "outofrange.png", np.array([[0, 3], [200, 1]], np.uint8))
    save(root / "images" / "colour.jpg", photo(2, 2))
    save(root / "labels" / "colour.png", photo(2, 2, seed=5))
    save(root / "images" / "twice.jpg", photo(2, 2))
    save(root / "images" / "twice.png", photo(2, 2))
    save(root / "labels" / "twice.png", ok_label)
    (root / "splits").mkdir()
    names = [
        "good",
        "nolabel",
        "noimage",
        "broken",
        "badlabelfile",
        "mismatch",
        "outofrange",
        "colour",
        "twice",
        "ghost",
    ]
    (root / "splits" / "train.txt").write_text("\n".join(names))

    report = validate("folder", root, "train", workers=3)
    assert not report.ok
    assert sorted(p.name for p in report.pairs) == ["good", "twice"]  # a duplicate still pairs (first file)
    found = {(cat, Path(f).name) for cat, f, _ in report.problems}
    assert found == {
        ("missing pairs", "nolabel.jpg"),
        ("missing pairs", "noimage.png"),
        ("missing pairs", "ghost"),
        ("unreadable files", "broken.jpg"),
        ("unreadable files", "badlabelfile.png"),
        ("size mismatches (image vs label)", "mismatch.png"),
        ("label ids out of range", "outofrange.png"),
        ("labels that are not index images", "colour.png"),
        ("duplicate names", "twice.jpg"),
    }
    messages = {Path(f).name: m for _, f, m in report.problems}
    assert "3, 200" in messages["outofrange.png"] and "0..2, 255" in messages["outofrange.png"]
    assert "2x2" in messages["mismatch.png"] and "2x3" in messages["mismatch.png"]
    assert "labels/nolabel.png" in messages["nolabel.jpg"]

    text = report.format()
    for header in (
        "missing pairs (3)",
        "unreadable files (2)",
        "size mismatches (image vs label) (1)",
        "label ids out of range (1)",
        "labels that are not index images (1)",
        "duplicate names (1)",
    ):
        assert header in text, text
    for name in ("images/nolabel.jpg", "labels/noimage.png", "images/broken.jpg", "labels/outofrange.png", "3, 200"):
        assert name in text, text
    assert "2 valid pairs" in text and "9 problem(s)" in text
    short = report.format(max_per_category=1)
    assert "... and 2 more" in short and "labels/noimage.png" not in short
    # The dataset only ever gets the valid pairs; they load.
    ds = SegmentationDataset(report.info, report.pairs, (2, 2), train=True)
    assert [ds[i]["labels"].max().item() <= 3 for i in range(len(ds))] == [True, True]


def test_validation_clean_dataset_and_empty_split(tmp_path):
    make_folder(tmp_path, ["a", "b"], split_layout={"train": ["a", "b"], "val": []})
    (tmp_path / "val" / "images").mkdir(parents=True)
    (tmp_path / "val" / "labels").mkdir(parents=True)
    report = validate("folder", tmp_path, "train")
    assert report.ok and report.problems == [] and "no problems" in report.format()
    empty = validate("folder", tmp_path, "val")
    assert not empty.ok and empty.problems[0].category == "no pairs"


def test_validation_decodes_images_to_find_truncated_ones(tmp_path):
    make_folder(tmp_path, ["a"], h=64, w=64, split_layout={"train": ["a"]})
    jpg = tmp_path / "train" / "images" / "a.jpg"
    jpg.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 3])
    assert validate("folder", tmp_path, "train", decode_images=False).ok  # header only: blind to it
    deep = validate("folder", tmp_path, "train")
    assert [(p.category, p.file.name) for p in deep.problems] == [("unreadable files", "a.jpg")]


def test_a_file_broken_after_validation_is_named_when_loaded(tmp_path):
    make_folder(tmp_path, ["a"], h=64, w=64, split_layout={"train": ["a"]})
    report = validate("folder", tmp_path, "train")
    ds = SegmentationDataset(report.info, report.pairs, (32, 32), train=True)
    jpg = tmp_path / "train" / "images" / "a.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])
    with pytest.raises(DatasetError, match="a.jpg: cannot read image"):
        ds[0]


def test_validation_reads_label_ids_after_mapping(tmp_path):
    # COCO-Stuff: raw 182 would be id 183 (out of range); 255 is fine.
    save(tmp_path / "train_img" / "a.jpg", photo(2, 2))
    save(tmp_path / "train_label" / "a.png", np.array([[0, 255], [181, 182]], np.uint8))
    save(tmp_path / "train_img" / "b.jpg", photo(2, 2))
    save(tmp_path / "train_label" / "b.png", np.array([[0, 255], [181, 5]], np.uint8))
    report = validate("coco-stuff", tmp_path, "train")
    assert [p.name for p in report.pairs] == ["b"]
    assert [(c, f.name) for c, f, _ in report.problems] == [("label ids out of range", "a.png")]
    assert "182" in report.problems[0].message


# ---- augmentation -----------------------------------------------------------------------------------------


def colour_coded_pairs(tmp_path: Path, count: int, h: int, w: int, block: int = 12) -> list[Pair]:
    """Images whose colours are the palette colours of their labels (PNG: lossless)."""
    pairs = []
    for k in range(count):
        lab = block_labels(h, w, len(PALETTE), block, seed=k)
        img = save(tmp_path / "images" / f"{k}.png", PALETTE[lab])
        pairs.append(Pair(img, save(tmp_path / "labels" / f"{k}.png", lab), str(k)))
    return pairs


def assert_aligned(item: dict) -> None:
    """Where the label is uniform over a 7x7 window, the image must show exactly that class's colour."""
    labels = item["labels"].numpy()
    rgb = ((item["image"].numpy().transpose(1, 2, 0) + 1) * 127.5).round()
    r = 3
    pad = np.pad(labels, r, constant_values=-1)  # a crop's edge pixels see pixels outside the crop
    windows = np.lib.stride_tricks.sliding_window_view(pad, (2 * r + 1, 2 * r + 1))
    uniform = (windows == labels[:, :, None, None]).all(axis=(2, 3))
    assert uniform.mean() > 0.2  # enough pixels tested
    err = np.abs(rgb - PALETTE[labels].astype(np.float64)).max(axis=2)
    assert err[uniform].max() <= 2, err[uniform].max()
    # And overall, the decoded colour agrees with the label almost everywhere.
    decoded = np.abs(rgb[:, :, None, :] - PALETTE[None, None].astype(np.float64)).sum(-1).argmin(-1)
    assert (decoded == labels).mean() > 0.9


@pytest.mark.parametrize("size", [(36, 48), (24, 40), (40, 24)])
def test_flip_and_crop_keep_image_and_labels_aligned(tmp_path, size):
    h, w = size
    pairs = colour_coded_pairs(tmp_path, 3, h, w)
    ds = SegmentationDataset(folder_info(), pairs, size, train=True, augment=Augment(scale_jitter=0.2), seed=3)
    flips, offsets = set(), set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert item["image"].shape == (3, h, w) and item["labels"].shape == (h, w)
            assert item["image"].dtype == torch.float32 and item["labels"].dtype == torch.int64
            assert item["image"].min() >= -1 and item["image"].max() <= 1 and item["index"] == i
            assert_aligned(item)
            (lh, lw), (top, left), flip = ds.transform_params(i)
            assert h < lh <= round(h * 286 / 256 * 1.2) + 1 and w < lw <= round(w * 286 / 256 * 1.2) + 1
            flips.add(flip)
            offsets.add((top, left))
    assert flips == {True, False} and len(offsets) > 3  # the augmentation really happened


def reference_transform(pair: Pair, params, size) -> tuple[np.ndarray, np.ndarray]:
    """The documented transform written with PIL alone: resize (bicubic / nearest), crop, flip."""
    (lh, lw), (top, left), flip = params
    h, w = size
    out = []
    for path, mode, resample in (
        (pair.image, "RGB", Image.Resampling.BICUBIC),
        (pair.label, "L", Image.Resampling.NEAREST),
    ):
        im = Image.open(path).convert(mode).resize((lw, lh), resample).crop((left, top, left + w, top + h))
        if flip:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(np.asarray(im))
    return out[0], out[1]


@pytest.mark.parametrize("size, jitter", [((20, 28), 0.0), ((18, 30), 0.25)])
def test_train_transform_matches_reference_exactly(tmp_path, size, jitter):
    h, w = size
    pairs = colour_coded_pairs(tmp_path, 3, h + 5, w + 3, block=4)  # a different source size than the target
    ds = SegmentationDataset(folder_info(), pairs, size, train=True, augment=Augment(scale_jitter=jitter), seed=1)
    load_sizes = set()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            params = ds.transform_params(i)
            load_sizes.add(params[0])
            image, labels = reference_transform(pairs[i], params, size)
            item = ds[i]
            assert np.array_equal(item["labels"].numpy(), labels)
            assert np.array_equal(((item["image"].numpy() + 1) * 127.5).round().transpose(1, 2, 0), image)
    base = (round(h * 286 / 256), round(w * 286 / 256))
    if jitter:
        assert len(load_sizes) > 3 and all(base[0] <= lh <= round(h * 286 / 256 * 1.25) for lh, _ in load_sizes)
        assert all(abs(lw / w - lh / h) < 0.1 for lh, lw in load_sizes)  # both sides scaled alike
    else:
        assert load_sizes == {base}


def test_downscaled_and_nonsquare_eval_is_aligned(tmp_path):
    pairs = colour_coded_pairs(tmp_path, 2, 60, 90, block=30)
    for train in (False, True):
        ds = SegmentationDataset(folder_info(), pairs, (24, 40), train=train)
        for i in range(2):
            item = ds[i]
            assert item["image"].shape == (3, 24, 40) and item["labels"].shape == (24, 40)
            assert_aligned(item)


def test_eval_resizes_straight_to_size(tmp_path):
    pairs = colour_coded_pairs(tmp_path, 1, 30, 50)
    ds = SegmentationDataset(folder_info(), pairs, (20, 32), train=False)
    item = ds[0]
    src = Image.open(pairs[0].image).convert("RGB").resize((32, 20), Image.Resampling.BICUBIC)
    expect = torch.from_numpy(np.asarray(src).transpose(2, 0, 1).astype(np.float32)) / 127.5 - 1
    assert torch.allclose(item["image"], expect, atol=1e-6)
    lab = Image.open(pairs[0].label).resize((32, 20), Image.Resampling.NEAREST)
    assert torch.equal(item["labels"], torch.from_numpy(np.asarray(lab).astype(np.int64)))
    ds.set_epoch(7)  # no randomness in evaluation
    assert torch.equal(ds[0]["image"], item["image"]) and torch.equal(ds[0]["labels"], item["labels"])


def test_labels_use_nearest_never_blend_ids(tmp_path):
    # A 1/3 checkerboard: any blending would create id 2.
    lab = np.where((np.indices((17, 23)).sum(0) % 2) == 0, 1, 3).astype(np.uint8)
    img = save(tmp_path / "i.png", photo(17, 23))
    pair = Pair(img, save(tmp_path / "l.png", lab), "x")
    for train, size in ((True, (16, 16)), (True, (11, 29)), (False, (8, 13)), (False, (40, 30))):
        ds = SegmentationDataset(folder_info(), [pair], size, train=train, augment=Augment(scale_jitter=0.5))
        for epoch in range(3):
            ds.set_epoch(epoch)
            ids = set(ds[0]["labels"].unique().tolist())
            assert ids <= {1, 3} and ids == {1, 3}


def test_no_augmentation_options(tmp_path):
    pairs = colour_coded_pairs(tmp_path, 1, 16, 24)
    plain = SegmentationDataset(folder_info(), pairs, (16, 24), train=True, augment=Augment(flip=False, crop=False))
    evaluation = SegmentationDataset(folder_info(), pairs, (16, 24), train=False)
    for epoch in range(3):
        plain.set_epoch(epoch)
        assert torch.equal(plain[0]["image"], evaluation[0]["image"])
    flip_only = SegmentationDataset(folder_info(), pairs, (16, 24), train=True, augment=Augment(crop=False), seed=1)
    seen = set()
    for epoch in range(8):
        flip_only.set_epoch(epoch)
        item = flip_only[0]
        same = torch.equal(item["labels"], evaluation[0]["labels"])
        mirrored = torch.equal(item["labels"], evaluation[0]["labels"].flip(-1))
        assert same or mirrored
        seen.add(same)
    assert seen == {True, False}
    with pytest.raises(ValueError, match="load_scale"):
        Augment(load_scale=0.9)


def test_augmentation_is_a_function_of_seed_epoch_index(tmp_path):
    pairs = colour_coded_pairs(tmp_path, 4, 16, 20)
    aug = Augment(scale_jitter=0.3)

    def run(seed, epoch, order):
        ds = SegmentationDataset(folder_info(), pairs, (16, 20), train=True, augment=aug, seed=seed)
        ds.set_epoch(epoch)
        return {i: ds[i] for i in order}

    a = run(5, 2, [0, 1, 2, 3])
    np.random.seed(123)
    torch.manual_seed(123)  # global RNG state is irrelevant
    b = run(5, 2, [3, 1, 0, 2])  # and so is the order of access
    for i in range(4):
        assert torch.equal(a[i]["image"], b[i]["image"]) and torch.equal(a[i]["labels"], b[i]["labels"])

    def differs(x, y):
        return any(not torch.equal(x[i]["image"], y[i]["image"]) for i in range(4))

    assert differs(a, run(5, 3, range(4)))  # a new epoch, new crops/flips
    assert differs(a, run(6, 2, range(4)))  # a new seed
    back = run(5, 2, range(4))  # resuming at epoch 2 reproduces it bit-exactly
    assert not differs(a, back)


def test_dataloader_workers_match_direct_indexing(tmp_path):
    pairs = colour_coded_pairs(tmp_path, 4, 12, 16)
    ds = SegmentationDataset(folder_info(), pairs, (12, 16), train=True, seed=9)
    ds.set_epoch(4)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert batches[0]["image"].shape == (2, 3, 12, 16) and batches[0]["index"].tolist() == [0, 1]
    images = torch.cat([b["image"] for b in batches])
    assert torch.equal(images, torch.stack([ds[i]["image"] for i in range(4)]))


def test_dataset_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        SegmentationDataset(folder_info(), [], (0, 16), train=True)
