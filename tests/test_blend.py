"""`oasis-train blend`: network interpolation of two model folders' generators."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch.nn.utils import parametrize

from oasis_core import OasisModel, load_model, noise
from oasis_core.labels import random_layout
from oasis_core.layers import fold_spectral_norm
from training.cli import main as train_main
from training.errors import TrainingError
from training.export import blend

from .helpers.models import assert_same_function, realistic_weights, tiny_config


def _folder(path: Path, seed: int, **overrides) -> Path:
    model = OasisModel(tiny_config(**overrides))
    realistic_weights(model, seed=seed)
    model.save_pretrained(path)
    return path


def _images(model: OasisModel | Path) -> torch.Tensor:
    g = (model if isinstance(model, OasisModel) else load_model(model)).generator.eval()
    cfg = g.config
    labels = torch.from_numpy(random_layout(cfg.height, cfg.width, list(range(cfg.label_nc)), seed=7))
    onehot = F.one_hot(labels[None].repeat(2, 1, 1), cfg.label_nc).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        return g(onehot, noise.sample([3, 4], cfg.z_dim, cfg.height, cfg.width))


def _effective(folder: Path) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of the folder's generator as inference uses it (spectral norm folded in)."""
    g = load_model(folder, with_discriminator=False).generator.eval()
    fold_spectral_norm(g)
    return g.state_dict()


def test_the_ends_reproduce_each_generator_and_the_middle_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", seed=1)
    b = _folder(tmp_path / "b", seed=2, name="b-model", d_channels=(8, 16, 16))  # D may differ: B's is kept
    ma, mb = load_model(a), load_model(b)
    assert not torch.allclose(_images(ma), _images(mb), atol=0.05)
    for alpha, same_as in ((0.0, ma), (1.0, mb)):
        blend(a, b, alpha, tmp_path / f"at{alpha}")
        assert_same_function(_images(tmp_path / f"at{alpha}"), _images(same_as))

    mid = blend(a, b, 0.25, tmp_path / "mid")
    loaded = load_model(tmp_path / "mid")
    wa, wb = _effective(a), _effective(b)
    for k, v in _effective(tmp_path / "mid").items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.75 * wa[k] + 0.25 * wb[k], rtol=1e-4, atol=1e-5, msg=k)
    assert loaded.config == mb.config and mid.config.name == "b-model"
    assert loaded.discriminator is not None and mb.discriminator is not None
    for k, v in mb.discriminator.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[k], v), k
    # Training from the blend (the parametrisation in train mode) renormalises to spectral norm 1, as any SN layer.
    conv = next(m for m in loaded.generator.train().modules() if parametrize.is_parametrized(m, "weight"))
    for _ in range(30):
        w = conv.weight
    assert torch.linalg.matrix_norm(w.detach().flatten(1), ord=2) == pytest.approx(1.0, rel=1e-3)


def test_refuses_generators_of_another_shape_an_alpha_outside_0_1_and_a_folder_with_files(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", seed=1)
    with pytest.raises(TrainingError, match=r"different generators \(label_nc, class_names, class_colors differ\)"):
        blend(a, _folder(tmp_path / "six", seed=2, label_nc=6, class_names=()), 0.5, tmp_path / "x")
    with pytest.raises(TrainingError, match=r"channels_g differ"):
        blend(a, _folder(tmp_path / "wide", seed=2, channels_g=8), 0.5, tmp_path / "x")
    with pytest.raises(TrainingError, match=r"--alpha must be in 0..1"):
        blend(a, a, 1.5, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(TrainingError, match="already holds files"):
        blend(a, a, 0.5, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    assert not (tmp_path / "x").exists()


def test_cli(tmp_path: Path, capsys) -> None:
    a, b = _folder(tmp_path / "a", seed=1), _folder(tmp_path / "b", seed=2)
    out = tmp_path / "out"
    assert train_main(["blend", str(a), str(b), "--alpha", "0.7", "--out", str(out), "--half", "--name", "mix"]) == 0
    assert f"at alpha 0.7 into {out} (mix)" in capsys.readouterr().out
    assert load_model(out).config.name == "mix" and "# mix" in (out / "README.md").read_text()
    with safe_open(out / "model.safetensors", "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys() if not k.endswith("num_batches_tracked")} == {"F16"}
    blend(a, b, 0.7, tmp_path / "fp32")
    assert (_images(out) - _images(tmp_path / "fp32")).abs().max() < 0.02  # fp16 rounding only
    assert train_main(["blend", str(a), str(tmp_path / "nowhere"), "--alpha", "0.5", "--out", str(tmp_path / "y")]) == 2
    assert "oasis-train blend:" in capsys.readouterr().err and not (tmp_path / "y").exists()
