"""Tiny models (a few thousand parameters) that run in milliseconds on a CPU, and how to compare their outputs."""

import torch
import torch.nn.functional as F
from torch import nn

from oasis_core import Generator, ModelConfig, noise
from oasis_core.labels import random_layout


def tiny_config(**overrides) -> ModelConfig:
    base = dict(
        label_nc=5,
        height=32,
        width=48,
        z_dim=8,
        channels_g=4,
        g_mults=(4, 4, 2, 1),  # upsampling 4: stages 8x12, 16x24, 32x48
        spade_hidden=8,
        d_channels=(8, 8, 16),
        d_last_channels=8,
        class_names=("sky", "tree", "grass", "water", "rock"),
        name="tiny",
    )
    base.update(overrides)
    return ModelConfig(**base)


def realistic_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Unit-scale weights and batch-norm statistics of a real batch, in eval mode.

    The paper's init (xavier, gain 0.02) gives images of ~0, which would hide any difference.
    """
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            # Modulations kept small so that the image stays out of tanh's saturation.
            gain = 0.3 if name.endswith(("gamma", "beta", "to_rgb")) else 1.0
            w.data.normal_(0, 1, generator=g).mul_(gain / w[0].numel() ** 0.5)
            if m.bias is not None:
                m.bias.data.normal_(0, 0.05, generator=g)
    generators = [m for m in model.modules() if isinstance(m, Generator)]
    for gen in generators:
        cfg = gen.config
        for bn in gen.modules():
            if isinstance(bn, nn.modules.batchnorm._BatchNorm):
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average: one batch gives exactly its statistics
        labels = torch.from_numpy(random_layout(cfg.height, cfg.width, list(range(cfg.label_nc)), seed=seed))
        onehot = F.one_hot(labels[None].repeat(2, 1, 1), cfg.label_nc).permute(0, 3, 1, 2).float()
        z = noise.sample([seed, seed + 1], cfg.z_dim, cfg.height, cfg.width) if cfg.noise_3d else None
        gen.train()
        with torch.no_grad():
            gen(onehot, z)
    return model.eval()


def assert_same_function(out: torch.Tensor, ref: torch.Tensor) -> None:
    """Equal up to float reassociation. He-initialised nets amplify rounding at ReLU kinks, so a rare
    pixel may differ by ~1e-2: bound the mean and the 99.9th percentile tightly and the maximum loosely."""
    diff = (out - ref).abs().flatten()
    assert diff.mean() < 1e-4, diff.mean()
    assert diff.quantile(0.999) < 1e-3, diff.quantile(0.999)
    assert diff.max() < 0.05, diff.max()
