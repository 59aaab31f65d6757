"""The importer for the authors' checkpoints, on state dicts laid out with the official key names."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from oasis_core import ModelFileError, Synthesizer, import_official
from oasis_core.config import ModelConfig
from oasis_core.labels import random_layout

from .helpers.models import tiny_config


def old_sn(cout: int, cin: int, k: int, bias: bool, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Tensors of a conv wrapped in the legacy torch.nn.utils.spectral_norm, as the reference saves them."""
    conv = nn.Conv2d(cin, cout, k, bias=bias)
    conv.weight.data.normal_(0, 1, generator=gen)
    conv = torch.nn.utils.spectral_norm(conv)
    conv(torch.zeros(1, cin, k, k))  # one power iteration so u, v are meaningful
    return {k: v.detach().clone() for k, v in conv.state_dict().items()}


def plain(cout: int, cin: int, k: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {"weight": torch.randn(cout, cin, k, k, generator=gen) * 0.1, "bias": torch.randn(cout, generator=gen) * 0.1}


def official_generator(cfg: ModelConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Key layout of `*_G.pth` / `*_EMA.pth` from the reference description."""
    sd: dict[str, torch.Tensor] = {}

    def put(prefix: str, tensors: dict[str, torch.Tensor]) -> None:
        sd.update({f"{prefix}.{k}": v for k, v in tensors.items()})

    cond = cfg.z_dim + cfg.label_nc
    widths = cfg.g_widths
    put("fc", plain(widths[0], cond, 3, gen))
    for i, (fin, fout) in enumerate(zip(widths[:-1], widths[1:])):
        fmid = min(fin, fout)
        put(f"body.{i}.conv_0", old_sn(fmid, fin, 3, True, gen))
        put(f"body.{i}.conv_1", old_sn(fout, fmid, 3, True, gen))
        norms = {"norm_0": fin, "norm_1": fmid}
        if fin != fout:
            put(f"body.{i}.conv_s", old_sn(fout, fin, 1, False, gen))
            norms["norm_s"] = fin
        for name, c in norms.items():
            sd[f"body.{i}.{name}.first_norm.running_mean"] = torch.randn(c, generator=gen) * 0.1
            sd[f"body.{i}.{name}.first_norm.running_var"] = torch.rand(c, generator=gen) + 0.5
            sd[f"body.{i}.{name}.first_norm.num_batches_tracked"] = torch.tensor(1000)
            put(f"body.{i}.{name}.mlp_shared.0", plain(cfg.spade_hidden, cond, 3, gen))
            put(f"body.{i}.{name}.mlp_gamma", plain(c, cfg.spade_hidden, 3, gen))
            put(f"body.{i}.{name}.mlp_beta", plain(c, cfg.spade_hidden, 3, gen))
    put("conv_img", plain(3, widths[-1], 3, gen))
    return sd


def official_discriminator(cfg: ModelConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}
    enc = cfg.d_channels
    ins = (3, *enc[:-1])
    dec_in = (enc[-1], *(2 * c for c in reversed(enc[:-1])))
    dec_out = (*reversed(enc[:-1]), cfg.d_last_channels)
    for side, pairs in (("body_down", zip(ins, enc)), ("body_up", zip(dec_in, dec_out))):
        for i, (fin, fout) in enumerate(pairs):
            # Sequential positions: first down block (conv), down (act, conv), up (act, upsample, conv).
            c1 = 0 if side == "body_down" and i == 0 else (1 if side == "body_down" else 2)
            for k, v in old_sn(fout, fin, 3, True, gen).items():
                sd[f"{side}.{i}.conv1.{c1}.{k}"] = v
            for k, v in old_sn(fout, fout, 3, True, gen).items():
                sd[f"{side}.{i}.conv2.1.{k}"] = v
            if fin != fout:
                for k, v in old_sn(fout, fin, 1, True, gen).items():
                    sd[f"{side}.{i}.conv_s.{k}"] = v
    for k, v in plain(cfg.label_nc + 1, cfg.d_last_channels, 1, gen).items():
        sd[f"layer_up_last.{k}"] = v
    return sd


@pytest.fixture
def checkpoint(tmp_path: Path) -> tuple[ModelConfig, Path, Path, dict, dict]:
    cfg = tiny_config(norm="sync-batch")
    gen = torch.Generator().manual_seed(0)
    g_sd, d_sd = official_generator(cfg, gen), official_discriminator(cfg, gen)
    torch.save({f"module.{k}" if k.startswith("fc") else k: v for k, v in g_sd.items()}, tmp_path / "best_EMA.pth")
    torch.save(d_sd, tmp_path / "best_D.pth")
    return cfg, tmp_path / "best_EMA.pth", tmp_path / "best_D.pth", g_sd, d_sd


def test_import_maps_every_tensor(checkpoint) -> None:
    cfg, g_path, d_path, g_sd, d_sd = checkpoint
    model = import_official(g_path, cfg, discriminator=d_path)
    sd = model.state_dict()
    assert torch.equal(sd["generator.head.weight"], g_sd["fc.weight"])
    assert torch.equal(sd["generator.blocks.2.norm_s.gamma.weight"], g_sd["body.2.norm_s.mlp_gamma.weight"])
    assert torch.equal(sd["generator.blocks.1.norm_1.norm.running_var"], g_sd["body.1.norm_1.first_norm.running_var"])
    assert torch.equal(sd["discriminator.up.1.conv1.parametrizations.weight.0._u"], d_sd["body_up.1.conv1.2.weight_u"])
    assert torch.equal(sd["discriminator.out.bias"], d_sd["layer_up_last.bias"])
    synth = Synthesizer(model, device="cpu")
    assert synth.generate(random_layout(32, 48, [0, 1], seed=0), seed=0).std() > 0
    assert synth.segment(np.zeros((32, 48, 3), np.uint8)).shape == (32, 48)


def test_spectral_norm_matches_the_legacy_implementation(checkpoint) -> None:
    cfg, g_path, _, g_sd, _ = checkpoint
    model = import_official(g_path, cfg).eval()
    legacy = torch.nn.utils.spectral_norm(nn.Conv2d(*g_sd["body.0.conv_0.weight_orig"].shape[:2][::-1], 3, padding=1))
    legacy.load_state_dict({k.split("conv_0.")[1]: v for k, v in g_sd.items() if k.startswith("body.0.conv_0.")})
    legacy.eval()
    x = torch.randn(1, legacy.in_channels, 5, 5)
    torch.testing.assert_close(model.generator.blocks[0].conv_0(x), legacy(x))


def test_import_without_spectral_norm_folds_it(checkpoint) -> None:
    cfg, g_path, _, _, _ = checkpoint
    with_sn = import_official(g_path, cfg)
    without = import_official(g_path, cfg.replace(spectral_norm=False))
    lab = torch.nn.functional.one_hot(torch.randint(0, 5, (1, 32, 48)), 5).permute(0, 3, 1, 2).float()
    z = torch.randn(1, 8, 1, 1).expand(1, 8, 32, 48)
    torch.testing.assert_close(without.generator(lab, z), with_sn.generator(lab, z))


def test_import_with_spectral_norm_in_g_only_folds_d(checkpoint) -> None:
    cfg, g_path, d_path, _, _ = checkpoint
    both = import_official(g_path, cfg, discriminator=d_path)
    g_only = import_official(g_path, cfg.replace(d_spectral_norm=False), discriminator=d_path)
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    torch.testing.assert_close(g_only.discriminator(x), both.discriminator(x))
    with pytest.raises(ModelFileError, match="no 'layer_up_last.weight': not an OASIS discriminator"):
        import_official(g_path, cfg, discriminator=g_path)  # the generator's file given as the discriminator


def test_checkpoint_for_another_class_count(checkpoint) -> None:
    cfg, g_path, d_path, _, _ = checkpoint
    with pytest.raises(ModelFileError, match=r"takes 13 channels but the config expects 15 \(7 label \+ 8 noise"):
        import_official(g_path, cfg.replace(label_nc=7, class_names=(), class_colors=()))
    with pytest.raises(ModelFileError, match="another class count"):
        import_official(g_path, "ade20k")


class _Payload:
    def __reduce__(self):
        return (Path("/tmp/oasis-official-pwned").touch, ())


def test_code_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    torch.save({"fc.weight": torch.zeros(1), "evil": _Payload()}, tmp_path / "x_G.pth")
    with pytest.raises(ModelFileError, match="refused"):
        import_official(tmp_path / "x_G.pth", tiny_config())
    assert not Path("/tmp/oasis-official-pwned").exists()
    (tmp_path / "y_G.pth").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="not a readable PyTorch checkpoint"):
        import_official(tmp_path / "y_G.pth", tiny_config())
