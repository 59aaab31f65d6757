"""Border-only evaluation of the SPADE convs of `FastGenerator(sparse=True)`.

Label maps, and noise away from re-rolled regions, are piecewise constant. Where the input of a 3x3 conv is
identical over a pixel's 3x3 neighbourhood, the conv equals a 1x1 conv with the summed kernel (a ninth of the
work); the full 3x3 conv is evaluated only at the remaining pixels (region borders, image borders), gathered into
one matrix product. The SPADE convs see cat(z, onehot) (uniform away from borders) and ReLU of its conv (uniform
one pixel further in), so on painted layouts most of their work disappears. Data-dependent shapes: meant for
eager CPU inference.

Noise comes as one tensor (or None): a model with per-pixel noise channels has no uniform neighbourhoods to
skip, so `FastGenerator` builds no sparse path for it and its split noise never reaches this module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Below this many pixels per stage the bookkeeping of the sparse path costs more than it saves.
MIN_PIXELS = 32 * 32
# Above this share of border pixels the dense 3x3 conv is cheaper.
MAX_FRACTION = 0.4

TAPS = [(dy, dx) for dy in range(3) for dx in range(3)]


def is_uniform(z: torch.Tensor) -> bool:
    """Global noise as FastGenerator passes it on: a (B, z, 1, 1) vector expanded over the map (no copy)."""
    return z.stride(2) == 0 and z.stride(3) == 0


def tap_terms(wz: torch.Tensor, zvec: torch.Tensor) -> torch.Tensor:
    """(B, c) -> (B, Cout, 3, 3): what each tap of a 3x3 conv over the first c channels of `wz` (Cout, C, 3, 3)
    adds when every pixel reads the vector."""
    return torch.einsum("oikl,bi->bokl", wz[:, : zvec.shape[1]], zvec)


def flat_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, 3, 3) -> (9 * Cin, Cout) matching patches laid out as (tap, channel)."""
    return weight.permute(2, 3, 1, 0).reshape(-1, weight.shape[0]).contiguous()


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """View a channels_last (B, C, H, W) tensor as (B, H, W, C) without copying."""
    return x.permute(0, 2, 3, 1)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) channels_last (or a channel slice of one) -> its pixels as rows (B * h * w, C), a view."""
    return _nhwc(x).reshape(-1, x.shape[1])


class BorderPixels:
    """The pixels of one stage where a 3x3 conv must be evaluated in full, and how to gather their 3x3 patches.

    `pixels`: (P,) sorted flat indices into (B, h, w); `src`: (P, 9) flat indices of each pixel's neighbours in
    the same map, reflected at the image border (reflect padding) or clamped there, in which case `outside`
    (P, 9) marks the taps that read the zero padding (None when no tap does). No padded copy of a map is made.
    """

    def __init__(self, mask: torch.Tensor, reflect: bool = False) -> None:
        h, w = mask.shape[1:]
        self.pixels = mask.reshape(-1).nonzero().squeeze(1)
        n, rem = self.pixels // (h * w), self.pixels % (h * w)
        taps = torch.tensor(TAPS, device=mask.device) - 1  # (9, 2) offsets
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


def nonuniform(labels: torch.Tensor, z: torch.Tensor | None, sentinel: int) -> torch.Tensor:
    """(B, h, w) True where a 3x3 neighbour differs in label or noise, or lies outside the image (whatever the
    padding: the border pixels are always evaluated in full)."""
    h, w = labels.shape[1:]
    neighbours = [(dy, dx) for dy, dx in TAPS if (dy, dx) != (1, 1)]
    lp = F.pad(labels, (1, 1, 1, 1), value=sentinel)
    mask = torch.zeros_like(labels, dtype=torch.bool)
    for dy, dx in neighbours:
        mask |= lp[:, dy : dy + h, dx : dx + w] != labels
    if z is not None and not is_uniform(z):  # one vector per image (global noise) has no borders to look for
        zn = _nhwc(z)
        zp = F.pad(zn, (0, 0, 1, 1, 1, 1))
        for dy, dx in neighbours:
            mask |= (zp[:, dy : dy + h, dx : dx + w] != zn).any(-1)
    return mask


def dilate(mask: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(mask[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0


class SparseCondConv(nn.Module):
    """The label-lookup 3x3 conv over cat(z, onehot(labels)) of `fast.CondConv`, in full only at border pixels.

    `table`, `bias` and `wz` are that conv's own parameters (tied, not copied): table[k * (N + 1) + c] is the
    weight column of class c at tap k, row N of each tap the zero padding; wz (Cout, z_dim, 3, 3) the noise part.
    """

    def __init__(self, table: nn.Parameter, bias: nn.Parameter, wz: nn.Parameter, label_nc: int) -> None:
        super().__init__()
        self.label_nc = label_nc
        self.table, self.bias, self.wz = table, bias, wz
        self.register_buffer("tap_offset", torch.arange(9) * (label_nc + 1), persistent=False)
        # Off the border every tap reads the same class and noise: the 1x1 equivalents, summed over the taps.
        self.table_sum = nn.Parameter(table.detach().view(9, label_nc + 1, -1).sum(0), requires_grad=False)
        self.wz_sum = nn.Parameter(wz.detach().sum((2, 3), keepdim=True), requires_grad=False)
        self.wz_flat = nn.Parameter(flat_kernel(wz.detach()), requires_grad=False)

    tap_offset: torch.Tensor

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None, border: BorderPixels) -> torch.Tensor:
        """(B, h, w) int64, (B, z_dim, h, w) or None -> (B, Cout, h, w) channels_last, as the dense conv's."""
        b, h, w = labels.shape
        out = F.embedding(labels, self.table_sum).permute(0, 3, 1, 2)  # channels_last (B, Cout, h, w)
        taps = None
        if z is None:
            out = out + self.bias.view(1, -1, 1, 1)
        elif is_uniform(z):  # off the border every tap reads the image: the sum of the tap terms
            taps = tap_terms(self.wz, z[:, :, 0, 0])
            out = out.add_(taps.sum((2, 3), keepdim=True)).add_(self.bias.view(1, -1, 1, 1))
        else:
            out = F.conv2d(z, self.wz_sum, self.bias).add_(out)
        if border.pixels.numel():
            rows = border.labels(labels, self.label_nc) + self.tap_offset  # (P, 9) rows of the table
            exact = F.embedding_bag(rows, self.table, mode="sum") + self.bias
            if taps is not None:  # the tap terms of the taps that read the image (with zero padding, not those outside)
                inside = exact.new_ones(rows.shape) if border.outside is None else (~border.outside).to(exact.dtype)
                flat = taps.permute(0, 2, 3, 1).reshape(b, 9, -1)  # (B, 9, Cout), taps in TAPS order
                counts = torch.bincount(border.pixels // (h * w), minlength=b).tolist()  # pixels are sorted
                exact = exact + torch.cat([part @ flat[n] for n, part in enumerate(inside.split(counts))])
            elif z is not None:
                exact = exact + border.patches(_rows(z)) @ self.wz_flat
            _rows(out)[border.pixels] = exact
        return out


class SparseConv3x3(nn.Module):
    """A 3x3 conv (weight (Cout, Cin, 3, 3), bias) evaluated as its 1x1 equivalent off the border pixels."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.w_sum = nn.Parameter(weight.detach().sum((2, 3)).t().contiguous(), requires_grad=False)  # (Cin, Cout)
        self.w_flat = nn.Parameter(flat_kernel(weight.detach()), requires_grad=False)

    def forward(self, x: torch.Tensor, border: BorderPixels, patches: torch.Tensor) -> torch.Tensor:
        """(B, Cin, h, w) channels_last and its (P, 9 * Cin) 3x3 patches at `border` -> (B, Cout, h, w)."""
        b, _, h, w = x.shape
        out = torch.addmm(self.bias, _rows(x), self.w_sum)  # the 1x1 equivalent, as one matrix product
        if patches.numel():
            out[border.pixels] = torch.addmm(self.bias, patches, self.w_flat)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)


class SparseModulations(nn.Module):
    """A block's SPADE modulations, (gamma', beta') per norm, from a hidden conv and ReLU that every norm reads:
    one `hidden` (slots [0, 0, ...], "shared") or one per norm stacked along channels (slots [0, 1, ...])."""

    def __init__(
        self, hidden: SparseCondConv, convs: list[SparseConv3x3], slots: list[int], width: int, reflect: bool
    ) -> None:
        super().__init__()
        self.hidden, self.convs = hidden, nn.ModuleList(convs)
        self.slots, self.width, self.reflect = slots, width, reflect

    def forward(self, labels: torch.Tensor, z: torch.Tensor | None) -> list[torch.Tensor] | None:
        """(gamma', beta') of each norm, or None where the dense convs are cheaper (small stage, many borders)."""
        if z is not None and not isinstance(z, torch.Tensor):
            raise TypeError(
                f"the sparse path takes noise as one tensor or None, not {type(z).__name__}: split noise "
                "(per-pixel channels) leaves no uniform neighbourhoods to skip"
            )
        if labels.numel() < MIN_PIXELS:
            return None
        edge = nonuniform(labels, z, self.hidden.label_nc)
        # The hidden conv's input is uniform off `edge`; its ReLU output one pixel further in.
        wide = dilate(edge)
        if wide.float().mean().item() > MAX_FRACTION:
            return None
        inner, outer = BorderPixels(edge, self.reflect), BorderPixels(wide, self.reflect)
        actv = F.relu_(self.hidden(labels, z, inner))
        # One gather for all the block's SPADEs, then each one's channels.
        every = outer.patches(_rows(actv)).view(outer.pixels.numel(), 9, -1)
        n = max(self.slots) + 1
        patches = [every[..., k * self.width : (k + 1) * self.width].reshape(-1, 9 * self.width) for k in range(n)]
        parts = actv.split(self.width, dim=1)
        return [conv(parts[k], outer, patches[k]) for conv, k in zip(self.convs, self.slots)]
