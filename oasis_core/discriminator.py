"""The OASIS discriminator (paper, Table L): a U-Net segmenter with N+1 outputs."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .layers import DBlock, init_weights


class Discriminator(nn.Module):
    """image (B, 3, H, W) in [-1, 1] -> logits (B, label_nc + 1, H, W).

    Channel 0 is "fake"; channel k + 1 is label k. H and W must be multiples of 2**len(d_channels).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        sn = config.spectral_norm and config.d_spectral_norm
        enc = config.d_channels  # e.g. 128, 128, 256, 256, 512, 512
        ins = (3, *enc[:-1])
        pad = config.padding
        self.down = nn.ModuleList(
            DBlock(i, o, up=False, first=k == 0, sn=sn, padding=pad) for k, (i, o) in enumerate(zip(ins, enc))
        )
        # Decoder: the deepest block takes the bottleneck alone, the others take cat(skip, x).
        dec_in = (enc[-1], *(2 * c for c in reversed(enc[:-1])))
        dec_out = (*reversed(enc[:-1]), config.d_last_channels)
        self.up = nn.ModuleList(DBlock(i, o, up=True, first=False, sn=sn, padding=pad) for i, o in zip(dec_in, dec_out))
        self.out = nn.Conv2d(config.d_last_channels, config.label_nc + 1, 1)
        init_weights(self.out)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        f = self.config.d_downsampling
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] % f or image.shape[3] % f:
            raise ValueError(f"expected images (B, 3, H, W) with H, W multiples of {f}, got {tuple(image.shape)}")
        skips = []
        x = image
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](x)
        for block, skip in zip(self.up[1:], reversed(skips[:-1])):
            x = block(torch.cat([skip, x], dim=1))
        return self.out(x)
