"""Import the authors' published OASIS checkpoints (`*_EMA.pth` / `*_G.pth` / `*_D.pth`).

Those files are plain state dicts written with the old `torch.nn.utils.spectral_norm` (keys `weight_orig`,
`weight_u`, `weight_v`). In eval mode both that and `torch.nn.utils.parametrizations.spectral_norm` divide by
u·(W v) with the stored vectors, so the tensors map one to one and the imported model computes the same
function. Files are read with `torch.load(weights_only=True)`: tensors only, no code.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from .config import ModelConfig
from .model import ModelFileError, OasisModel, load_checked

_SN_SUFFIX = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}

_G_RULES = [
    (r"^fc\.", "head."),
    (r"^conv_img\.", "to_rgb."),
    (r"^body\.", "blocks."),
    (r"\.first_norm\.", ".norm."),
    (r"\.mlp_shared\.0\.", ".shared."),
    (r"\.mlp_gamma\.", ".gamma."),
    (r"\.mlp_beta\.", ".beta."),
]
_D_RULES = [
    (r"^body_down\.", "down."),
    (r"^body_up\.", "up."),
    (r"^layer_up_last\.", "out."),
    # The reference wraps convs in Sequentials with activations/upsampling in front of them.
    (r"\.conv([12])\.\d+\.", r".conv\1."),
]


def _read(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e})") from e
    # torch.save writes a zip (current format) or a bare pickle (legacy, protocol byte 0x80).
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise ModelFileError(f"{path}: not a readable PyTorch checkpoint (neither zip nor pickle)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0]
        raise ModelFileError(f"{path}: refused: the file holds more than tensors ({first})") from e
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: not a readable PyTorch checkpoint ({e})") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _rename(state: dict[str, torch.Tensor], rules: list[tuple[str, str]], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in rules:
            new = re.sub(pattern, repl, new)
        stem, _, leaf = new.rpartition(".")
        if leaf in _SN_SUFFIX:
            new = f"{stem}.{_SN_SUFFIX[leaf]}"
        out[prefix + new] = value.float() if value.is_floating_point() else value
    return out


def _fold_sn(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """For a target model without spectral norm: replace (original, u, v) by original / (u·(W v))."""
    out = {}
    for key, value in state.items():
        if key.endswith("parametrizations.weight.original"):
            stem = key.removesuffix("parametrizations.weight.original")
            u, v = state[stem + "parametrizations.weight.0._u"], state[stem + "parametrizations.weight.0._v"]
            sigma = torch.dot(u, value.reshape(value.shape[0], -1) @ v)
            out[stem + "weight"] = value / sigma
        elif "parametrizations.weight.0._" not in key:
            out[key] = value
    return out


def import_official(
    generator: str | os.PathLike[str],
    config: ModelConfig | str,
    discriminator: str | os.PathLike[str] | None = None,
) -> OasisModel:
    """Build an `OasisModel` from official checkpoint files.

    `generator` is `*_EMA.pth` (preferred for inference) or `*_G.pth`; `config` a `ModelConfig` or one of
    "ade20k", "cityscapes", "coco-stuff" (the paper's configurations).
    """
    cfg = ModelConfig.paper(config) if isinstance(config, str) else config
    state = _rename(_read(generator), _G_RULES, "generator.")
    head = state.get("generator.head.weight")
    if head is None:
        raise ModelFileError(f"{generator}: no 'fc.weight': not an OASIS generator checkpoint")
    if head.shape[1] != cfg.cond_channels:
        raise ModelFileError(
            f"{generator}: the checkpoint's first conv takes {head.shape[1]} channels but the config expects "
            f"{cfg.cond_channels} ({cfg.label_nc} label + {cfg.noise_channels} noise channels), so the checkpoint "
            "is for another class count (pick the config of the dataset it was trained on) or for other 3D noise "
            "(noise_3d, z_dim)"
        )
    if not cfg.spectral_norm:
        state = _fold_sn(state)
    sources = [Path(generator).name]
    if discriminator is not None:
        d_state = _rename(_read(discriminator), _D_RULES, "discriminator.")
        out = d_state.get("discriminator.out.weight")
        if out is None:
            raise ModelFileError(f"{discriminator}: no 'layer_up_last.weight': not an OASIS discriminator checkpoint")
        if out.shape[0] != cfg.label_nc + 1:
            raise ModelFileError(
                f"{discriminator}: discriminator for {out.shape[0] - 1} classes, config has {cfg.label_nc}"
            )
        state.update(d_state if cfg.spectral_norm and cfg.d_spectral_norm else _fold_sn(d_state))
        sources.append(Path(discriminator).name)
    model = OasisModel(cfg, with_discriminator=discriminator is not None)
    load_checked(model, state, source=" + ".join(sources))
    return model.eval()
