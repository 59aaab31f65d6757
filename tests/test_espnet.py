"""The ESPNet CamVid judge (``--judge espnet-camvid:PATH``) with random weights: structure, input pipeline,
void handling and the refusal of files that are not the expected plain state dict.

The real weights are checked against the published figures by ``benchmarks/check_espnet_judge.py``;
``test_forward_is_pinned`` holds this implementation to the outputs it had when it passed that check."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training.evaluation.espnet import (
    CAMVID_CLASS_NAMES,
    CAMVID_MEAN_BGR,
    CAMVID_STD_BGR,
    CamVidESPNet,
    ESPNet,
)
from training.evaluation.judge import JudgeError, load_judge

ROOT = Path(__file__).resolve().parents[1]
SPEC = "espnet-camvid:"


def _save(state: object, path: Path) -> str:
    torch.save(state, path)
    return SPEC + str(path)


def _load(spec: str, num_classes: int = 12):
    return load_judge(spec, num_classes, 11, CAMVID_CLASS_NAMES)


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return ESPNet().state_dict()


def test_parameter_names_and_shapes_are_the_published_ones(weights: dict[str, torch.Tensor]) -> None:
    # a sample of the published file's 189 entries (it has no num_batches_tracked buffers)
    published = {
        "encoder.level1.conv.weight": (16, 3, 3, 3),
        "encoder.b1.act.weight": (19,),
        "encoder.level2_0.c1.conv.weight": (12, 19, 3, 3),
        "encoder.level2_0.d1.conv.weight": (16, 12, 3, 3),
        "encoder.level2_0.bn.running_var": (64,),
        "encoder.level2.1.c1.conv.weight": (12, 64, 1, 1),
        "encoder.level2.0.bn.bn.weight": (64,),
        "encoder.b2.bn.weight": (131,),
        "encoder.level3_0.d1.conv.weight": (28, 25, 3, 3),
        "encoder.level3.7.d16.conv.weight": (25, 25, 3, 3),
        "encoder.b3.bn.weight": (256,),
        "encoder.classifier.conv.weight": (12, 256, 1, 1),
        "level3_C.conv.weight": (12, 131, 1, 1),
        "br.running_mean": (12,),
        "conv.conv.weight": (12, 31, 3, 3),
        "up_l3.0.weight": (12, 12, 2, 2),
        "combine_l2_l3.0.act.weight": (24,),
        "combine_l2_l3.1.c1.conv.weight": (2, 24, 1, 1),
        "combine_l2_l3.1.d1.conv.weight": (4, 2, 3, 3),
        "combine_l2_l3.1.bn.bn.weight": (12,),
        "up_l2.1.act.weight": (12,),
        "classifier.weight": (12, 12, 2, 2),
    }
    assert {k: tuple(weights[k].shape) for k in published} == published
    assert len([k for k in weights if not k.endswith("num_batches_tracked")]) == 189
    assert sum(v.numel() for k, v in weights.items() if "running" not in k and "num_batches" not in k) == 354_517


def test_loads_through_the_judge_spec_and_predicts_input_size(weights: dict, tmp_path: Path) -> None:
    # the published weights predate BatchNorm's num_batches_tracked: a file without them loads strictly
    old_style = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    judge, warnings = _load(_save(old_style, tmp_path / "espnet.pth"))
    assert warnings == [] and judge.kind == "espnet-camvid" and judge.size == (360, 480)
    assert isinstance(judge.net, CamVidESPNet)
    torch.testing.assert_close(judge.net.net.state_dict()["encoder.b3.bn.weight"], weights["encoder.b3.bn.weight"])
    with torch.inference_mode():
        assert judge.net(torch.rand(2, 3, 360, 480)).shape == (2, 12, 360, 480)

    seen: list[tuple[int, ...]] = []
    judge.net.net.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    images = np.random.default_rng(0).integers(0, 256, (2, 180, 240, 3), dtype=np.uint8)
    pred = judge.predict(images)
    assert seen[0] == (2, 3, 360, 480)  # resized to the net's 480x360 ...
    assert pred.shape == (2, 180, 240) and pred.dtype == np.int64  # ... and the labels back to the input size
    assert pred.min() >= 0 and pred.max() < 12
    # the label map (not the logits) comes back, nearest with pixel centres aligned: pixels 1, 3, 5, ...
    native = judge.logits(torch.from_numpy(images).permute(0, 3, 1, 2) / 255, at_input_size=False).argmax(1)
    np.testing.assert_array_equal(pred, native[:, 1::2, 1::2].numpy())


def test_void_is_predicted_as_the_published_pipeline_does(weights: dict, tmp_path: Path) -> None:
    # rig the last layers so that void wins everywhere: the published figures take the argmax over all 12
    # outputs, so the judge answers void too (a miss for the pixel's true class in the mIoU)
    state = dict(weights)
    state["conv.bn.weight"] = torch.zeros(12)
    state["conv.bn.bias"] = torch.ones(12)  # the features before the classifier are 1 everywhere
    classifier = torch.zeros(12, 12, 2, 2)
    classifier[:, 11] = 1.0
    state["classifier.weight"] = classifier
    judge, _ = _load(_save(state, tmp_path / "void.pth"))
    images = np.full((1, 360, 480, 3), 90, np.uint8)
    with torch.inference_mode():
        assert (judge.net(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).argmax(1) == 11).all()
    pred = judge.predict(images)
    assert pred.shape == (1, 360, 480) and (pred == 11).all()


def test_forward_is_pinned() -> None:
    """Random-weight outputs pinned when this implementation reproduced the published CamVid figures
    (benchmarks/check_espnet_judge.py): a change to the graph (fusion, pooling, decoder) moves them."""
    torch.manual_seed(0)
    net = ESPNet().eval()
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        y = net(x)
    expected_pixel = [-0.001628, 0.002042, -0.021197, -0.059478, -0.010287, 0.015102,
                      -0.002929, -0.033867, 0.030377, 0.041474, -0.003037, -0.026311]  # fmt: skip
    expected_mean = [0.008546, 0.000769, -0.011899, -0.001637, 0.007712, -0.002778,
                     -0.001252, -0.007564, 0.003554, 0.010075, 0.008505, -0.002875]  # fmt: skip
    torch.testing.assert_close(y[0, :, 10, 20], torch.tensor(expected_pixel), atol=2e-6, rtol=0)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.tensor(expected_mean), atol=2e-6, rtol=0)


def test_normalisation_of_known_pixels() -> None:
    net = CamVidESPNet(ESPNet())
    rgb = torch.tensor([255.0, 0.0, 128.0]).view(1, 3, 1, 1) / 255  # R, G, B
    bgr = (128.0, 0.0, 255.0)
    expected = [(v - m) / s / 255 for v, m, s in zip(bgr, CAMVID_MEAN_BGR, CAMVID_STD_BGR)]
    torch.testing.assert_close(net.normalise(rgb).flatten(), torch.tensor(expected))
    # the mean photo maps to 0
    mean_rgb = torch.tensor(CAMVID_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255
    torch.testing.assert_close(net.normalise(mean_rgb), torch.zeros(1, 3, 1, 1), atol=1e-7, rtol=0)
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(net.eval()(x), net.net(net.normalise(x)))


def test_class_names_are_the_camvid_assets() -> None:
    names = json.loads((ROOT / "assets" / "datasets" / "camvid.classes.json").read_text(encoding="utf-8"))["names"]
    assert tuple(names) == CAMVID_CLASS_NAMES


def test_wrong_keys_shapes_and_class_counts_are_clear_errors(weights: dict, tmp_path: Path) -> None:
    renamed = dict(weights)
    renamed["encoder.b3.bn.gamma"] = renamed.pop("encoder.b3.bn.weight")
    with pytest.raises(
        JudgeError, match=r"1 missing key\(s\): encoder\.b3\.bn\.weight; 1 unexpected key\(s\): encoder\.b3\.bn\.gamma"
    ):
        _load(_save(renamed, tmp_path / "renamed.pth"))
    missing = {k: v for k, v in weights.items() if k != "classifier.weight"}
    with pytest.raises(JudgeError, match=r"missing key\(s\): classifier\.weight$"):
        _load(_save(missing, tmp_path / "missing.pth"))
    with pytest.raises(JudgeError, match="do not fit the p=2, q=8, 12-class network"):
        _load(_save(ESPNet(classes=20).state_dict(), tmp_path / "cityscapes.pth"))
    with pytest.raises(JudgeError, match="expected a state dict of tensors, got list"):
        _load(_save([torch.zeros(1)], tmp_path / "list.pth"))
    (tmp_path / "text.pth").write_text('{"not": "a checkpoint"}')
    with pytest.raises(JudgeError, match=r"not a plain state dict loadable with weights_only=True \(\w"):
        _load(SPEC + str(tmp_path / "text.pth"))
    with pytest.raises(JudgeError, match="do not exist"):
        _load(SPEC + str(tmp_path / "absent.pth"))
    with pytest.raises(JudgeError, match="knows 12 classes"):
        _load(_save(weights, tmp_path / "ok.pth"), num_classes=9)
    # without the prefix a .pth is tried as TorchScript; the error points at the spec
    with pytest.raises(JudgeError, match="espnet-camvid:"):
        load_judge(tmp_path / "ok.pth", 12, 11)


class _Payload:
    """Unpickling this runs code (creates ``marker``); weights_only must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def test_pickled_code_is_refused(weights: dict, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    state = dict(weights)
    state["encoder.level1.conv.weight"] = _Payload(marker)
    with pytest.raises(JudgeError, match="weights_only=True.*Unsupported global: GLOBAL exec"):
        _load(_save(state, tmp_path / "evil.pth"))
    assert not marker.exists()
