"""The OASIS discriminator (paper, Table L): a U-Net segmenter with N+1 outputs.

Its encoder is either the paper's (trainable residual blocks) or a frozen ImageNet network (`d_backbone`), as in
DP-SIMS (Berrada et al., CVPR 2024): pretrained features, a trainable decoder, the same N+1 per-pixel output and
loss. With a backbone, each of its five feature scales first goes through a fixed random 1x1 projection (Projected
GAN's cross-channel mixing, Sauer et al., NeurIPS 2021): the decoder sees every pretrained channel mixed into a
few, so it cannot lean on a handful of them, and the projections cost no weight gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import LITE_SPECS, EfficientNetLite, freeze
from .config import ModelConfig
from .layers import DBlock, init_weights

# The backbone stages whose outputs feed the decoder: strides 2, 4, 8, 16, 32 (one per d_channels entry).
BACKBONE_STAGES = (0, 1, 2, 4, 6)


class Discriminator(nn.Module):
    """image (B, 3, H, W) in [-1, 1] -> logits (B, label_nc + 1, H, W).

    Channel 0 is "fake"; channel k + 1 is label k. H and W must be multiples of 2**len(d_channels). The encoder
    gives one feature map per level k at stride 2**(k + 1) with d_channels[k] channels; the decoder goes back up
    through cat(skip, x) at each level to full resolution.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        sn = config.spectral_norm and config.d_spectral_norm
        enc = config.d_channels  # e.g. 128, 128, 256, 256, 512, 512
        pad = config.padding
        if config.d_backbone:
            spec = LITE_SPECS[config.d_backbone]
            self.backbone = freeze(EfficientNetLite(spec, head=False))
            widths = [spec.widths[s] for s in BACKBONE_STAGES]
            self.proj = nn.ModuleList(freeze(nn.Conv2d(i, o, 1, bias=False)) for i, o in zip(widths, enc))
        else:
            ins = (3, *enc[:-1])
            self.down = nn.ModuleList(
                DBlock(i, o, up=False, first=k == 0, sn=sn, padding=pad) for k, (i, o) in enumerate(zip(ins, enc))
            )
        # Decoder: the deepest block takes the bottleneck alone, the others take cat(skip, x).
        dec_in = (enc[-1], *(2 * c for c in reversed(enc[:-1])))
        dec_out = (*reversed(enc[:-1]), config.d_last_channels)
        # On a backbone the finest features are at half resolution, so the last block stays there and the logits
        # are upsampled: a full-resolution block would only interpolate, at the cost of most of D's compute.
        last = len(dec_in) - 1
        self.up = nn.ModuleList(
            DBlock(i, o, up=True, first=False, sn=sn, padding=pad, resample=not (config.d_backbone and k == last))
            for k, (i, o) in enumerate(zip(dec_in, dec_out))
        )
        self.out = nn.Conv2d(config.d_last_channels, config.label_nc + 1, 1)
        init_weights(self.out)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The skip features, shallowest first: level k is (B, d_channels[k], H / 2**(k+1), W / 2**(k+1))."""
        if not self.config.d_backbone:
            skips, x = [], image
            for block in self.down:
                x = block(x)
                skips.append(x)
            return skips
        # Frozen weights never need gradients; the backbone needs autograd only where its input does (the
        # generator step's fakes). Real photos and the D step's detached fakes pass without a graph.
        with torch.set_grad_enabled(torch.is_grad_enabled() and image.requires_grad):
            feats = self.backbone.features(image, BACKBONE_STAGES)
        return [proj(f) for proj, f in zip(self.proj, feats)]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        f = self.config.d_downsampling
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] % f or image.shape[3] % f:
            raise ValueError(f"expected images (B, 3, H, W) with H, W multiples of {f}, got {tuple(image.shape)}")
        skips = self.encode(image)
        x = self.up[0](skips[-1])
        for block, skip in zip(self.up[1:], reversed(skips[:-1])):
            x = block(torch.cat([skip, x], dim=1))
        logits = self.out(x)
        if self.config.d_backbone:  # (B, N + 1, H / 2, W / 2) -> (B, N + 1, H, W)
            logits = F.interpolate(logits, scale_factor=2.0, mode="bilinear", align_corners=False)
        return logits
