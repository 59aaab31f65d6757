"""The OASIS objective (paper Section 3, Appendix C.3): class-balanced N+1 cross-entropy and LabelMix."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_weights(labels: torch.Tensor, label_nc: int, dont_care_id: int | None, balance: bool = True) -> torch.Tensor:
    """Per-pixel weights (B, H, W): w_c = B*H*W / (count_c * classes present), don't-care weight 0.

    Rare classes get large weights so that D must get them right: the paper's remedy for the class
    imbalance of semantic maps. `balance=False` (ablation) keeps weight 1 for every counted pixel.
    """
    counts = torch.bincount(labels.flatten(), minlength=label_nc).to(torch.float32)
    if dont_care_id is not None:
        counts[dont_care_id] = 0
    present = (counts > 0).sum().clamp_min(1)
    if balance:
        coeff = torch.where(counts > 0, labels.numel() / (counts * present), torch.zeros_like(counts))
    else:
        coeff = (counts > 0).to(torch.float32)
    if dont_care_id is not None:
        coeff[dont_care_id] = 0
    return coeff[labels]


def real_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted CE towards each pixel's class: channel k + 1 is class k (channel 0 is "fake")."""
    ce = F.cross_entropy(logits.float(), labels + 1, reduction="none")
    return (ce * weights).mean()


def fake_loss(logits: torch.Tensor) -> torch.Tensor:
    """Plain CE towards the "fake" channel 0 at every pixel."""
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


def labelmix_mask(labels: torch.Tensor, label_nc: int, generator: torch.Generator) -> torch.Tensor:
    """(B, H, W) -> (B, 1, H, W) float mask: each class of each sample goes to real (1) or fake (0) by a coin flip.

    The flip is drawn per sample and class (the reference shares one flip per class across the batch).
    """
    flips = torch.randint(0, 2, (labels.shape[0], label_nc), generator=generator).to(labels.device)
    return torch.gather(flips, 1, labels.flatten(1)).view_as(labels)[:, None].to(torch.float32)


def cutmix_mask(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """CutMix ablation: one random rectangle per sample, independent of the label map."""
    b, h, w = labels.shape
    mask = torch.zeros(b, 1, h, w)
    for i in range(b):
        lam = torch.rand((), generator=generator).item()
        ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        y = int(torch.randint(0, h - ch + 1, (), generator=generator))
        x = int(torch.randint(0, w - cw + 1, (), generator=generator))
        mask[i, :, y : y + ch, x : x + cw] = 1
    return mask.to(labels.device)


def labelmix_loss(mask: torch.Tensor, d_mixed: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's logits on the mixed image must equal the same mix of its logits on the two sources."""
    target = mask * d_real.float() + (1 - mask) * d_fake.float()
    return F.mse_loss(d_mixed.float(), target)
