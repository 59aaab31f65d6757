"""An inference-only generator that computes what `Generator` computes in eval mode, at a fraction of the cost.

Exact rewrites (same function up to float rounding):
- spectral norm is folded into plain weights and eval-mode batch-norm statistics into the modulation convs:
  norm(x) * (1 + gamma) + beta  ==  x * gamma' + beta'  with gamma', beta' from one conv;
- the three SPADE "shared" convs of a block read the same conditioning map, so they run as one conv;
- a conv over cat(z, onehot) is split by linearity into a conv over z plus a table lookup for the one-hot
  part: each 3x3 tap of a one-hot input just selects one weight column, so the label half becomes an
  `embedding_bag` over the 9 neighbouring label ids (no one-hot tensor is ever built). On ADE20K's 151
  classes this removes about a third of the generator's multiply-adds.
  Label modes: "bag" (the lookup; best where FLOPs bound, i.e. CPUs) and "onehot" (the dense conv, which
  tensor cores run faster than a memory-bound gather).
- `sparse=True` evaluates the SPADE convs in full only at region and image borders (`oasis_core.sparse`).
- with the label lookup ("bag"), global noise (one vector per image, the app's usual case) never becomes a
  map: each 3x3 conv over it is a constant per tap, so its 9 * z_dim * Cout multiply-adds per pixel become
  one (B, Cout, 3, 3) product, broadcast (reflect padding) or spread by a 1-channel conv (zero padding).
  With per-pixel noise channels (`noise_pixel_channels`) only the image-level part takes that shortcut
  (`SplitNoise`); the per-pixel part is convolved.

The source generator is read only through `Generator.parts()` (`GeneratorParts`, `ResBlockParts`,
`SPADEParts`): what a block computes with and how, stated by the block itself.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator
from .layers import ResBlockParts, SPADEParts
from .sparse import TAPS, SparseCondConv, SparseConv3x3, SparseModulations, is_uniform, tap_terms

LabelMode = Literal["bag", "onehot"]


class SplitNoise(NamedTuple):
    """Noise of a model with per-pixel channels whose image-level part is one vector per image."""

    uniform: torch.Tensor  # (B, z - k, h, w): a (B, z - k, 1, 1) vector expanded over the map (no copy)
    pixels: torch.Tensor  # (B, k, h, w) channels_last


Noise = torch.Tensor | SplitNoise | None


def _weight(conv: nn.Conv2d) -> torch.Tensor:
    """The effective (spectral-normalised, eval-mode) weight of a conv, detached."""
    return conv.weight.detach().clone()


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    return conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)


def _same_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, reflect: bool) -> torch.Tensor:
    """A 'same' convolution (odd square kernel) with zero or reflect padding."""
    pad = weight.shape[-1] // 2
    if reflect and pad:
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), weight, bias)
    return F.conv2d(x, weight, bias, padding=pad)


class _Conv(nn.Module):
    """A frozen 'same' convolution with zero or reflect padding."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, reflect: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.reflect = reflect

    @classmethod
    def copy_of(cls, conv: nn.Conv2d) -> _Conv:
        return cls(_weight(conv), None if conv.bias is None else _bias(conv), conv.padding_mode == "reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _same_conv(x, self.weight, self.bias, self.reflect)


def _pad_labels(labels: torch.Tensor, sentinel: int, reflect: bool) -> torch.Tensor:
    """(B, h, w) ids -> (B, h+2, w+2): reflected at the border, or `sentinel` (the zero-padding row) around."""
    if not reflect:
        return F.pad(labels, (1, 1, 1, 1), value=sentinel)
    h, w = labels.shape[1:]
    rows = torch.tensor([1, *range(h), h - 2], device=labels.device)
    cols = torch.tensor([1, *range(w), w - 2], device=labels.device)
    return labels[:, rows][:, :, cols]


class CondConv(nn.Module):
    """3x3 conv over cat(z, onehot(labels)) that takes integer labels: conv(z) + lookup(labels)."""

    def __init__(
        self,
        weights: torch.Tensor,
        bias: torch.Tensor,
        z_dim: int,
        label_nc: int,
        mode: LabelMode,
        reflect: bool = False,
        pixel_channels: int = 0,
    ) -> None:
        super().__init__()
        # weights: (Cout, z_dim + label_nc, 3, 3), noise channels first; the last `pixel_channels` of them per pixel.
        if mode not in ("bag", "onehot"):
            raise ValueError(f"label mode must be 'bag' or 'onehot', got {mode!r}")
        self.z_dim, self.label_nc, self.mode, self.reflect = z_dim, label_nc, mode, reflect
        self.bias = nn.Parameter(bias, requires_grad=False)
        if mode == "onehot":
            # Zero input channels up to a multiple of 16 (extra one-hot classes that never occur): tensor-core
            # convolution kernels want aligned channel counts, and 64 + 151 = 215 is not.
            self.onehot_nc = -(-(z_dim + label_nc) // 16) * 16 - z_dim
            padded = F.pad(weights, (0, 0, 0, 0, 0, self.onehot_nc - label_nc))
            self.weight = nn.Parameter(padded.contiguous(), requires_grad=False)
            return
        # Noise kernels are empty for a model without noise (z_dim 0) or without per-pixel channels.
        wz, wl = weights[:, :z_dim], weights[:, z_dim:]
        self.wz = nn.Parameter(wz.contiguous(), requires_grad=False)
        self.wz_pixels = nn.Parameter(wz[:, z_dim - pixel_channels :].contiguous(), requires_grad=False)
        # table[k * (N + 1) + c] = weight column of class c at tap k; row N of each tap is the zero padding.
        table = torch.zeros(9, label_nc + 1, weights.shape[0])
        table[:, :label_nc] = wl.permute(2, 3, 1, 0).reshape(9, label_nc, -1)
        self.table = nn.Parameter(table.reshape(9 * (label_nc + 1), -1), requires_grad=False)
        self.register_buffer("tap_offset", torch.arange(9) * (label_nc + 1), persistent=False)

    tap_offset: torch.Tensor

    def sparse(self) -> SparseCondConv:
        """This conv ("bag" mode), evaluated in full only at given border pixels; shares its parameters."""
        return SparseCondConv(self.table, self.bias, self.wz, self.label_nc)

    def forward(self, labels: torch.Tensor, z: Noise) -> torch.Tensor:
        # labels: (B, h, w) int64; z: (B, z_dim, h, w), SplitNoise or None -> (B, Cout, h, w), channels_last.
        if self.mode == "onehot":
            if isinstance(z, SplitNoise):  # FastGenerator splits noise only for the label lookup
                raise TypeError("the one-hot conv takes noise as one map; split noise is for the label lookup")
            onehot = F.one_hot(labels, self.onehot_nc).permute(0, 3, 1, 2).to(self.weight.dtype)
            cond = onehot if z is None else torch.cat([z, onehot], 1)
            return _same_conv(cond.contiguous(memory_format=torch.channels_last), self.weight, self.bias, self.reflect)
        b, h, w = labels.shape
        padded = _pad_labels(labels, self.label_nc, self.reflect)
        taps = torch.stack([padded[:, dy : dy + h, dx : dx + w] for dy, dx in TAPS], dim=-1)
        rows = taps + self.tap_offset  # (B, h, w, 9) rows of the table
        out = F.embedding_bag(rows.view(-1, 9), self.table, mode="sum").view(b, h, w, -1).permute(0, 3, 1, 2)
        if z is None:
            return out + self.bias.view(1, -1, 1, 1)
        if isinstance(z, SplitNoise):
            out.add_(self._uniform_z_term(z.uniform[:, :, 0, 0], h, w))
            return out.add_(_same_conv(z.pixels, self.wz_pixels, self.bias, self.reflect))
        if is_uniform(z):
            return out.add_(self._uniform_z_term(z[:, :, 0, 0], h, w)).add_(self.bias.view(1, -1, 1, 1))
        return _same_conv(z, self.wz, self.bias, self.reflect) + out

    def _uniform_z_term(self, zvec: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """conv3x3 (no bias) of the (B, c) vectors over the first c noise channels, spread over h x w:
        (B, Cout, 1, 1) with reflect padding (every pixel reads all taps), else (B, Cout, h, w): border pixels
        miss the taps that fall outside."""
        u = tap_terms(self.wz, zvec)
        if self.reflect:
            return u.sum((2, 3), keepdim=True)
        b, c = u.shape[:2]
        ones = zvec.new_ones(1, 1, h, w)
        return F.conv2d(ones, u.reshape(b * c, 1, 3, 3), padding=1).view(b, c, h, w)


class CondConv1x1(nn.Module):
    """1x1 conv over cat(z, onehot(labels)): a per-class row lookup plus a 1x1 conv of z."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor, z_dim: int, label_nc: int) -> None:
        super().__init__()
        self.table = nn.Parameter(weights[:, z_dim:, 0, 0].t().contiguous(), requires_grad=False)  # (N, Cout)
        self.wz = nn.Parameter(weights[:, :z_dim].contiguous(), requires_grad=False)  # empty without noise
        self.bias = nn.Parameter(bias, requires_grad=False)

    def forward(self, labels: torch.Tensor, z: Noise) -> torch.Tensor:
        out = F.embedding(labels, self.table).permute(0, 3, 1, 2)  # channels_last (B, Cout, h, w)
        if z is None:
            return out + self.bias.view(1, -1, 1, 1)
        if isinstance(z, SplitNoise):
            c = z.uniform.shape[1]
            out.add_((z.uniform[:, :, 0, 0] @ self.wz[:, :c, 0, 0].t())[:, :, None, None])
            return out.add_(F.conv2d(z.pixels, self.wz[:, c:], self.bias))
        if is_uniform(z):  # global noise: one (B, Cout) product instead of a 1x1 conv over every pixel
            return out.add_((z[:, :, 0, 0] @ self.wz[:, :, 0, 0].t() + self.bias)[:, :, None, None])
        return F.conv2d(z, self.wz, self.bias).add_(out)


def _folded_modulation(spade: SPADEParts) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights of one conv producing (gamma', beta') with an eval-mode batch norm folded in:
    x_n * (1 + g) + b with x_n = x * scale + shift  ==  x * [scale (1 + g)] + [shift (1 + g) + b]."""
    wg, bg = _weight(spade.gamma), _bias(spade.gamma)
    wb, bb = _weight(spade.beta), _bias(spade.beta)
    norm = spade.norm
    if isinstance(norm, nn.InstanceNorm2d):  # per-image statistics: applied at run time instead
        scale, shift = torch.ones_like(bg), torch.zeros_like(bg)
    else:
        mean, var = norm.running_mean, norm.running_var
        if mean is None or var is None:
            raise ValueError("a batch norm without running statistics has no eval-mode form to fold")
        scale = torch.rsqrt(var + norm.eps)
        shift = -mean * scale
    s4, t4 = scale.view(-1, 1, 1, 1), shift.view(-1, 1, 1, 1)
    return torch.cat([s4 * wg, t4 * wg + wb]), torch.cat([scale * (1 + bg), shift * (1 + bg) + bb])


class _Modulate(nn.Module):
    """(x, (gamma', beta') stacked) -> x * gamma' + beta', after instance norm if that is the model's norm (a
    batch norm is folded into gamma' and beta')."""

    def __init__(self, spade: SPADEParts) -> None:
        super().__init__()
        self.instance = isinstance(spade.norm, nn.InstanceNorm2d)
        self.eps = spade.norm.eps

    def forward(self, x: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
        gamma, beta = gb.chunk(2, dim=1)
        if self.instance:
            x = F.instance_norm(x, eps=self.eps)
        return torch.addcmul(beta, x, gamma)


class FastBlock(nn.Module):
    """A `SPADEResBlock` rewritten: batch norms folded into the modulation convs, the hidden convs of all norms
    as one label-lookup conv, class-adaptive modulations as lookups. `sparse`: the SPADE convs run border-only
    where that pays (label lookup, noise without per-pixel channels)."""

    def __init__(
        self,
        parts: ResBlockParts,
        z_dim: int,
        label_nc: int,
        mode: LabelMode,
        pixel_channels: int,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if sparse and (mode != "bag" or pixel_channels):
            raise ValueError(
                "the sparse path needs the label lookup ('bag') and noise without per-pixel channels "
                "(those leave no uniform neighbourhoods to skip)"
            )
        self.learned_shortcut = parts.learned_shortcut
        self.norms = nn.ModuleList(_Modulate(n) for n in parts.norms)
        self.convs = nn.ModuleList(_Conv.copy_of(c) for c in parts.convs)
        folded = [_folded_modulation(n) for n in parts.norms]
        self.hidden: CondConv | None = None
        self.sparse: SparseModulations | None = None
        hidden = parts.hidden
        if not hidden:  # class-adaptive: 1x1 maps of the conditioning, a class lookup plus a 1x1 conv of z
            self.gamma_beta = nn.ModuleList(CondConv1x1(w, b, z_dim, label_nc) for w, b in folded)
            return
        # One hidden activation that every norm reads, or the norms' own ones, which read the same input: their
        # convs run as one, each norm reading its slot of the output channels.
        self.width = hidden[0].out_channels
        self.slots = [0] * len(parts.norms) if len(hidden) == 1 else list(range(len(hidden)))
        reflect = parts.convs[0].padding_mode == "reflect"
        w, b = torch.cat([_weight(h) for h in hidden]), torch.cat([_bias(h) for h in hidden])
        self.hidden = CondConv(w, b, z_dim, label_nc, mode, reflect, pixel_channels)
        self.gamma_beta = nn.ModuleList(
            _Conv(w, b, n.gamma.padding_mode == "reflect") for (w, b), n in zip(folded, parts.norms)
        )
        if sparse:
            convs = [SparseConv3x3(w, b) for w, b in folded]
            self.sparse = SparseModulations(self.hidden.sparse(), convs, self.slots, self.width, reflect)

    def _modulations(self, labels: torch.Tensor, z: Noise) -> list[torch.Tensor]:
        """(gamma', beta') of each norm of the block."""
        if self.hidden is None:
            return [m(labels, z) for m in self.gamma_beta]
        if self.sparse is not None:
            gb = self.sparse(labels, z)  # None where the dense convs are cheaper
            if gb is not None:
                return gb
        actv = F.relu_(self.hidden(labels, z)).split(self.width, dim=1)
        return [m(actv[k]) for m, k in zip(self.gamma_beta, self.slots)]

    def forward(self, x: torch.Tensor, labels: torch.Tensor, z: Noise) -> torch.Tensor:
        gb = self._modulations(labels, z)
        x_s = self.convs[2](self.norms[2](x, gb[2])) if self.learned_shortcut else x
        dx = self.convs[0](F.leaky_relu(self.norms[0](x, gb[0]), 0.2))
        dx = self.convs[1](F.leaky_relu(self.norms[1](dx, gb[1]), 0.2))
        return dx.add_(x_s)


class FastGenerator(nn.Module):
    """(labels (B, H, W) int64, noise (B, z_dim, H, W) or None) -> image (B, 3, H, W) in [-1, 1].

    Built from a trained `Generator`; its weights are frozen copies, so the source can be discarded. `sparse`
    applies with the label lookup ("bag") to models without per-pixel noise channels, and is ignored otherwise.
    """

    def __init__(self, generator: Generator, label_mode: LabelMode = "bag", sparse: bool = False) -> None:
        super().__init__()
        cfg = generator.config
        self.config = cfg
        was_training = generator.training
        generator.eval()  # eval-mode spectral norm: no power iteration, stored u and v
        parts = generator.parts()
        z, k = cfg.noise_channels, cfg.noise_pixel_channels
        # Per-pixel noise channels leave no uniform neighbourhoods for the sparse path to skip.
        self.sparse = sparse and label_mode == "bag" and k == 0
        reflect = parts.head.padding_mode == "reflect"  # every rewritten conv keeps its source's padding
        self.head = CondConv(_weight(parts.head), _bias(parts.head), z, cfg.label_nc, label_mode, reflect, k)
        self.blocks = nn.ModuleList(FastBlock(b, z, cfg.label_nc, label_mode, k, self.sparse) for b in parts.blocks)
        self.to_rgb = _Conv.copy_of(parts.to_rgb)
        generator.train(was_training)
        self.eval()

    @torch.no_grad()
    def forward(self, labels: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        h, w = labels.shape[1:]
        f = self.config.upsampling
        sizes = [(h * 2**i // f, w * 2**i // f) for i in range(len(self.blocks))]
        lab_f = labels[:, None].float()
        if noise is not None:
            noise = noise.to(self.to_rgb.weight.dtype)
        # Global noise goes on as an expanded vector, which the label-lookup convs take in one product. Only on
        # the CPU (FLOP-bound) in "bag" mode: the check reads a value, which a CUDA graph cannot branch on.
        c = self.config.noise_channels - self.config.noise_pixel_channels  # the image-level channels
        uniform = (
            noise is not None
            and noise.device.type == "cpu"
            and self.head.mode == "bag"
            and c > 0
            and bool((noise[:, :c] == noise[:, :c, :1, :1]).all())
        )
        split = uniform and self.config.noise_pixel_channels > 0

        def cond_at(size: tuple[int, int]) -> tuple[torch.Tensor, Noise]:
            lab = F.interpolate(lab_f, size=size, mode="nearest")[:, 0].long()
            if noise is None:
                return lab, None
            if split:
                pixels = F.interpolate(noise[:, c:], size=size, mode="nearest")
                return lab, SplitNoise(
                    noise[:, :c, :1, :1].expand(-1, -1, *size), pixels.contiguous(memory_format=torch.channels_last)
                )
            if uniform:
                return lab, noise[:, :, :1, :1].expand(-1, -1, *size)
            z = F.interpolate(noise, size=size, mode="nearest")
            return lab, z.contiguous(memory_format=torch.channels_last)

        x = self.head(*cond_at(sizes[0]))
        for i, (block, size) in enumerate(zip(self.blocks, sizes)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(x, *cond_at(size))
        return torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))


class CudaGraphRunner:
    """Replays a CUDA graph of a module per input shape, removing the per-kernel launch overhead.

    At batch 1 the generator's ~100 small kernels are launch-bound; a captured graph runs them back to back.
    Inputs are copied into static buffers; the returned tensor is a fresh copy of the static output.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self._graphs: dict[tuple, tuple] = {}

    @torch.no_grad()
    def __call__(self, labels: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        key = (tuple(labels.shape), None if noise is None else (tuple(noise.shape), noise.dtype))
        if key not in self._graphs:
            static_l = labels.clone()
            static_z = None if noise is None else noise.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm up (cuDNN autotuning, allocator) outside the capture
                for _ in range(2):
                    self.module(static_l, static_z)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.module(static_l, static_z)
            self._graphs[key] = (graph, static_l, static_z, static_out)
        graph, static_l, static_z, static_out = self._graphs[key]
        static_l.copy_(labels)
        if static_z is not None:
            static_z.copy_(noise)
        graph.replay()
        return static_out.clone()
