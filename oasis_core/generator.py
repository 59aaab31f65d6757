"""The OASIS generator (paper, Table M): SPADE ResNet blocks conditioned on cat(3D noise, one-hot labels)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import ResBlockParts, SPADEResBlock, conv, upsample2x


class Generator(nn.Module):
    """(onehot (B, label_nc, H, W), noise (B, z_dim, H, W)) -> image (B, 3, H, W) in [-1, 1].

    The noise is always passed in: the generator never draws it, so callers control seeds, local
    re-sampling and interpolation. With `noise_3d=False` the noise argument must be None.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.g_widths
        cond = config.cond_channels
        # The first conv sees the conditioning map at 1/upsampling of the output size; no spectral norm.
        self.head = conv(cond, widths[0], padding=config.padding)
        self.blocks = nn.ModuleList(
            SPADEResBlock(
                fin,
                fout,
                cond,
                config.spade_hidden,
                config.norm,
                config.spectral_norm,
                config.block_modulation(i),
                config.padding,
            )
            for i, (fin, fout) in enumerate(itertools.pairwise(widths))
        )
        self.to_rgb = conv(widths[-1], 3, padding=config.padding)

    def parts(self) -> GeneratorParts:
        """What the generator computes with, for code that rewrites it (`oasis_core.fast`)."""
        # The list holds the SPADEResBlocks built above; ModuleList types its items as plain modules.
        blocks = tuple(cast(SPADEResBlock, b).parts() for b in self.blocks)
        return GeneratorParts(self.head, blocks, self.to_rgb)

    def stage_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """Spatial size of each SPADE block's input, smallest first."""
        f = self.config.upsampling
        return [(height * 2**i // f, width * 2**i // f) for i in range(len(self.blocks))]

    def conditioning(self, onehot: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        cfg = self.config
        if onehot.dim() != 4 or onehot.shape[1] != cfg.label_nc:
            raise ValueError(f"expected one-hot labels (B, {cfg.label_nc}, H, W), got {tuple(onehot.shape)}")
        if not cfg.noise_3d:
            if noise is not None:
                raise ValueError("this generator was built without 3D noise; pass noise=None")
            return onehot
        expected = (onehot.shape[0], cfg.z_dim, *onehot.shape[2:])
        if noise is None or tuple(noise.shape) != expected:
            got = None if noise is None else tuple(noise.shape)
            raise ValueError(f"expected noise of shape {expected}, got {got}")
        return torch.cat([noise.to(onehot.dtype), onehot], dim=1)

    def forward(self, onehot: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        h, w = onehot.shape[2:]
        f = self.config.upsampling
        if h % f or w % f:
            raise ValueError(f"label size {h}x{w} is not a multiple of the generator's upsampling {f}")
        cond = self.conditioning(onehot, noise)  # (B, z + N, H, W)
        sizes = self.stage_sizes(h, w)
        x = self.head(_resized(cond, sizes[0]))  # (B, 16ch, H/f, W/f)
        for i, (block, size) in enumerate(zip(self.blocks, sizes)):
            if i > 0:
                x = upsample2x(x)
            # Nearest resizing of the conditioning map is identical for every SPADE of a block: do it once.
            x = block(x, _resized(cond, size))
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


@dataclass(frozen=True)
class GeneratorParts:
    """image = tanh(to_rgb(LeakyReLU_0.2(x))), x from `head` over cond at the first stage's size, then each block
    in turn (nearest x2 upsampling before every block but the first); cond = cat(noise, onehot), noise first."""

    head: nn.Conv2d
    blocks: tuple[ResBlockParts, ...]
    to_rgb: nn.Conv2d


def _resized(cond: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest resize; the last stage is at full size and uses the map itself (no copy of B x (z + N) x H x W)."""
    return cond if tuple(cond.shape[2:]) == tuple(size) else F.interpolate(cond, size=size, mode="nearest")
