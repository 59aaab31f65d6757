"""LPIPS (Zhang et al. 2018, "alex" variant, v0.1) in plain torch; weights only from files.

Two sets of weights are needed, neither bundled nor downloaded:

* the AlexNet backbone: torchvision's ``alexnet`` ImageNet state dict (``features.0.weight`` ...), or a
  saved LPIPS model (``net.slice1.0.weight`` ...);
* the LPIPS linear layers: the ``lpips`` package's ``weights/v0.1/alex.pth`` (``lin0.model.1.weight`` ...).

They may be one file or two (``--lpips-weights A [B]``); safetensors or ``torch.load(weights_only=True)``.
The distance: inputs scaled to [-1, 1] and shifted/scaled per channel, the five ReLU outputs of AlexNet
unit-normalised over channels, squared differences weighted by the linear layers, averaged over space and
summed over layers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .inception import InceptionWeightsError, read_state_dict

__all__ = ["LPIPS", "LPIPSWeightsError", "load_lpips"]

_CHANNELS = (64, 192, 384, 256, 256)
# torchvision alexnet.features indices of the five convolutions, and LPIPS' slice names for them
_TV_INDEX = (0, 3, 6, 8, 10)
_SLICE_KEYS = ("net.slice1.0", "net.slice2.3", "net.slice3.6", "net.slice4.8", "net.slice5.10")


class LPIPSWeightsError(InceptionWeightsError):
    """LPIPS weights that are missing or do not fit."""


class LPIPS(nn.Module):
    shift: torch.Tensor  # buffers
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(3, 64, 11, stride=4, padding=2),
                nn.Conv2d(64, 192, 5, padding=2),
                nn.Conv2d(192, 384, 3, padding=1),
                nn.Conv2d(384, 256, 3, padding=1),
                nn.Conv2d(256, 256, 3, padding=1),
            ]
        )
        self.lins = nn.ModuleList([nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                x = F.max_pool2d(x, kernel_size=3, stride=2)
            x = F.relu(conv(x))
            out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [-1, 1] twice -> (B,) distances."""
        total = torch.zeros(a.shape[0], device=a.device)
        for fa, fb, lin in zip(self._features(a), self._features(b), self.lins):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((na - nb) ** 2).mean((1, 2, 3))
        return total


def load_lpips(paths: Sequence[str | Path], device: str | torch.device = "cpu") -> LPIPS:
    state: dict[str, torch.Tensor] = {}
    for p in paths:
        state.update({k.removeprefix("module."): v for k, v in read_state_dict(p).items()})
    mapped: dict[str, torch.Tensor] = {}
    for k, (tv, sl) in enumerate(zip(_TV_INDEX, _SLICE_KEYS)):
        for part in ("weight", "bias"):
            for key in (f"features.{tv}.{part}", f"{sl}.{part}"):
                if key in state:
                    mapped[f"convs.{k}.{part}"] = state[key]
    for key, v in state.items():
        m = re.fullmatch(r"lin(\d)\.model\.\d\.weight", key)
        if m:
            mapped[f"lins.{m.group(1)}.weight"] = v
    net = LPIPS()
    expected = {k: v.shape for k, v in net.state_dict().items() if k not in ("shift", "scale")}
    missing = sorted(set(expected) - set(mapped))
    bad = sorted(k for k in set(expected) & set(mapped) if mapped[k].shape != expected[k])
    if missing or bad:
        raise LPIPSWeightsError(
            "LPIPS weights incomplete: need the AlexNet backbone (torchvision alexnet 'features.*') and the LPIPS "
            f"linear layers ('lin0.model.1.weight' ...); missing {missing[:4]}{' ...' if len(missing) > 4 else ''}"
            + (f", other shapes {bad[:4]}" if bad else "")
        )
    net.load_state_dict({k: v.float() for k, v in mapped.items()}, strict=False)
    return net.eval().to(device)
