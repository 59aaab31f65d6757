"""Control of OASIS's spatial (3D) noise: seeded sampling, local re-sampling and interpolation.

Noise tensors are (B, z_dim, H, W) at the model's output size, float32. Every random draw happens on
the CPU with an explicitly seeded `torch.Generator`, so a seed gives the same noise on every device.
Local operations change values only where the mask is true and leave every other value bit-identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

Level = Literal["global", "pixel"]
Interp = Literal["linear", "spherical"]

MAX_SEED = 2**63 - 1
# No sampler gives larger magnitudes: noise is N(0, 1) (beyond +-9: 2e-19 of its values) and interpolation stays
# within its end points' range. Far beyond it a generator's activations leave the range it was trained in, and
# fp16 (at most 65504) overflows to inf: the image comes out flat or black instead of an error.
MAX_ABS = 1e4


def check_finite(z: torch.Tensor, what: str = "noise") -> None:
    """Raise a ValueError that says what is wrong if `z` holds NaN, inf or values beyond +-MAX_ABS."""
    if not z.numel() or z.detach().abs().amax() <= MAX_ABS:  # one reduction in the common case; NaN fails it
        return
    magnitude = z.detach().abs()
    inf = int(magnitude.isinf().sum())
    counts = {
        "NaN": int(magnitude.isnan().sum()),
        "infinite": inf,
        f"beyond +-{MAX_ABS:g}": int((magnitude > MAX_ABS).sum()) - inf,
    }
    found = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    raise ValueError(f"{what} holds {found} of its {z.numel()} values: noise must be finite and within +-{MAX_ABS:g}")


def _rng(seed: int) -> torch.Generator:
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be in 0..{MAX_SEED}, got {seed}")
    return torch.Generator(device="cpu").manual_seed(int(seed))


def _seeds(seed: int | Sequence[int]) -> list[int]:
    return [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]


def sample(
    seed: int | Sequence[int], z_dim: int, height: int, width: int, level: Level = "global", pixel_channels: int = 0
) -> torch.Tensor:
    """One noise field per seed -> (B, z_dim, H, W).

    "global": one z_dim vector per image, broadcast over every pixel (the paper's image-level noise), except
    the last `pixel_channels` channels (a model's `noise_pixel_channels`), which are drawn per pixel.
    "pixel": an independent vector at every pixel.
    """
    if not 0 <= pixel_channels <= z_dim:
        raise ValueError(f"pixel_channels must be in 0..{z_dim}, got {pixel_channels}")
    out = []
    for s in _seeds(seed):
        g = _rng(s)
        if level == "global":
            field = torch.randn(z_dim - pixel_channels, 1, 1, generator=g).expand(-1, height, width)
            if pixel_channels:
                field = torch.cat([field, torch.randn(pixel_channels, height, width, generator=g)])
            out.append(field)
        elif level == "pixel":
            out.append(torch.randn(z_dim, height, width, generator=g))
        else:
            raise ValueError(f"level must be 'global' or 'pixel', got {level!r}")
    return torch.stack(out).contiguous()


def _as_mask(mask: torch.Tensor | np.ndarray, noise: torch.Tensor) -> torch.Tensor:
    """A boolean mask broadcastable to noise: (H, W) or (B, H, W), nearest-resized to the noise size."""
    if noise.dim() != 4:
        raise ValueError(f"noise must be (B, z, H, W), got {tuple(noise.shape)}")
    # A copy: torch warns about sharing a read-only array (e.g. a selection the app keeps read-only).
    m = torch.tensor(np.asarray(mask)) if not isinstance(mask, torch.Tensor) else mask
    if m.dtype != torch.bool:
        raise TypeError(f"mask must be boolean, got {m.dtype}")
    if m.dim() == 2:
        m = m[None]
    if m.dim() != 3 or m.shape[0] not in (1, noise.shape[0]):
        raise ValueError(f"mask must be (H, W) or (B, H, W) for {noise.shape[0]} noise fields, got {tuple(m.shape)}")
    if tuple(m.shape[1:]) != tuple(noise.shape[2:]):
        m = resize_nearest(m, (noise.shape[2], noise.shape[3]))
    return m[:, None].to(noise.device)  # (B|1, 1, H, W)


def nearest_indices(src: int, dst: int) -> torch.Tensor:
    """The source index each of `dst` positions takes in a nearest resize from `src` positions: torch's own rule
    (interpolating an index ramp; float64 holds every index exactly)."""
    ramp = torch.arange(src, dtype=torch.float64)[None, None, :, None]
    return F.interpolate(ramp, size=(dst, 1), mode="nearest")[0, 0, :, 0].long()


def resize_nearest(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest resize of the last two axes of maps (..., H, W) of any dtype, without any blending of values.

    It picks rows and columns, so it needs no float copy of the input: a huge layout costs little more than the
    result."""
    rows = nearest_indices(maps.shape[-2], size[0]).to(maps.device)
    cols = nearest_indices(maps.shape[-1], size[1]).to(maps.device)
    return maps[..., rows, :][..., cols]


def resample(
    noise: torch.Tensor, mask: torch.Tensor | np.ndarray, seed: int, level: Level = "global", pixel_channels: int = 0
) -> torch.Tensor:
    """New noise inside `mask` (one new vector for the whole region, or one per pixel; `pixel_channels` as in
    `sample`), old noise outside."""
    m = _as_mask(mask, noise)
    check_finite(noise)
    b, z, h, w = noise.shape
    fresh = sample([seed + i for i in range(b)] if b > 1 else seed, z, h, w, level, pixel_channels).to(noise)
    return torch.where(m, fresh, noise)


def resample_classes(
    noise: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    class_ids: Iterable[int],
    seed: int,
    level: Level = "global",
    pixel_channels: int = 0,
) -> torch.Tensor:
    """Re-sample the noise on every pixel whose label is in `class_ids`."""
    lab = torch.tensor(np.asarray(labels)) if not isinstance(labels, torch.Tensor) else labels
    mask = torch.isin(lab.long(), torch.tensor(sorted(set(class_ids)), dtype=torch.long))
    return resample(noise, mask, seed, level, pixel_channels)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    # Per pixel, along the channel axis; nearly parallel vectors fall back to linear interpolation.
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    cos = ((a * b).sum(1, keepdim=True) / (na * nb).clamp_min(1e-12)).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    wa = torch.sin((1.0 - t) * theta) / sin
    wb = torch.sin(t * theta) / sin
    near = sin.abs() < 1e-6
    return torch.where(near, torch.lerp(a, b, t), wa * a + wb * b)


def interpolate(
    a: torch.Tensor,
    b: torch.Tensor,
    t: float | Sequence[float],
    mode: Interp = "spherical",
    mask: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """Interpolate two noise fields of shape (1, z, H, W) (or (z, H, W)).

    `t` (in 0..1) may be a list of positions, giving one field per position (B = len(t)) for batched frames.
    t = 0 and t = 1 return `a` and `b` exactly. With `mask`, values outside it stay those of `a`.
    """
    if a.shape != b.shape:
        raise ValueError(f"noise fields differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a4, b4 = (x if x.dim() == 4 else x[None] for x in (a, b))
    if a4.shape[0] != 1:
        raise ValueError("interpolate takes single noise fields; pass several t for a batch")
    check_finite(a4, "noise field a")
    check_finite(b4, "noise field b")
    ts = [float(x) for x in np.atleast_1d(t)]  # also NumPy and 0-d tensor scalars
    if outside := [x for x in ts if not 0.0 <= x <= 1.0]:  # NaN too; beyond, fields grow without bound
        raise ValueError(f"interpolation positions must be in 0..1, got {outside}")
    frames = []
    for ti in ts:
        if ti == 0.0:
            f = a4.clone()
        elif ti == 1.0:
            f = b4.clone()
        elif mode == "linear":
            f = torch.lerp(a4, b4, ti)
        elif mode == "spherical":
            f = _slerp(a4, b4, ti)
        else:
            raise ValueError(f"mode must be 'linear' or 'spherical', got {mode!r}")
        if mask is not None:
            f = torch.where(_as_mask(mask, a4), f, a4)
        frames.append(f)
    out = torch.cat(frames)
    return out if a.dim() == 4 or len(ts) > 1 else out[0]
