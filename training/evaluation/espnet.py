"""ESPNet (Mehta et al., ECCV 2018) as an independent CamVid mIoU judge.

"ESPNet: Efficient Spatial Pyramid of Dilated Convolutions for Semantic Segmentation" builds its encoder from
ESP modules: a 1x1 (or strided 3x3) convolution reduces the channels, five parallel 3x3 convolutions with
dilation 1, 2, 4, 8, 16 see growing contexts, and the dilated branches are summed hierarchically (2, 2+4,
2+4+8, 2+4+8+16) before the concatenation, which removes the gridding artefacts of large dilations. The
image, average-pooled to 1/2 and 1/4, is concatenated back in at each stage. The decoder projects the 1/8
and 1/4 features to class maps and upsamples them with 2x2 transposed convolutions.

This is our own implementation of the published model with p=2, q=8 (ESPNet-C encoder + light decoder,
about 0.36 M parameters); its parameter names follow the authors' code (MIT licence) so that their
CamVid weights (``espnet_p_2_q_8_camvid.pth``, a plain state dict) load with ``strict=True``. Those
weights have 12 outputs: the 11 CamVid classes of the SegNet split and void (id 11).

Input pipeline of those weights (from their training code): BGR, ``(x - mean) / std`` per channel on
0..255 values with the CamVid train statistics, then divided by 255; the network runs at 480x360.
:class:`CamVidESPNet` wraps that around :class:`ESPNet`, so the judge feeds it RGB in [0, 1].
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from .judge import JudgeError

__all__ = [
    "CAMVID_CLASS_NAMES",
    "CAMVID_MEAN_BGR",
    "CAMVID_SIZE",
    "CAMVID_STD_BGR",
    "CAMVID_VOID_ID",
    "CamVidESPNet",
    "ESPNet",
    "ESPNetEncoder",
    "load_espnet_camvid",
]

# The order of the SegNet CamVid labels (as assets/datasets/camvid.classes.json); void is the don't-care.
CAMVID_CLASS_NAMES = (
    "sky", "building", "pole", "road", "pavement", "tree", "sign/symbol", "fence", "car", "pedestrian",
    "bicyclist", "void",
)  # fmt: skip
CAMVID_VOID_ID = 11
CAMVID_SIZE = (360, 480)  # (height, width) the weights were trained and are evaluated at
CAMVID_MEAN_BGR = (110.331, 108.409, 105.033)  # CamVid train photos, 0..255, B, G, R
CAMVID_STD_BGR = (72.126, 72.691, 69.904)

BN_EPS = 1e-3  # the authors' BatchNorm eps; the stored running statistics assume it


class Conv(nn.Module):
    """A bias-free 'same'-padded convolution (the authors' ``C`` and ``CDilated``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        pad = (kernel - 1) // 2 * dilation
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class BNPReLU(nn.Module):
    """Batch norm then a per-channel PReLU (``BR``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class ConvBNPReLU(nn.Module):
    """A bias-free 'same'-padded convolution, batch norm, PReLU (``CBR``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _SpatialPyramid(nn.Module):
    """Reduce (``c1``), split into five dilated 3x3 branches, fuse hierarchically, concatenate.

    The output width ``cout`` is split into four branches of ``cout // 5`` channels and a dilation-1 branch
    that takes the remainder, so the concatenation has exactly ``cout`` channels.
    """

    def __init__(self, cin: int, cout: int, reduce_kernel: int, stride: int) -> None:
        super().__init__()
        n = cout // 5
        self.c1 = Conv(cin, n, reduce_kernel, stride=stride)
        self.d1 = Conv(n, cout - 4 * n, 3, dilation=1)
        self.d2 = Conv(n, n, 3, dilation=2)
        self.d4 = Conv(n, n, 3, dilation=4)
        self.d8 = Conv(n, n, 3, dilation=8)
        self.d16 = Conv(n, n, 3, dilation=16)

    def pyramid(self, x: torch.Tensor) -> torch.Tensor:
        r = self.c1(x)
        add1 = self.d2(r)
        add2 = add1 + self.d4(r)  # hierarchical feature fusion: each sum adds the next larger context
        add3 = add2 + self.d8(r)
        add4 = add3 + self.d16(r)
        return torch.cat([self.d1(r), add1, add2, add3, add4], 1)


class StridedESP(_SpatialPyramid):
    """The down-sampling ESP module (``DownSamplerB``): strided 3x3 reduction, no residual."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, reduce_kernel=3, stride=2)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pyramid(x)))


class ESPBlock(_SpatialPyramid):
    """The ESP module (``DilatedParllelResidualBlockB``): 1x1 reduction, optional identity residual."""

    def __init__(self, cin: int, cout: int, residual: bool = True) -> None:
        super().__init__(cin, cout, reduce_kernel=1, stride=1)
        if residual and cin != cout:
            raise ValueError(f"an identity residual needs cin == cout, got {cin} -> {cout}")
        self.bn = BNPReLU(cout)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pyramid(x)
        return self.bn(x + y if self.residual else y)


def _pool_image(x: torch.Tensor, times: int) -> torch.Tensor:
    """The input image at 1 / 2**times by repeated 3x3 stride-2 average pooling (``InputProjectionA``)."""
    for _ in range(times):
        x = F.avg_pool2d(x, 3, stride=2, padding=1)  # count_include_pad=True, as nn.AvgPool2d's default
    return x


class ESPNetEncoder(nn.Module):
    """ESPNet-C: strides 2, 4, 8 with ``p`` ESP modules at 1/4 and ``q`` at 1/8, and a 1x1 classifier.

    :meth:`features` returns the three concatenations the decoder reuses: 1/2 (16 + 3 channels),
    1/4 (128 + 3) and 1/8 (256).
    """

    def __init__(self, classes: int, p: int = 2, q: int = 8) -> None:
        super().__init__()
        self.level1 = ConvBNPReLU(3, 16, 3, stride=2)
        self.b1 = BNPReLU(16 + 3)
        self.level2_0 = StridedESP(16 + 3, 64)
        self.level2 = nn.ModuleList(ESPBlock(64, 64) for _ in range(p))
        self.b2 = BNPReLU(128 + 3)
        self.level3_0 = StridedESP(128 + 3, 128)
        self.level3 = nn.ModuleList(ESPBlock(128, 128) for _ in range(q))
        self.b3 = BNPReLU(256)
        self.classifier = Conv(256, classes, 1)

    def features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        half = self.b1(torch.cat([self.level1(image), _pool_image(image, 1)], 1))
        down2 = self.level2_0(half)
        x = down2
        for block in self.level2:
            x = block(x)
        quarter = self.b2(torch.cat([x, down2, _pool_image(image, 2)], 1))
        down3 = self.level3_0(quarter)
        x = down3
        for block in self.level3:
            x = block(x)
        eighth = self.b3(torch.cat([down3, x], 1))
        return half, quarter, eighth

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(image)[2])


def _up2(channels: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False)


class ESPNet(nn.Module):
    """ESPNet: the encoder plus the light decoder (1/8 class map, upsampled and fused with the 1/4 and
    1/2 features, then a final 2x transposed convolution).

    Input (B, 3, H, W) with H and W multiples of 8 (480x360 for the CamVid weights), already normalised
    as the weights expect; output (B, classes, H, W) logits.
    """

    def __init__(self, classes: int = 12, p: int = 2, q: int = 8) -> None:
        super().__init__()
        self.encoder = ESPNetEncoder(classes, p, q)
        self.level3_C = Conv(128 + 3, classes, 1)
        self.br = nn.BatchNorm2d(classes, eps=BN_EPS)
        self.up_l3 = nn.Sequential(_up2(classes))
        self.combine_l2_l3 = nn.Sequential(BNPReLU(2 * classes), ESPBlock(2 * classes, classes, residual=False))
        self.up_l2 = nn.Sequential(_up2(classes), BNPReLU(classes))
        self.conv = ConvBNPReLU(16 + 3 + classes, classes, 3)
        self.classifier = _up2(classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2] % 8 or image.shape[-1] % 8:
            raise ValueError(f"ESPNet needs height and width divisible by 8, got {tuple(image.shape[-2:])}")
        half, quarter, eighth = self.encoder.features(image)
        x = self.up_l3(self.br(self.encoder.classifier(eighth)))  # 1/8 -> 1/4
        x = self.up_l2(self.combine_l2_l3(torch.cat([self.level3_C(quarter), x], 1)))  # 1/4 -> 1/2
        return self.classifier(self.conv(torch.cat([x, half], 1)))  # 1/2 -> 1


class CamVidESPNet(nn.Module):
    """:class:`ESPNet` behind the CamVid weights' input pipeline.

    Input (B, 3, H, W) RGB in [0, 1] (H, W multiples of 8; the judge resizes to 480x360 first); output
    (B, 12, H, W) logits, void included.
    """

    mean: torch.Tensor  # buffers
    std: torch.Tensor

    def __init__(self, net: ESPNet) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(CAMVID_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CAMVID_STD_BGR).view(1, 3, 1, 1), persistent=False)

    def normalise(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the network's input: BGR, (x - mean) / std on 0..255 values, then / 255."""
        bgr = rgb.flip(1) * 255
        return (bgr - self.mean) / self.std / 255

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalise(rgb))


def _reason(e: Exception) -> str:
    """The useful part of a torch.load error: the unpickler's refusal, not its advice to switch it off."""
    text = str(e)
    if "WeightsUnpickler error:" in text:  # the reason follows on the same line or after a blank one
        return text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0].split(". ")[0]
    return f"{type(e).__name__}: {text.strip()[:200]}"


