"""oasis-eval's realism measure (KID with its markers, in EfficientNet-Lite2 features) and photo -> layout mIoU."""

from pathlib import Path

import numpy as np
import pytest
import torch

from oasis_core import OasisModel, Synthesizer, load_model
from training.data import SegmentationDataset, dataset_info, validate
from training.evaluation.evaluate import EvalOptions, evaluate
from training.evaluation.metrics import confusion_matrix, iou_from_confusion
from training.evaluation.protocol import layout_and_photo
from training.evaluation.realism import PhotoToLayout, Realism, half_resolution
from training.evaluation.report import markdown_report

from .helpers.data import make_dataset
from .helpers.models import realistic_weights, tiny_config


def test_half_resolution_blurs_detail_and_keeps_flat_areas() -> None:
    image = np.zeros((1, 32, 48, 3), np.uint8)
    image[:, :16] = 200
    image[:, 20:, ::2] = 255  # 1-px stripes: gone at half resolution
    out = half_resolution(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out[0, 2:10, 2:46].astype(int) - 200).max() <= 1  # away from the edge bicubic overshoots
    assert out[0, 24:30, 4:44].std() < image[0, 24:30, 4:44].std() / 4


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("realism")
    data = make_dataset(root / "data", n=12)
    torch.manual_seed(0)
    realistic_weights(
        OasisModel(tiny_config(label_nc=4, class_names=("sky", "tree", "road", "water")))
    ).save_pretrained(root / "model")
    opts = EvalOptions(model=str(root / "model"), dataset="folder", dataroot=str(data), split="train", variations=1,
                       device="cpu", progress=False)  # fmt: skip
    ev = evaluate(opts, log=lambda s: None, measures=(Realism.create, PhotoToLayout.create))
    return ev.to_json(), root, markdown_report(ev)


def test_realism_scores_generated_images_with_their_markers(evaluated: tuple[dict, Path, str]) -> None:
    m, _, report = evaluated
    r = m["realism"]
    assert r["features"] == "efficientnet-lite2" and r["val_photos"] == 11
    assert set(r["markers"]) == {"train_photos", "half_resolution", "flat_colours"}
    gen, floor = r["generated"], r["markers"]["train_photos"]
    assert gen["images"] == 11 and floor["images"] == 11  # here the "train photos" are the evaluated split itself
    # The same photos score ~0 (within the spread of the subsets); an untrained model's images are far away.
    assert abs(floor["kid"]["mean"]) < 3 * floor["kid"]["std"] + 1e-4 and floor["fd"] < gen["fd"]
    assert gen["kid"]["mean"] > 10 * max(floor["kid"]["std"], 1e-4) and gen["kid"]["std"] > 0
    assert "## Realism" in report and "half resolution" in report and "Realism KID" in report


def test_photo_to_layout_is_the_discriminators_miou_on_the_photos(evaluated: tuple[dict, Path, str]) -> None:
    m, root, _ = evaluated
    p = m["photo_to_layout"]
    assert p["photos"] == 11 and 0 <= p["miou"] <= 1
    synth = Synthesizer(load_model(root / "model"), device="cpu")
    pairs = validate("folder", str(root / "data"), "train").pairs
    data = SegmentationDataset(dataset_info("folder", str(root / "data")), pairs, synth.size, train=False)
    cm = sum(
        confusion_matrix(synth.segment(photo)[None], labels[None], 4)
        for labels, photo in (layout_and_photo(data[k]) for k in range(len(data)))
    )
    assert p["miou"] == pytest.approx(iou_from_confusion(cm).miou, abs=1e-4)
