"""Building blocks shared by the generator and the discriminator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from .config import Modulation, Norm, Padding

M = TypeVar("M", bound=nn.Module)


def init_weights(module: nn.Module) -> None:
    """The paper's init: xavier-normal with gain 0.02 on conv/linear weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Conv2d(nn.Conv2d):
    """nn.Conv2d whose non-zero padding keeps the input's dtype.

    CPU autocast runs F.pad's reflect mode in fp32: every reflect-padded conv of a bf16 model would cast its
    input to fp32, pad, and cast back (a fifth of a `cpu-small` training step on 2 cores). Padding copies
    values, so padding in bf16 gives the same result.
    """

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self.padding_mode == "zeros":
            return super()._conv_forward(x, weight, bias)
        with torch.autocast(x.device.type, enabled=False):
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, self.groups)


def conv(
    cin: int, cout: int, k: int = 3, *, sn: bool = False, bias: bool = True, padding: Padding = "zeros"
) -> nn.Conv2d:
    """A 'same' convolution, optionally spectral-normalised (init happens before the parametrisation)."""
    layer = Conv2d(cin, cout, k, padding=k // 2, bias=bias, padding_mode=padding if k > 1 else "zeros")
    init_weights(layer)
    if sn:
        parametrizations.spectral_norm(layer)  # in place: registers the parametrisation on `layer`
    return layer


def init_spectral_norm(module: nn.Module, gain: float) -> None:
    """Re-draw every spectrally normalised weight, xavier-normal with `gain`, and restart its power iteration.

    The forward pass ignores the raw weight's scale, Adam's steps do not: each moves an entry by about lr, so
    the relative change per step is lr / scale. The paper's gain of 0.02 makes it ~50x that of gain 1: the
    weights churn until they have grown, which takes far more iterations than a CPU run has.
    """
    for m in [m for m in module.modules() if parametrize.is_parametrized(m, "weight")]:
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        nn.init.xavier_normal_(m.get_parameter("weight"), gain=gain)
        parametrizations.spectral_norm(m)


def fold_spectral_norm(module: nn.Module) -> None:
    """Replace every spectral-norm parametrisation by its current (eval-mode) weight, in place.

    In eval mode the parametrisation divides by u·(W v) with the stored u, v; baking that in removes the
    per-call power-iteration bookkeeping from inference.
    """
    for m in list(module.modules()):
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)


def to_device(
    module: M,
    device: torch.device,
    dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.channels_last,
) -> M:
    """`module.to(device, dtype, memory_format=...)` (in place), typed as the module it returns."""
    # Module.to takes memory_format, though torch's stubs do not say so.
    return module.to(device, dtype, memory_format=memory_format)  # type: ignore[call-overload]


ParamFreeNorm = nn.BatchNorm2d | nn.SyncBatchNorm | nn.InstanceNorm2d


def param_free_norm(kind: Norm, channels: int) -> ParamFreeNorm:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "sync-batch":
        # Behaves as BatchNorm2d outside a distributed run.
        return nn.SyncBatchNorm(channels, affine=False)
    return nn.BatchNorm2d(channels, affine=False)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2 upsampling (B, C, H, W) -> (B, C, 2H, 2W).

    Plain interpolate, also under torch.compile: written as expand + reshape (a 2x2-sum backward instead of
    inductor's atomic scatter-add) the compiled paper-size step on an H100 fell from 108 to 88 images/s, its
    channels-last backward fusing into one slow strided kernel.
    """
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: norm(x) * (1 + gamma(cond)) + beta(cond).

    `cond` is cat(z, onehot) already resized to x's resolution (the generator does that once per stage).
    Paper form: cond -> 3x3 conv to `hidden` -> ReLU -> 3x3 convs to gamma and beta. With `own_hidden=False`
    the hidden activation comes from the block (one shared embedding for all its norms). With `hidden=0`
    the modulation is class-adaptive (CLADE-style): 1x1 maps of cond, i.e. a per-class lookup plus a linear
    map of the 3D noise, so the noise still reaches this norm.
    """

    def __init__(
        self,
        channels: int,
        cond_channels: int,
        hidden: int,
        norm: Norm,
        own_hidden: bool = True,
        padding: Padding = "zeros",
    ) -> None:
        super().__init__()
        self.norm = param_free_norm(norm, channels)
        self.shared = conv(cond_channels, hidden, padding=padding) if hidden and own_hidden else None
        k, cin = (3, hidden) if hidden else (1, cond_channels)
        self.gamma = conv(cin, channels, k, padding=padding)
        self.beta = conv(cin, channels, k, padding=padding)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, actv: torch.Tensor | None = None) -> torch.Tensor:
        if self.shared is not None:
            actv = F.relu(self.shared(cond))
        elif actv is None:  # class-adaptive: the modulation reads cond directly
            actv = cond
        gamma, beta = self.gamma(actv), self.beta(actv)
        # Under autocast the norm computes in fp32 while gamma and beta come out in bf16/fp16: modulating in
        # their dtype keeps the full-resolution activations, and what backward saves of them, at half size.
        return self.norm(x).to(gamma.dtype) * (1 + gamma) + beta

    def parts(self) -> SPADEParts:
        return SPADEParts(self.norm, self.shared, self.gamma, self.beta)