def load_espnet_camvid(path: str | os.PathLike[str]) -> CamVidESPNet:
    """The published ESPNet (p=2, q=8) CamVid weights -> :class:`CamVidESPNet` in eval mode.

    The file is read with ``weights_only=True`` (tensors and plain containers only; no code runs).
    Raises :class:`JudgeError` for a file that is missing, not a plain state dict, or whose keys or
    shapes are not those of ESPNet p=2, q=8 with 12 classes.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise JudgeError(f"ESPNet weights {path} do not exist") from None
    except Exception as e:  # the unpickler's refusals and corrupt files come as several exception types
        raise JudgeError(f"{path}: not a plain state dict loadable with weights_only=True ({_reason(e)})") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise JudgeError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    net = ESPNet(classes=len(CAMVID_CLASS_NAMES), p=2, q=8)
    expected = set(net.state_dict())
    # The published weights predate BatchNorm's num_batches_tracked buffer (unused in eval mode): optional.
    required = {k for k in expected if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(required - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise JudgeError(
            f"{path}: not the ESPNet p=2, q=8 CamVid state dict: "
            + "; ".join(
                f"{len(keys)} {what} key(s): {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
                for what, keys in (("missing", missing), ("unexpected", unexpected))
                if keys
            )
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:  # shape mismatches
        raise JudgeError(f"{path}: the ESPNet weights do not fit the p=2, q=8, 12-class network: {e}") from None
    return CamVidESPNet(net).eval()
