"""oasis-eval: each measure against hand-computed values, the judge, the Inception network and the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from oasis_core import OasisModel
from tests.helpers.data import make_dataset
from tests.helpers.models import realistic_weights, tiny_config
from training.evaluation import inception
from training.evaluation.cli import main as eval_main
from training.evaluation.evaluate import contact_indices
from training.evaluation.inception import FIDInceptionV3, InceptionWeightsError, load_inception, standard_fid_weights
from training.evaluation.judge import JudgeNet, load_judge, train_judge
from training.evaluation.lpips import LPIPS, LPIPSWeightsError, load_lpips
from training.evaluation.metrics import (
    ClassHistograms,
    chi2_distance,
    confusion_matrix,
    emd_1d,
    frechet_distance,
    frequency_groups,
    iou_from_confusion,
    kernel_inception_distance,
    lbp_codes,
    mean_pairwise_ms_ssim,
    ms_ssim,
    ms_ssim_scales,
)

# ---- segmentation ----------------------------------------------------------------------------------


def test_confusion_matrix_and_ious_by_hand() -> None:
    target = np.array([[0, 0, 1, 1], [2, 2, 2, 3]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])  # class 3 (don't care) is wrong but must not count
    cm = confusion_matrix(pred, target, 4, ignore_id=3)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 2], expected[2, 0] = 1, 1, 2, 2, 1
    np.testing.assert_array_equal(cm, expected)
    res = iou_from_confusion(cm, exclude=[3])
    # class 0: TP 1, FP 1 (a 2 predicted 0), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: TP 2, FN 1 -> 2/3
    np.testing.assert_allclose(res.per_class[:3], [1 / 3, 2 / 3, 2 / 3])
    assert np.isnan(res.per_class[3])
    assert res.miou == pytest.approx(5 / 9)
    assert res.pixel_accuracy == pytest.approx(5 / 7)


def test_perfect_segmentation_is_miou_one_and_absent_classes_do_not_count() -> None:
    target = np.random.default_rng(0).integers(0, 3, (2, 8, 8))  # classes 0..2 of 5
    res = iou_from_confusion(confusion_matrix(target, target, 5))
    assert res.miou == 1.0 and res.classes_counted == 3
    assert np.isnan(res.per_class[3:]).all()
    wrong = target.copy()
    wrong[0, 0, 0] = 4  # a class predicted but absent from the truth scores 0 and counts
    res = iou_from_confusion(confusion_matrix(wrong, target, 5))
    assert res.per_class[4] == 0 and res.miou < 0.8
    wrong[0, 0, 0] = 5  # a judge with more classes than the split: an error, not pixels quietly dropped
    with pytest.raises(ValueError, match=r"predicted ids 0..5 are outside 0..4"):
        confusion_matrix(wrong, target, 5)


def test_frequency_groups_sort_by_pixels_and_skip_dont_care() -> None:
    counts = [5, 100, 0, 50, 7, 1000, 3]
    assert frequency_groups(counts, exclude=[5]) == [[1, 3], [4, 0], [6, 2]]
    assert frequency_groups(counts, n_groups=2) == [[5, 1, 3, 4], [0, 6, 2]]


# ---- histograms ------------------------------------------------------------------------------------


def test_emd_and_chi2_by_hand() -> None:
    assert emd_1d([1, 0, 0], [0, 0, 1]) == pytest.approx(2.0)
    assert emd_1d([2, 0, 0], [1, 1, 0], bin_width=4.0) == pytest.approx(2.0)  # half the mass moves one bin
    assert emd_1d([3, 1], [6, 2]) == 0.0
    assert chi2_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert chi2_distance([0.5, 0.5], [1, 0]) == pytest.approx(0.5 * (0.25 / 1.5 + 0.25 / 0.5))
    assert chi2_distance([1, 2, 3], [2, 4, 6]) == 0.0


def test_lbp_codes_by_hand() -> None:
    flat = np.full((3, 3, 3), 100, np.uint8)
    assert (lbp_codes(flat) == 255).all()  # every neighbour >= centre
    img = flat.copy()
    img[1, 1] = 200  # a bright centre: no neighbour reaches it
    img[0, 1] = 250  # ... except the top one (bit 1)
    assert lbp_codes(img)[1, 1] == 0b00000010


def test_class_histograms_same_pixels_zero_and_dont_care_ignored() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 20, 3)).astype(np.uint8)
    labels = np.zeros((16, 20), np.int64)
    labels[8:] = 1
    labels[:, :4] = 2  # don't care
    h = ClassHistograms(3, ignore_id=2)
    h.add(img, labels, generated=False)
    other = img.copy()
    other[labels == 2] = 0  # only don't-care pixels differ
    h.add(other, labels, generated=True)
    d = h.distances()
    assert set(d) == {0, 1}
    # colour is per pixel, so it matches exactly; LBP sees the changed neighbours at the don't-care border
    assert all(v[0] == 0 for v in d.values())
    h2 = ClassHistograms(3, ignore_id=2)
    h2.add(img, labels, False)
    h2.add(img.copy(), labels, True)
    assert all(v == (0.0, 0.0) for v in h2.distances().values())
    darker = (img // 2).astype(np.uint8)
    h3 = ClassHistograms(3, ignore_id=2)
    h3.add(img, labels, False)
    h3.add(darker, labels, True)
    assert all(v[0] > 5 for v in h3.distances().values())
    assert h3.pixel_counts(False)[2] == 0


# ---- MS-SSIM ----------------------------------------------------------------------------------------


def test_ms_ssim_identical_is_one_different_less() -> None:
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, 256, (1, 3, 176, 176))).double()
    val, scales = ms_ssim(a, a)
    assert scales == 5 and val.item() == pytest.approx(1.0)
    noisy = (a + torch.from_numpy(rng.normal(0, 25, a.shape))).clamp(0, 255)
    assert 0 < ms_ssim(a, noisy)[0].item() < 0.99
    assert ms_ssim_scales(161, 500) == 5 and ms_ssim_scales(160, 500) == 4 and ms_ssim_scales(32, 48) == 2


def test_ssim_of_constant_images_by_hand() -> None:
    a = torch.full((1, 1, 11, 11), 100.0)
    b = torch.full((1, 1, 11, 11), 150.0)
    val, scales = ms_ssim(a, b)
    c1 = (0.01 * 255) ** 2
    assert scales == 1
    assert val.item() == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))


def test_mean_pairwise_ms_ssim() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 56, 3)).astype(np.uint8)
    same, _ = mean_pairwise_ms_ssim(np.stack([img, img, img]))
    assert same == pytest.approx(1.0)
    mixed, scales = mean_pairwise_ms_ssim(np.stack([img, img, 255 - img]))
    assert scales == 2 and mixed < 0.7


# ---- FID / KID ---------------------------------------------------------------------------------------


def test_frechet_distance_known_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    s = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(mu, s, mu + 2, s) == pytest.approx(4 * 6)  # same covariance: |mu1 - mu2|^2
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])  # diagonal: sum (sqrt v1 - sqrt v2)^2
    assert frechet_distance(np.zeros(3), np.diag(v1), np.ones(3), np.diag(v2)) == pytest.approx(3 + 1 + 1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # rotating both keeps the distance
    assert frechet_distance(np.zeros(3), q @ np.diag(v1) @ q.T, q @ np.ones(3), q @ np.diag(v2) @ q.T) == pytest.approx(
        5
    )


def test_kid_by_hand_and_on_samples() -> None:
    x = np.array([[0.0], [1.0]])
    y = np.array([[1.0], [2.0]])

    def k(a, b):
        return (a * b + 1) ** 3

    expected = 2 * k(0, 1) / 2 + 2 * k(1, 2) / 2 - 2 * (k(0, 1) + k(0, 2) + k(1, 1) + k(1, 2)) / 4
    assert kernel_inception_distance(x, y)[0] == pytest.approx(expected)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same = kernel_inception_distance(a, b, subsets=10, subset_size=200)[0]
    shifted = kernel_inception_distance(a, b + 1, subsets=10, subset_size=200)[0]
    assert abs(same) < 0.05 < shifted


def test_inception_builds_and_loads_only_fitting_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = FIDInceptionV3().eval()
    assert sum(p.numel() for p in net.parameters()) == 23_850_960  # torchvision Inception3, 1008 classes, no aux
    sd = net.state_dict()
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert sd["fc.weight"].shape == (1008, 2048)
    with torch.no_grad():
        feats = net(torch.rand(2, 3, 40, 56))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    loaded = load_inception(path)
    assert torch.equal(loaded.state_dict()["Mixed_6e.branch_pool.conv.weight"], sd["Mixed_6e.branch_pool.conv.weight"])
    bad = dict(sd)
    bad["fc.weight"] = torch.zeros(1000, 2048)
    bad["fc.bias"] = torch.zeros(1000)
    torch.save(bad, tmp_path / "imagenet.pth")
    with pytest.raises(InceptionWeightsError, match="1008"):
        load_inception(tmp_path / "imagenet.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InceptionWeightsError, match="missing"):
        load_inception(tmp_path / "other.pth")


def test_standard_fid_weights_from_the_torch_hub_cache_or_downloaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    published = tmp_path / "published.pth"
    published.write_bytes(b"the weights")
    monkeypatch.setattr(inception, "FID_WEIGHTS_URL", (tmp_path / "missing.pth").as_uri())
    with pytest.raises(InceptionWeightsError, match="could not download"):
        standard_fid_weights()
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    assert list(cache.iterdir()) == []  # a failed download leaves no partial file to be mistaken for weights
    monkeypatch.setattr(inception, "FID_WEIGHTS_URL", published.as_uri())
    with pytest.raises(InceptionWeightsError, match="--offline"):
        standard_fid_weights(download=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InceptionWeightsError, match="HF_HUB_OFFLINE"):
        standard_fid_weights()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = standard_fid_weights()
    assert path == cache / "pt_inception-2015-12-05-6726825d.pth" and path.read_bytes() == b"the weights"
    published.unlink()
    assert standard_fid_weights(download=False) == path  # found in the cache, offline too


def test_lpips_loads_torchvision_and_lpips_key_names(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = LPIPS()
    for lin in ref.lins:  # LPIPS' linear weights are non-negative
        lin.weight.data.abs_()
    sd = ref.state_dict()
    backbone = {
        f"features.{i}.{p}": sd[f"convs.{k}.{p}"] for k, i in enumerate((0, 3, 6, 8, 10)) for p in ("weight", "bias")
    }
    lins = {f"lin{k}.model.1.weight": sd[f"lins.{k}.weight"] for k in range(5)}
    torch.save(backbone, tmp_path / "alexnet.pth")
    save_file(lins, str(tmp_path / "alex_lin.safetensors"))
    net = load_lpips([tmp_path / "alexnet.pth", tmp_path / "alex_lin.safetensors"])
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert net(a, a).abs().max() < 1e-6
        d = net(a, b)
        assert (d > 0).all() and torch.allclose(d, ref(a, b))
    with pytest.raises(LPIPSWeightsError, match="lin"):
        load_lpips([tmp_path / "alexnet.pth"])


# ---- judge and CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """A tiny dataset (12 pairs, 11 train / 1 val), a tiny exported model and a briefly trained judge."""
    root = tmp_path_factory.mktemp("eval")
    data = make_dataset(root / "data", n=12)
    torch.manual_seed(0)
    cfg = tiny_config(label_nc=4, class_names=("sky", "tree", "road", "water"))
    realistic_weights(OasisModel(cfg)).save_pretrained(root / "model")
    judge_cfg, miou = train_judge(
        "folder", data, root / "judge", size=(32, 48), iters=25, batch_size=4, lr=5e-3, device="cpu",
        widths=(8, 16, 16, 24), progress=False,
    )  # fmt: skip
    return {
        "root": root,
        "data": data,
        "model": root / "model",
        "judge": root / "judge",
        "cfg": judge_cfg,
        "miou": miou,
    }


def test_judge_trains_saves_and_loads(workspace: dict) -> None:
    t = workspace["cfg"].training
    assert t["iterations"] == 25 and t["final_loss"] < 0.7 * t["first_loss"]
    assert 0 <= workspace["miou"] <= 1 and t["val_miou"] == pytest.approx(workspace["miou"], abs=1e-4)
    assert (workspace["judge"] / "config.json").is_file() and (workspace["judge"] / "model.safetensors").is_file()
    assert sum(workspace["cfg"].class_pixel_share) == pytest.approx(1.0)
    judge, warnings = load_judge(workspace["judge"], 4, None, ("sky", "tree", "road", "water"))
    assert not warnings and judge.size == (32, 48) and isinstance(judge.net, JudgeNet)
    images = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3)).astype(np.uint8)
    pred = judge.predict(images)
    assert pred.shape == (2, 40, 56) and pred.max() < 4
    with pytest.raises(Exception, match="5"):
        load_judge(workspace["judge"], 5, None)


def test_contact_sheet_layouts_spread_over_the_split() -> None:
    assert contact_indices(101, 8) == {0, 14, 29, 43, 57, 71, 86, 100}
    assert contact_indices(3, 8) == {0, 1, 2} and contact_indices(5, 1) == {0} and contact_indices(0, 8) == set()


def _run(workspace: dict, out: Path, *extra: str) -> dict:
    argv = [str(workspace["model"]), "--dataset", "folder", "--dataroot", str(workspace["data"]), "--split", "train"]
    argv += ["--limit", "3", "--variations", "2", "--device", "cpu", "--quiet", "--offline", "--out", str(out), *extra]
    assert eval_main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated in new PyTorch releases
def test_cli_end_to_end_with_judge_and_no_inception(workspace: dict, tmp_path: Path) -> None:
    m = _run(workspace, tmp_path / "out", "--judge", str(workspace["judge"]))
    for name in ("metrics.json", "report.md", "contact_sheet.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert m["layouts"] == 3 and m["variations"] == 2
    assert m["fid"] is None and "--inception-weights" in m["fid_reason"]
    assert m["lpips"] is None and "--lpips-weights" in m["lpips_reason"]
    mi = m["miou"]
    assert 0 <= mi["generated"] <= 1 and 0 <= mi["real"] <= 1
    assert np.sum(mi["confusion_real"]) == 3 * 32 * 48 and np.sum(mi["confusion_generated"]) == 2 * 3 * 32 * 48
    assert [c for b in mi["frequency_bands"] for c in b["classes"]] == sorted(
        mi["per_class"], key=lambda c: -mi["per_class"][c]["pixel_share"]
    )
    assert 0 < m["diversity"]["ms_ssim"] < 1 and m["diversity"]["scales"] == 2
    assert m["color_texture"]["classes"] >= 3 and m["color_texture"]["color_emd"] > 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "judge scores mIoU" in report and "on the real train images" in report and "FID / KID" in report
    from PIL import Image

    with Image.open(tmp_path / "out" / "contact_sheet.png") as im:
        assert im.size[1] > 3 * 32 and im.size[0] > 5 * 48  # 3 rows of layout | real | 2 variations | re-roll
    assert m["contact_sheet_columns"][-1].endswith("re-rolled inside the outline")
    r = m["local_reroll"]
    assert r["layouts"] == 3 and r["change_inside"] > 0 and "Local re-roll" in report

    # same seeds -> same numbers; a TorchScript judge equal to the folder judge gives the same mIoU
    judge, _ = load_judge(workspace["judge"], 4, None)

    class Wrapped(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x * 2 - 1)

    scripted = torch.jit.trace(Wrapped(judge.net).eval(), torch.rand(1, 3, 32, 48))
    scripted.save(str(tmp_path / "judge.pt"))
    m2 = _run(workspace, tmp_path / "out2", "--judge", str(tmp_path / "judge.pt"))
    assert m2["miou"]["judge"]["kind"] == "torchscript"
    assert m2["miou"]["confusion_real"] == mi["confusion_real"]
    assert m2["miou"]["confusion_generated"] == mi["confusion_generated"]
    assert m2["diversity"] == m["diversity"]


def test_cli_fid_with_weights_and_unusable_weights(workspace: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in FIDInceptionV3().state_dict().items()}, str(path))
    sd = LPIPS().state_dict()
    lp = {f"features.{i}.{p}": sd[f"convs.{k}.{p}"] for k, i in enumerate((0, 3, 6, 8, 10)) for p in ("weight", "bias")}
    lp.update({f"lin{k}.model.1.weight": sd[f"lins.{k}.weight"].abs() for k in range(5)})
    save_file(lp, str(tmp_path / "lpips.safetensors"))
    m = _run(
        workspace,
        tmp_path / "out",
        "--inception-weights",
        str(path),
        "--lpips-weights",
        str(tmp_path / "lpips.safetensors"),
    )
    assert m["lpips"] is not None and m["lpips"] > 0
    assert m["fid"] is not None and m["fid"] >= 0 and m["kid"]["mean"] is not None and m["fid_images"] == 3
    assert m["miou"] is None and "train-judge" in m["miou_reason"]
    (tmp_path / "broken.pth").write_bytes(b"not weights")
    m = _run(workspace, tmp_path / "out2", "--inception-weights", str(tmp_path / "broken.pth"))
    assert m["fid"] is None and m["kid"] is None and "cannot read" in m["fid_reason"]
    assert m["diversity"] is not None and m["color_texture"] is not None
    assert "not computed" in (tmp_path / "out2" / "report.md").read_text()


def test_cli_rejects_a_model_for_other_classes(workspace: dict, tmp_path: Path, capsys) -> None:
    OasisModel(tiny_config()).save_pretrained(tmp_path / "five")  # 5 classes, the dataset has 4
    argv = [
        str(tmp_path / "five"),
        "--dataset",
        "folder",
        "--dataroot",
        str(workspace["data"]),
        "--out",
        str(tmp_path / "o"),
    ]
    assert eval_main([*argv, "--quiet", "--device", "cpu"]) == 2
    assert "5 label channels" in capsys.readouterr().err


def test_local_reroll_measures_inside_and_far_outside() -> None:
    from training.evaluation.evaluate import _change_inside_outside, outline

    before = np.zeros((40, 60, 3), np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[10:20, 10:20] = True
    after = before.copy()
    after[mask] = 90
    after[20:23, 10:20] = 30  # spill just past the border: within the margin, not counted outside
    inside, outside = _change_inside_outside(before, after, mask, margin=8)
    assert inside == 90 and outside == 0
    after[39, 59] = 255
    assert _change_inside_outside(before, after, mask, margin=8)[1] == pytest.approx(255 / (40 * 60 - 26 * 26))
    drawn = outline(before, mask)
    assert (drawn[9, 15] == (255, 0, 255)).all() and (drawn[15, 15] == 0).all()


def test_cli_refuses_no_contact_rows_before_evaluating(tmp_path: Path, capsys) -> None:
    # Zero rows used to fail after the whole evaluation, with no contact sheet.
    with pytest.raises(SystemExit) as stop:
        eval_main(
            [
                str(tmp_path),
                "--dataset",
                "folder",
                "--dataroot",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--contact-rows",
                "0",
            ]
        )
    assert stop.value.code == 2 and "must be >= 1, got 0" in capsys.readouterr().err


# ---- measures as objects: the protocol a new measure implements ------------------------------------------


def test_not_computed_is_null_with_its_reason_and_a_summary_row() -> None:
    from training.evaluation.protocol import NotComputed, SummaryRow

    fid = NotComputed(("fid", "kid"), "FID / KID ↓", "no weights", short_name="FID")
    assert fid.to_json() == {"fid": None, "kid": None, "fid_reason": "no weights"}
    assert [r.markdown() for r in fid.summary(None)] == ["| FID / KID ↓ | not computed | no weights |"]
    assert fid.headline() == "FID n/a"
    quiet = NotComputed(("color_texture",), "colour", None)
    assert quiet.to_json() == {"color_texture": None} and quiet.summary(None) == [] and quiet.headline() is None
    assert SummaryRow("KID", "1 ± 2").markdown() == "| KID | 1 ± 2 | |"


def _batch(index: int, labels: np.ndarray, real: np.ndarray, generated: list[np.ndarray]):
    from training.evaluation.protocol import Batch

    return Batch(index, labels, real, np.stack(generated), None)


def test_judge_miou_measure_by_hand() -> None:
    from types import SimpleNamespace

    from training.evaluation.measures import JudgeMIoU

    class ColourJudge:  # reads the class off the red channel: a perfect judge of images painted by class
        config = None

        def predict(self, images: np.ndarray) -> np.ndarray:
            return images[..., 0].astype(np.int64) // 100

        def describe(self) -> dict:
            return {"kind": "test", "source": "-"}

    labels = np.zeros((4, 4), np.int64)
    labels[2:] = 1
    painted = np.repeat((labels * 100).astype(np.uint8)[..., None], 3, -1)
    info = SimpleNamespace(class_names=("sky", "sea"), label_nc=2, dont_care_id=None)
    m = JudgeMIoU(ColourJudge(), info, (4, 4))
    m.update(_batch(0, labels, painted, [painted, np.zeros_like(painted)]))  # variation 2: all "sky"
    r = m.result()
    # generated: sky TP 16, FP 8 -> 2/3; sea TP 8, FN 8 -> 1/2; real photos are judged perfectly
    assert (r.generated, r.real, r.ratio_generated_to_real) == (0.5833, 1.0, 0.5833)
    assert (r.pixel_accuracy_generated, r.pixel_accuracy_real) == (0.75, 1.0)
    assert r.per_class["sky"].iou_generated == 0.6667 and r.per_class["sea"].pixel_share == 0.5
    assert [(b.band, b.classes, b.miou_generated) for b in r.frequency_bands] == [
        ("band 1", ["sky"], 0.6667),
        ("band 2", ["sea"], 0.5),
    ]
    assert r.to_json()["miou"]["confusion_generated"] == [[16, 0], [8, 8]]
    assert r.frequency_source == "pixel shares of the evaluated split's labels"


def test_diversity_and_colour_measures_on_batches() -> None:
    from types import SimpleNamespace

    from training.evaluation.measures import ColorTexture, MSSSIMDiversity

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 56, 3)).astype(np.uint8)
    labels = np.zeros((40, 56), np.int64)
    div = MSSSIMDiversity((40, 56))
    colour = ColorTexture(SimpleNamespace(class_names=("a",), label_nc=1, dont_care_id=None))
    for m in (div, colour):
        m.update(_batch(0, labels, img, [img, img]))
        m.update(_batch(1, labels, img, [img, 255 - img]))
    d = div.result()
    inverted, _ = mean_pairwise_ms_ssim(np.stack([img, 255 - img]))
    assert d.layouts == 2 and d.scales == 2 and d.ms_ssim == round((1 + inverted) / 2, 4)
    assert "only 2 of the 5 standard scales fit" in d.note
    c = colour.result()
    assert list(c.per_class) == ["a"] and c.color_emd > 0  # the inverted variation moves the colours
    single = MSSSIMDiversity((40, 56))
    single.update(_batch(0, labels, img, [img]))
    none = single.result().to_json()
    assert none["diversity"] is None and "--variations" in none["diversity_reason"]


def test_a_new_measure_plugs_in_as_a_factory(workspace: dict, tmp_path: Path) -> None:
    """The extension point: a measure built from the context, fed every layout, its typed result in metrics.json
    and in the report, reading another split through the context."""
    from dataclasses import dataclass

    from training.evaluation.evaluate import EvalOptions, evaluate
    from training.evaluation.measures import MSSSIMDiversity
    from training.evaluation.protocol import Batch, EvalContext, MeasureResult, RunInfo, SummaryRow
    from training.evaluation.report import markdown_report, write_report

    @dataclass(frozen=True)
    class Seen(MeasureResult):
        layouts: int
        images: int

        def to_json(self) -> dict:
            return {"seen": {"layouts": self.layouts, "images": self.images}}

        def summary(self, run: RunInfo) -> list[SummaryRow]:
            return [SummaryRow("layouts seen", str(self.layouts), f"of {run.layouts}")]

        def sections(self, run: RunInfo) -> list[str]:
            return ["## Seen", "", f"{self.images} generated images.", ""]

        def notes(self) -> list[str]:
            return ["seen: a caveat"]

    class Recorder:
        def __init__(self, ctx: EvalContext) -> None:
            self.other_split = list(ctx.read_split("train", limit=2))
            self.batches: list[Batch] = []

        def update(self, batch: Batch) -> None:
            self.batches.append(batch)

        def result(self) -> Seen:
            return Seen(len(self.batches), sum(len(b.generated) for b in self.batches))

    recorders: list[Recorder] = []

    def create(ctx: EvalContext) -> Recorder:
        recorders.append(Recorder(ctx))
        return recorders[-1]

    opts = EvalOptions(
        model=str(workspace["model"]), dataset="folder", dataroot=str(workspace["data"]), split="train",
        variations=2, limit=3, device="cpu", progress=False,
    )  # fmt: skip
    ev = evaluate(opts, log=lambda s: None, measures=(create, MSSSIMDiversity.create))
    (rec,) = recorders
    assert [b.index for b in rec.batches] == [0, 1, 2]
    b = rec.batches[0]
    assert b.labels.shape == (32, 48) and b.real.shape == (32, 48, 3) and b.generated.shape == (2, 32, 48, 3)
    assert b.noise is not None and b.noise.shape[0] == 2
    # the other split is read as the evaluated layouts are (here the same split)
    for (labels, photo), seen in zip(rec.other_split, rec.batches[:2]):
        np.testing.assert_array_equal(labels, seen.labels)
        np.testing.assert_array_equal(photo, seen.real)
    m = ev.to_json()
    assert m["seen"] == {"layouts": 3, "images": 6} and "seen: a caveat" in m["notes"]
    assert list(m).index("seen") < list(m).index("diversity") and "miou" not in m and "fid" not in m
    report = markdown_report(ev)
    assert report.index("| layouts seen | 3 | of 3 |") < report.index("| MS-SSIM ↓ (diversity) |")
    assert "## Seen\n\n6 generated images." in report and "- seen: a caveat" in report
    paths = write_report(tmp_path / "out", ev)
    assert json.loads(paths[0].read_text())["seen"]["images"] == 6