@dataclass(frozen=True)
class SPADEParts:
    """Everything a `SPADE` computes with, for code that rewrites it (`oasis_core.fast`):
    norm(x) * (1 + gamma(a)) + beta(a), with a = ReLU(hidden(cond)), the block's shared activation when
    `hidden` is None and the block has one, else cond itself (class-adaptive: gamma and beta are 1x1)."""

    norm: ParamFreeNorm
    hidden: nn.Conv2d | None
    gamma: nn.Conv2d
    beta: nn.Conv2d


@dataclass(frozen=True)
class ResBlockParts:
    """Everything a `SPADEResBlock` computes with, for code that rewrites it (`oasis_core.fast`).

    Stage k computes convs[k](norms[k](.)): stages 0 and 1 in sequence, each after a LeakyReLU(0.2) of its
    norm; a third (the learned shortcut, a 1x1 conv without activation) reads the block's input when present,
    else the input is added as it is. Every SPADE reads cat(noise, onehot) at the block's resolution.
    """

    shared: nn.Conv2d | None  # "shared": the one hidden conv whose ReLU every norm reads
    norms: tuple[SPADEParts, ...]
    convs: tuple[nn.Conv2d, ...]

    @property
    def learned_shortcut(self) -> bool:
        return len(self.convs) == 3

    @property
    def hidden(self) -> tuple[nn.Conv2d, ...]:
        """The hidden convs of the modulations: the block's shared one, one per norm (each norm reads its own),
        or none (class-adaptive: gamma and beta read cond)."""
        if self.shared is not None:
            return (self.shared,)
        return tuple(n.hidden for n in self.norms if n.hidden is not None)


class SPADEResBlock(nn.Module):
    """Generator residual block: two SPADE -> LeakyReLU -> conv stages and a learned shortcut if fin != fout."""

    def __init__(
        self,
        fin: int,
        fout: int,
        cond_channels: int,
        hidden: int,
        norm: Norm,
        sn: bool,
        modulation: Modulation = "spade",
        padding: Padding = "zeros",
    ) -> None:
        super().__init__()
        fmid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.modulation = modulation
        if modulation == "clade":
            hidden = 0
        self.shared = conv(cond_channels, hidden, padding=padding) if modulation == "shared" else None
        own = modulation == "spade"
        self.norm_0 = SPADE(fin, cond_channels, hidden, norm, own, padding)
        self.conv_0 = conv(fin, fmid, sn=sn, padding=padding)
        self.norm_1 = SPADE(fmid, cond_channels, hidden, norm, own, padding)
        self.conv_1 = conv(fmid, fout, sn=sn, padding=padding)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, cond_channels, hidden, norm, own, padding)
            self.conv_s = conv(fin, fout, 1, sn=sn, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        actv = F.relu(self.shared(cond)) if self.shared is not None else None
        x_s = self.conv_s(self.norm_s(x, cond, actv)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, cond, actv), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, cond, actv), 0.2))
        return x_s + dx

    def parts(self) -> ResBlockParts:
        norms, convs = [self.norm_0, self.norm_1], [self.conv_0, self.conv_1]
        if self.learned_shortcut:
            norms, convs = [*norms, self.norm_s], [*convs, self.conv_s]
        return ResBlockParts(self.shared, tuple(n.parts() for n in norms), tuple(convs))


class DBlock(nn.Module):
    """Discriminator residual block (BigGAN style, no normalisation): down (avg-pool) or up (nearest x2), or
    neither with `resample=False`.

    The first encoder block skips the leading activation so the raw image reaches the first conv.
    """

    def __init__(
        self, fin: int, fout: int, up: bool, first: bool, sn: bool, padding: Padding = "zeros", resample: bool = True
    ) -> None:
        super().__init__()
        self.up, self.first, self.resample = up, first, resample
        self.conv1 = conv(fin, fout, sn=sn, padding=padding)
        self.conv2 = conv(fout, fout, sn=sn, padding=padding)
        self.conv_s = conv(fin, fout, 1, sn=sn) if fin != fout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up and self.resample:
            x = upsample2x(x)
        x_s = x if self.conv_s is None else self.conv_s(x)
        dx = self.conv1(x if self.first else F.leaky_relu(x, 0.2))
        dx = self.conv2(F.leaky_relu(dx, 0.2))
        if not self.up and self.resample:
            # Average pooling commutes with the 1x1 shortcut, so one pool after the sum serves both paths.
            return F.avg_pool2d(x_s + dx, 2)
        return x_s + dx
