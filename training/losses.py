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


def fake_loss(logits: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Plain CE towards the "fake" channel 0 at every (valid) pixel."""
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    if valid is None:
        return F.cross_entropy(logits.float(), target)
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    return (ce * valid).sum() / valid.sum().clamp_min(1)


def mode_seeking_loss(
    fake_a: torch.Tensor,
    fake_b: torch.Tensor,
    noise_a: torch.Tensor,
    noise_b: torch.Tensor,
    target: float = 0.0,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mode seeking: images of one layout from two noises should differ as their noises do. Per pair, ratio =
    mean |image difference| / mean |noise difference|. Returns the loss and the mean ratio (detached).

    target 0: MSGAN (Mao et al., CVPR 2019), the mean of 1 / (ratio + eps); its gradient grows without bound as
    a pair collapses and never stops pushing. target > 0: the bounded form (as DSGAN's min(ratio, tau)), the mean
    of max(0, target - ratio): a constant push on pairs more alike than the target, none beyond it, so variety
    can be held at a level (e.g. the warm-start model's) without overshooting. Images (B, 3, H, W), noise
    (B, z, H, W).
    """
    d_img = (fake_a.float() - fake_b.float()).abs().flatten(1).mean(1)
    d_z = (noise_a.float() - noise_b.float()).abs().flatten(1).mean(1)
    ratio = d_img / d_z.clamp_min(eps)
    loss = (target - ratio).clamp_min(0) if target > 0 else 1 / (ratio + eps)
    return loss.mean(), ratio.detach().mean()


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


def labelmix_loss(
    mask: torch.Tensor,
    d_mixed: torch.Tensor,
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """D's logits on the mixed image must equal the same mix of its logits on the two sources."""
    target = mask * d_real.float() + (1 - mask) * d_fake.float()
    if valid is None:
        return F.mse_loss(d_mixed.float(), target)
    err = (d_mixed.float() - target).square() * valid[:, None]
    return err.sum() / (valid.sum().clamp_min(1) * d_mixed.shape[1])


def discriminator_losses(
    out: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor | None,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D's three terms (fake, real, LabelMix) from its logits on the batch [fake; real; mixed] (3B, N + 1, H, W).

    One function, so that compiled it also yields the logits' gradient in one pass: eagerly, each slice's
    backward fills a zero map of the whole batch's size and autograd adds them up.
    """
    b = labels.shape[0]
    d_fake, d_real = out[:b], out[b : 2 * b]
    if mask is None:  # no LabelMix term; fp32 like the other terms, which cast the (possibly bf16) logits
        loss_lm = out.new_zeros((), dtype=torch.float32)
    else:
        loss_lm = labelmix_loss(mask, out[2 * b :], d_real, d_fake, valid)
    return fake_loss(d_fake, valid), real_loss(d_real, labels, weights), loss_lm


DIFFAUG_POLICIES = ("color", "translation", "cutout")


def diff_augment(
    images: list[torch.Tensor],
    labels: torch.Tensor,
    mask: torch.Tensor | None,
    policy: tuple[str, ...],
    generator: torch.Generator,
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """DiffAugment (Zhao et al., NeurIPS 2020) for D's inputs: colour (brightness, saturation, contrast),
    translation (by up to 1/8 of the size, zero fill) and cutout (a zeroed box of half the size). Each sample's
    transform is shared by all `images` (fake, real, mix), its labels and its LabelMix mask; `valid` (B, H, W)
    is 0 where a pixel has no known target (shifted in from outside, or cut out), so those pixels leave every
    loss. Colour changes no target."""
    b, h, w = labels.shape
    dev = labels.device
    if "color" in policy:
        # The DiffAugment ranges, for images in [-1, 1]: brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5].
        brightness, saturation, contrast = torch.rand(3, b, 1, 1, 1, generator=generator).to(dev) * torch.tensor(
            [1.0, 2.0, 1.0], device=dev
        ).view(3, 1, 1, 1, 1) + torch.tensor([-0.5, 0.0, 0.5], device=dev).view(3, 1, 1, 1, 1)

        def colour(x: torch.Tensor) -> torch.Tensor:
            x = x + brightness.to(x.dtype)
            x = (x - x.mean(1, keepdim=True)) * saturation.to(x.dtype) + x.mean(1, keepdim=True)
            return (x - x.mean((1, 2, 3), keepdim=True)) * contrast.to(x.dtype) + x.mean((1, 2, 3), keepdim=True)

        images = [colour(x) for x in images]
    ys, xs = torch.arange(h, device=dev).view(1, h, 1), torch.arange(w, device=dev).view(1, 1, w)
    src_y, src_x = ys.expand(b, h, w), xs.expand(b, h, w)
    valid = torch.ones(b, h, w, device=dev)
    if "translation" in policy:
        dy = torch.randint(-(h // 8), h // 8 + 1, (b, 1, 1), generator=generator).to(dev)
        dx = torch.randint(-(w // 8), w // 8 + 1, (b, 1, 1), generator=generator).to(dev)
        src_y, src_x = src_y - dy, src_x - dx
        valid = valid * ((src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w))
        src_y, src_x = src_y.clamp(0, h - 1), src_x.clamp(0, w - 1)
    if "cutout" in policy:
        cy = torch.randint(0, h, (b, 1, 1), generator=generator).to(dev)
        cx = torch.randint(0, w, (b, 1, 1), generator=generator).to(dev)
        inside = ((ys - cy).abs() < h // 4) & ((xs - cx).abs() < w // 4)
        valid = valid * ~inside
    flat = (src_y * w + src_x).view(b, 1, h * w)

    def warp(x: torch.Tensor) -> torch.Tensor:
        g = torch.gather(x.flatten(2), 2, flat.expand(-1, x.shape[1], -1)).view_as(x)
        return g * valid[:, None].to(g.dtype)

    new_labels = torch.gather(labels.view(b, h * w), 1, flat[:, 0]).view(b, h, w)
    return [warp(x) for x in images], new_labels, None if mask is None else warp(mask), valid
