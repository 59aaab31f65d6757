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
- `sparse=True` exploits that label maps, and noise away from re-rolled regions, are piecewise constant.
  Where the input of a 3x3 conv is identical over a pixel's 3x3 neighbourhood, the conv equals a 1x1 conv
  with the summed kernel (a ninth of the work); the full 3x3 conv is evaluated only at the remaining pixels
  (region borders, image borders), gathered into one matrix product. The SPADE convs see cat(z, onehot)
  (uniform away from borders) and ReLU of its conv (uniform one pixel further in), so on painted layouts
  most of their work disappears. Data-dependent shapes: meant for eager CPU inference.
- with the label lookup ("bag"), global noise (one vector per image, the app's usual case) never becomes a
  map: each 3x3 conv over it is a constant per tap, so its 9 * z_dim * Cout multiply-adds per pixel become
  one (B, Cout, 3, 3) product, broadcast (reflect padding) or spread by a 1-channel conv (zero padding).
  With per-pixel noise channels (`noise_pixel_channels`) only the image-level part takes that shortcut
  (`SplitNoise`); the per-pixel part is convolved.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator
from .layers import SPADE, SPADEResBlock


def _weight(conv: nn.Conv2d) -> torch.Tensor:
    """The effective (spectral-normalised, eval-mode) weight of a conv, detached."""
    return conv.weight.detach().clone()


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    return conv.bias.detach().clone() if conv.bias is not None else torch.zeros(conv.out_channels)


LabelMode = Literal["bag", "onehot"]

# Below this many pixels per stage the bookkeeping of the sparse path costs more than it saves.
_SPARSE_MIN_PIXELS = 32 * 32
# Above this share of border pixels the dense 3x3 conv is cheaper.
_SPARSE_MAX_FRACTION = 0.4

_TAPS = [(dy, dx) for dy in range(3) for dx in range(3)]


def _flat_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, 3, 3) -> (9 * Cin, Cout) matching patches laid out as (tap, channel)."""
    return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """View a channels_last (B, C, H, W) tensor as (B, H, W, C) without copying."""
    return x.permute(0, 2, 3, 1)


def _is_uniform(z: torch.Tensor) -> bool:
    """Global noise as FastGenerator passes it on: a (B, z, 1, 1) vector expanded over the map (no copy)."""
    return z.stride(2) == 0 and z.stride(3) == 0


class SplitNoise(NamedTuple):
    """Noise of a model with per-pixel channels whose image-level part is one vector per image."""

    uniform: torch.Tensor  # (B, z - k, h, w): a (B, z - k, 1, 1) vector expanded over the map (no copy)
    pixels: torch.Tensor  # (B, k, h, w) channels_last


Noise = torch.Tensor | SplitNoise | None


def _conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, reflect: bool) -> torch.Tensor:
    if reflect:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), weight, bias)
    return F.conv2d(x, weight, bias, padding=1)


def _pad_labels(labels: torch.Tensor, sentinel: int, reflect: bool) -> torch.Tensor:
    """(B, h, w) ids -> (B, h+2, w+2): reflected at the border, or `sentinel` (the zero-padding row) around."""
    if not reflect:
        return F.pad(labels, (1, 1, 1, 1), value=sentinel)
    h, w = labels.shape[1:]
    rows = torch.tensor([1, *range(h), h - 2], device=labels.device)
    cols = torch.tensor([1, *range(w), w - 2], device=labels.device)
    return labels[:, rows][:, :, cols]


class BorderPixels:
    """The pixels of one stage where a 3x3 conv must be evaluated in full, and how to gather their 3x3 patches.

    `pixels`: (P,) sorted flat indices into (B, h, w); `src`: (P, 9) flat indices of each pixel's neighbours in
    the same map, reflected at the image border (reflect padding) or clamped there, in which case `outside`
    (P, 9) marks the taps that read the zero padding (None when no tap does). No padded copy of a map is made.
    """

    def __init__(self, mask: torch.Tensor, reflect: bool = False) -> None:
        b, h, w = mask.shape
        self.pixels = mask.reshape(-1).nonzero().squeeze(1)
        n, rem = self.pixels // (h * w), self.pixels % (h * w)
        taps = torch.tensor(_TAPS, device=mask.device) - 1  # (9, 2) offsets
        ys, xs = (rem // w)[:, None] + taps[:, 0], (rem % w)[:, None] + taps[:, 1]  # (P, 9)
        self.outside: torch.Tensor | None = None
        if reflect:  # -1 -> 1 and h -> h - 2, as F.pad(mode="reflect")
            ys, xs = ys.abs(), xs.abs()
            ys, xs = torch.where(ys >= h, 2 * (h - 1) - ys, ys), torch.where(xs >= w, 2 * (w - 1) - xs, xs)
        else:
            outside = (ys < 0) | (ys >= h) | (xs < 0) | (xs >= w)
            self.outside = outside if bool(outside.any()) else None
            ys, xs = ys.clamp(0, h - 1), xs.clamp(0, w - 1)
        self.src = (n[:, None] * h + ys) * w + xs
        self.fraction = self.pixels.numel() / max(mask.numel(), 1)

    def patches(self, rows: torch.Tensor) -> torch.Tensor:
        """A map's pixels as rows (B * h * w, C), e.g. an NHWC view -> (P, 9 * C) patches at the pixels."""
        c = rows.shape[1]
        out = rows.index_select(0, self.src.reshape(-1)).view(-1, 9, c)
        if self.outside is not None:
            out.masked_fill_(self.outside[..., None], 0)
        return out.view(-1, 9 * c)

    def labels(self, labels: torch.Tensor, sentinel: int) -> torch.Tensor:
        """(B, h, w) ids -> (P, 9) ids of the neighbours, `sentinel` (the zero-padding row) outside the image."""
        out = labels.reshape(-1)[self.src]
        return out if self.outside is None else out.masked_fill_(self.outside, sentinel)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) channels_last (or a channel slice of one) -> its pixels as rows (B * h * w, C), a view."""
    return _nhwc(x).reshape(-1, x.shape[1])


def nonuniform(labels: torch.Tensor, z: torch.Tensor | None, sentinel: int) -> torch.Tensor:
    """(B, h, w) True where a 3x3 neighbour differs in label or noise, or lies outside the image (whatever the
    padding: the border pixels are always evaluated in full)."""
    b, h, w = labels.shape
    if z is not None and _is_uniform(z):
        z = None  # one vector per image (global noise, as FastGenerator passes it): no noise borders to look for
    lp = F.pad(labels, (1, 1, 1, 1), value=sentinel)
    zp = None if z is None else F.pad(_nhwc(z), (0, 0, 1, 1, 1, 1))
    mask = torch.zeros_like(labels, dtype=torch.bool)
    for dy, dx in _TAPS:
        if (dy, dx) == (1, 1):
            continue
        mask |= lp[:, dy : dy + h, dx : dx + w] != labels
        if zp is not None:
            mask |= (zp[:, dy : dy + h, dx : dx + w] != _nhwc(z)).any(-1)
    return mask


def dilate(mask: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(mask[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0


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
        cout = weights.shape[0]
        self.bias = nn.Parameter(bias, requires_grad=False)
        if mode != "onehot":
            wz, wl = weights[:, :z_dim], weights[:, z_dim:]
            self.wz = nn.Parameter(wz.contiguous(), requires_grad=False) if z_dim else None
            # For the sparse path: the 1x1 equivalent where z is uniform, and the flattened full kernel.
            self.wz_sum = nn.Parameter(wz.sum((2, 3), keepdim=True), requires_grad=False) if z_dim else None
            self.wz_flat = nn.Parameter(_flat_kernel(wz), requires_grad=False) if z_dim else None
            pixels = wz[:, z_dim - pixel_channels :].contiguous()
            self.wz_pixels = nn.Parameter(pixels, requires_grad=False) if pixel_channels else None
            # table[k * (N + 1) + c] = weight column of class c at tap k; row N of each tap is the zero padding.
            table = torch.zeros(9, label_nc + 1, cout)
            table[:, :label_nc] = wl.permute(2, 3, 1, 0).reshape(9, label_nc, cout)
            self.table = nn.Parameter(table.reshape(9 * (label_nc + 1), cout), requires_grad=False)
            self.table_sum = nn.Parameter(table.sum(0), requires_grad=False)  # all 9 taps on one class
            self.register_buffer("tap_offset", torch.arange(9) * (label_nc + 1), persistent=False)
        else:
            # Zero input channels up to a multiple of 16 (extra one-hot classes that never occur): tensor-core
            # convolution kernels want aligned channel counts, and 64 + 151 = 215 is not.
            self.onehot_nc = -(-(z_dim + label_nc) // 16) * 16 - z_dim
            padded = F.pad(weights, (0, 0, 0, 0, 0, self.onehot_nc - label_nc))
            self.weight = nn.Parameter(padded.contiguous(), requires_grad=False)

    def forward(self, labels: torch.Tensor, z: Noise) -> torch.Tensor:
        # labels: (B, h, w) int64; z: (B, z_dim, h, w), SplitNoise or None -> (B, Cout, h, w), channels_last.
        if self.mode == "onehot":
            onehot = F.one_hot(labels, self.onehot_nc).permute(0, 3, 1, 2).to(self.weight.dtype)
            cond = onehot if z is None else torch.cat([z, onehot], 1)
            return _conv3x3(cond.contiguous(memory_format=torch.channels_last), self.weight, self.bias, self.reflect)
        b, h, w = labels.shape
        padded = _pad_labels(labels, self.label_nc, self.reflect)
        taps = torch.stack([padded[:, dy : dy + h, dx : dx + w] for dy, dx in _TAPS], dim=-1)
        rows = taps + self.tap_offset  # (B, h, w, 9) rows of the table
        out = F.embedding_bag(rows.view(-1, 9), self.table, mode="sum").view(b, h, w, -1).permute(0, 3, 1, 2)
        if z is None:
            return out + self.bias.view(1, -1, 1, 1)
        if isinstance(z, SplitNoise):
            out.add_(self._uniform_z_term(z.uniform[:, :, 0, 0], h, w))
            return out.add_(_conv3x3(z.pixels, self.wz_pixels, self.bias, self.reflect))
        if _is_uniform(z):
            return out.add_(self._uniform_z_term(z[:, :, 0, 0], h, w)).add_(self.bias.view(1, -1, 1, 1))
        return _conv3x3(z, self.wz, self.bias, self.reflect) + out

    def _tap_terms(self, zvec: torch.Tensor) -> torch.Tensor:
        """(B, c) -> (B, Cout, 3, 3): what each tap of the conv over the first c noise channels adds when they
        read the vector."""
        return torch.einsum("oikl,bi->bokl", self.wz[:, : zvec.shape[1]], zvec)

    def _uniform_z_term(self, zvec: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """conv3x3 (no bias) of the (B, z_dim) vectors spread over h x w: (B, Cout, 1, 1) with reflect padding
        (every pixel reads all taps), else (B, Cout, h, w): border pixels miss the taps that fall outside."""
        u = self._tap_terms(zvec)
        if self.reflect:
            return u.sum((2, 3), keepdim=True)
        b, c = u.shape[:2]
        ones = zvec.new_ones(1, 1, h, w)
        return F.conv2d(ones, u.reshape(b * c, 1, 3, 3), padding=1).view(b, c, h, w)

    def forward_sparse(self, labels: torch.Tensor, z: torch.Tensor | None, border: BorderPixels) -> torch.Tensor:
        """Same result as forward(); full 3x3 evaluation only at `border` pixels."""
        b, h, w = labels.shape
        uniform = z is not None and _is_uniform(z)
        out = F.embedding(labels, self.table_sum).permute(0, 3, 1, 2)  # channels_last (B, Cout, h, w)
        if z is None:
            out = out + self.bias.view(1, -1, 1, 1)
        elif uniform:  # off the border every tap reads the image: the sum of the tap terms
            taps = self._tap_terms(z[:, :, 0, 0])
            out = out.add_(taps.sum((2, 3), keepdim=True)).add_(self.bias.view(1, -1, 1, 1))
        else:
            out = F.conv2d(z, self.wz_sum, self.bias).add_(out)
        if border.pixels.numel():
            rows = border.labels(labels, self.label_nc) + self.tap_offset  # (P, 9) rows of the table
            exact = F.embedding_bag(rows, self.table, mode="sum") + self.bias
            if uniform:  # the tap terms of the taps that read the image (with zero padding, not those outside)
                inside = exact.new_ones(rows.shape) if border.outside is None else (~border.outside).to(exact.dtype)
                flat = taps.permute(0, 2, 3, 1).reshape(b, 9, -1)  # (B, 9, Cout), taps in _TAPS order
                counts = torch.bincount(border.pixels // (h * w), minlength=b).tolist()  # pixels are sorted
                exact = exact + torch.cat([part @ flat[n] for n, part in enumerate(inside.split(counts))])
            elif z is not None:
                exact = exact + border.patches(_rows(z)) @ self.wz_flat
            _rows(out)[border.pixels] = exact
        return out


def _folded_modulation(spade: SPADE) -> tuple[torch.Tensor, torch.Tensor]:
    """One conv producing (gamma', beta') with an eval-mode batch norm folded in:
    x_n * (1 + g) + b with x_n = x * scale + shift  ==  x * [scale (1 + g)] + [shift (1 + g) + b]."""
    wg, bg = _weight(spade.gamma), _bias(spade.gamma)
    wb, bb = _weight(spade.beta), _bias(spade.beta)
    norm = spade.norm
    if isinstance(norm, nn.InstanceNorm2d):  # per-image statistics: applied at run time instead
        scale, shift = torch.ones_like(bg), torch.zeros_like(bg)
    else:
        scale = torch.rsqrt(norm.running_var + norm.eps)
        shift = -norm.running_mean * scale
    s4, t4 = scale.view(-1, 1, 1, 1), shift.view(-1, 1, 1, 1)
    return torch.cat([s4 * wg, t4 * wg + wb]), torch.cat([scale * (1 + bg), shift * (1 + bg) + bb])


class _Modulation(nn.Module):
    """x and its modulation input -> x * gamma' + beta' (after instance norm, if that is the model's norm).

    SPADE: the input is the hidden activation and the conv is 3x3. Class-adaptive: the input is the
    conditioning (labels, z) and the 1x1 conv becomes a class lookup plus a 1x1 conv of z.
    """

    def __init__(self, spade: SPADE, z_dim: int, label_nc: int) -> None:
        super().__init__()
        weight, bias = _folded_modulation(spade)
        self.instance = isinstance(spade.norm, nn.InstanceNorm2d)
        self.eps = spade.norm.eps
        self.class_adaptive = weight.shape[-1] == 1
        if self.class_adaptive:
            self.cond = CondConv1x1(weight, bias, z_dim, label_nc)
            return
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1, padding_mode=spade.gamma.padding_mode)
        self.conv.weight = nn.Parameter(weight, requires_grad=False)
        self.conv.bias = nn.Parameter(bias, requires_grad=False)
        self.w_sum = nn.Parameter(weight.sum((2, 3)).t().contiguous(), requires_grad=False)  # (Cin, Cout)
        self.w_flat = nn.Parameter(_flat_kernel(weight), requires_grad=False)

    def modulation(
        self, actv: torch.Tensor, border: BorderPixels | None = None, patches: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(gamma', beta') stacked; `patches`: actv's (P, 9 * C) 3x3 patches at the `border` pixels (sparse)."""
        if border is None:
            return self.conv(actv)
        b, _, h, w = actv.shape
        gb = torch.addmm(self.conv.bias, _rows(actv), self.w_sum)  # the 1x1 equivalent, as one matrix product
        if patches is not None and patches.numel():
            gb[border.pixels] = torch.addmm(self.conv.bias, patches, self.w_flat)
        return gb.view(b, h, w, -1).permute(0, 3, 1, 2)

    def modulate(self, x: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
        gamma, beta = gb.chunk(2, dim=1)
        if self.instance:
            x = F.instance_norm(x, eps=self.eps)
        return torch.addcmul(beta, x, gamma)


class CondConv1x1(nn.Module):
    """1x1 conv over cat(z, onehot(labels)): a per-class row lookup plus a 1x1 conv of z."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor, z_dim: int, label_nc: int) -> None:
        super().__init__()
        self.table = nn.Parameter(weights[:, z_dim:, 0, 0].t().contiguous(), requires_grad=False)  # (N, Cout)
        self.wz = nn.Parameter(weights[:, :z_dim].contiguous(), requires_grad=False) if z_dim else None
        self.bias = nn.Parameter(bias, requires_grad=False)

    def forward(self, labels: torch.Tensor, z: Noise) -> torch.Tensor:
        out = F.embedding(labels, self.table).permute(0, 3, 1, 2)  # channels_last (B, Cout, h, w)
        if z is None:
            return out + self.bias.view(1, -1, 1, 1)
        if isinstance(z, SplitNoise):
            c = z.uniform.shape[1]
            out.add_((z.uniform[:, :, 0, 0] @ self.wz[:, :c, 0, 0].t())[:, :, None, None])
            return out.add_(F.conv2d(z.pixels, self.wz[:, c:], self.bias))
        if _is_uniform(z):  # global noise: one (B, Cout) product instead of a 1x1 conv over every pixel
            return out.add_((z[:, :, 0, 0] @ self.wz[:, :, 0, 0].t() + self.bias)[:, :, None, None])
        return F.conv2d(z, self.wz, self.bias).add_(out)


class FastBlock(nn.Module):
    def __init__(self, block: SPADEResBlock, z_dim: int, label_nc: int, mode: LabelMode, pixel_channels: int) -> None:
        super().__init__()
        self.reflect = block.conv_0.padding_mode == "reflect"
        norms = [block.norm_0, block.norm_1] + ([block.norm_s] if block.learned_shortcut else [])
        self.mod = nn.ModuleList(_Modulation(n, z_dim, label_nc) for n in norms)
        self.shared: CondConv | None = None
        if block.modulation == "shared":  # one hidden activation serves every norm
            self.hidden = block.shared.out_channels
            self.shared = CondConv(_weight(block.shared), _bias(block.shared), z_dim, label_nc, mode, self.reflect,
                                   pixel_channels)
            self.slot = [0] * len(norms)
        elif block.modulation == "spade":  # the norms' own hidden convs read the same input: run them as one
            self.hidden = norms[0].shared.out_channels
            shared_w = torch.cat([_weight(n.shared) for n in norms])
            shared_b = torch.cat([_bias(n.shared) for n in norms])
            self.shared = CondConv(shared_w, shared_b, z_dim, label_nc, mode, self.reflect, pixel_channels)
            self.slot = list(range(len(norms)))
        self.convs = nn.ModuleList()
        for c in [block.conv_0, block.conv_1] + ([block.conv_s] if block.learned_shortcut else []):
            plain = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, padding=c.padding, bias=c.bias is not None,
                              padding_mode=c.padding_mode)
            plain.weight = nn.Parameter(_weight(c), requires_grad=False)
            if c.bias is not None:
                plain.bias = nn.Parameter(_bias(c), requires_grad=False)
            self.convs.append(plain)
        self.learned_shortcut = block.learned_shortcut

    def _modulations(self, labels: torch.Tensor, z: Noise, sparse: bool) -> list[torch.Tensor]:
        """(gamma', beta') of each norm of the block."""
        if self.shared is None:
            return [m.cond(labels, z) for m in self.mod]
        inner = outer = None
        if sparse and self.shared.mode == "bag" and labels.numel() >= _SPARSE_MIN_PIXELS:
            edge = nonuniform(labels, z, self.shared.label_nc)
            # The hidden conv's input is uniform off `edge`; its ReLU output one pixel further in.
            wide = dilate(edge)
            if wide.float().mean().item() <= _SPARSE_MAX_FRACTION:
                inner, outer = BorderPixels(edge, self.reflect), BorderPixels(wide, self.reflect)
        pre = self.shared(labels, z) if inner is None else self.shared.forward_sparse(labels, z, inner)
        actv_all = F.relu_(pre)
        actv = actv_all.split(self.hidden, dim=1)
        patches: list[torch.Tensor | None] = [None] * (max(self.slot) + 1)
        if outer is not None:  # one gather for all the block's SPADEs, then each one's channels
            every = outer.patches(_rows(actv_all)).view(outer.pixels.numel(), 9, -1)
            patches = [every[..., k * self.hidden : (k + 1) * self.hidden].reshape(-1, 9 * self.hidden)
                       for k in range(len(patches))]
        return [m.modulation(actv[k], outer, patches[k]) for m, k in zip(self.mod, self.slot)]

    def forward(self, x: torch.Tensor, labels: torch.Tensor, z: Noise, sparse: bool = False) -> torch.Tensor:
        gb = self._modulations(labels, z, sparse)
        x_s = self.convs[2](self.mod[2].modulate(x, gb[2])) if self.learned_shortcut else x
        dx = self.convs[0](F.leaky_relu(self.mod[0].modulate(x, gb[0]), 0.2))
        dx = self.convs[1](F.leaky_relu(self.mod[1].modulate(dx, gb[1]), 0.2))
        return dx.add_(x_s)


class FastGenerator(nn.Module):
    """(labels (B, H, W) int64, noise (B, z_dim, H, W) or None) -> image (B, 3, H, W) in [-1, 1].

    Built from a trained `Generator`; its weights are frozen copies, so the source can be discarded.
    """

    def __init__(self, generator: Generator, label_mode: LabelMode = "bag", sparse: bool = False) -> None:
        super().__init__()
        cfg = generator.config
        self.config = cfg
        self.sparse = sparse
        was_training = generator.training
        generator.eval()  # eval-mode spectral norm: no power iteration, stored u and v
        z = cfg.noise_channels
        reflect = generator.head.padding_mode == "reflect"  # every rewritten conv keeps its source's padding
        k = cfg.noise_pixel_channels
        self.head = CondConv(_weight(generator.head), _bias(generator.head), z, cfg.label_nc, label_mode, reflect, k)
        self.blocks = nn.ModuleList(FastBlock(b, z, cfg.label_nc, label_mode, k) for b in generator.blocks)
        rgb = generator.to_rgb
        self.to_rgb = nn.Conv2d(rgb.in_channels, 3, 3, padding=1, padding_mode=rgb.padding_mode)
        self.to_rgb.weight = nn.Parameter(_weight(rgb), requires_grad=False)
        self.to_rgb.bias = nn.Parameter(_bias(rgb), requires_grad=False)
        generator.train(was_training)
        self.eval()

    @torch.no_grad()
    def forward(self, labels: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        h, w = labels.shape[1:]
        f = self.config.upsampling
        sizes = [(h * 2**i // f, w * 2**i // f) for i in range(len(self.blocks))]
        dtype = self.to_rgb.weight.dtype
        lab_f = labels[:, None].float()
        if noise is not None:
            noise = noise.to(dtype)
        # Global noise goes on as an expanded vector, which the label-lookup convs take in one product. Only on
        # the CPU (FLOP-bound) in "bag" mode: the check reads a value, which a CUDA graph cannot branch on.
        c = self.config.noise_channels - self.config.noise_pixel_channels  # the image-level channels
        uniform = (noise is not None and noise.device.type == "cpu" and self.head.mode == "bag" and c > 0
                   and bool((noise[:, :c] == noise[:, :c, :1, :1]).all()))
        split = uniform and c < noise.shape[1]
        # Per-pixel channels leave no uniform neighbourhoods for the sparse path to skip.
        sparse = self.sparse and self.config.noise_pixel_channels == 0

        def cond_at(size: tuple[int, int]) -> tuple[torch.Tensor, Noise]:
            lab = F.interpolate(lab_f, size=size, mode="nearest")[:, 0].long()
            if noise is None:
                return lab, None
            if split:
                pixels = F.interpolate(noise[:, c:], size=size, mode="nearest")
                return lab, SplitNoise(noise[:, :c, :1, :1].expand(-1, -1, *size),
                                       pixels.contiguous(memory_format=torch.channels_last))
            if uniform:
                return lab, noise[:, :, :1, :1].expand(-1, -1, *size)
            z = F.interpolate(noise, size=size, mode="nearest")
            return lab, z.contiguous(memory_format=torch.channels_last)

        x = self.head(*cond_at(sizes[0]))
        for i, (block, size) in enumerate(zip(self.blocks, sizes)):
            if i > 0:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(x, *cond_at(size), sparse=sparse)
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
