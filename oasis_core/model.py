"""Model files: a folder (or Hugging Face Hub repo) with `config.json` + `model.safetensors`.

`model.safetensors` holds the generator (`generator.*`, the EMA weights for inference) and, optionally,
the discriminator (`discriminator.*`, used as a segmenter). Tensors are the modules' own state dicts
(spectral-norm parametrisations and batch-norm statistics included), so a saved model reloads exactly and
can warm-start training. Only safetensors are ever read: no pickle from a model file is executed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .config import FORMAT_VERSION, ModelConfig
from .discriminator import Discriminator
from .generator import Generator

WEIGHTS_NAME = constants.SAFETENSORS_SINGLE_FILE  # "model.safetensors"
CONFIG_NAME = constants.CONFIG_NAME  # "config.json"
DEFAULT_MODEL_NAME = "landscapes"


class ModelFileError(RuntimeError):
    """A model folder or file that cannot be used, with the reason and what to do about it."""


# The card a saved folder starts with (kept when the folder already has one): what it is and how to open it.
MODEL_CARD = """---
{{ card_data }}
---

# {{ name }}

OASIS ([Sushko, Schönfeld et al., ICLR 2021]({{ paper_url }})) generator{{ " and discriminator (photo to layout)" \
if has_discriminator }} for {{ num_classes }} label channels: {{ classes }}. Output {{ height }}x{{ width }}.

Open it in OASIS Studio (*Model > Open Model Folder...*, or `oasis-studio --model <folder or Hub id>`), or from Python:

```python
from oasis_core import Synthesizer, load_model

synth = Synthesizer(load_model("<folder or Hub id>"))
image = synth.generate(labels, seed=0)  # labels: (H, W) class ids
```

Still to add: the training data and its licence, the commands, iterations and metrics (`oasis-eval`).
"""


class OasisModel(
    nn.Module,
    ModelHubMixin,
    library_name="oasis-studio",
    tags=["oasis", "semantic-image-synthesis", "gan"],
    paper_url="https://arxiv.org/abs/2012.04781",
    pipeline_tag="image-to-image",
    model_card_template=MODEL_CARD,
):
    """A generator (EMA weights) and an optional discriminator sharing one `ModelConfig`."""

    def __init__(self, config: ModelConfig, with_discriminator: bool = True) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config) if with_discriminator else None

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    # ---- ModelHubMixin hooks ---------------------------------------------------------------------
    def generate_model_card(self, *args: Any, **kwargs: Any) -> Any:
        cfg = self.config
        names = cfg.class_names or tuple(str(i) for i in range(cfg.label_nc))
        return super().generate_model_card(
            *args, name=cfg.name or "OASIS model", num_classes=cfg.label_nc, classes=", ".join(names),
            height=cfg.height, width=cfg.width, has_discriminator=self.has_discriminator, **kwargs,
        )  # fmt: skip

    def _save_pretrained(self, save_directory: Path) -> None:
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        meta = {"format": "oasis-studio", "format_version": str(FORMAT_VERSION)}
        _atomic_write(save_directory / WEIGHTS_NAME, lambda p: save_file(tensors, str(p), metadata=meta))
        _atomic_write(save_directory / CONFIG_NAME, lambda p: p.write_text(self.config.to_json()))

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: ModelConfig | dict[str, Any] | None = None,
        with_discriminator: bool = True,
        **_: Any,
    ) -> OasisModel:
        if isinstance(config, dict):  # huggingface_hub hands over the raw JSON when it cannot decode it itself
            config = ModelConfig.from_dict(config)
        if not isinstance(config, ModelConfig):
            raise ModelFileError(f"{model_id}: no {CONFIG_NAME} found; is this an OASIS Studio model folder?")
        if os.path.isdir(model_id):
            weights = Path(model_id) / WEIGHTS_NAME
            if not weights.is_file():
                pickles = sorted(p.name for p in Path(model_id).glob("*.pt*")) + sorted(
                    p.name for p in Path(model_id).glob("*.bin")
                )
                hint = (
                    f" It holds {', '.join(pickles)}: pickled checkpoints are never loaded directly; convert "
                    "official OASIS checkpoints with `oasis_core.import_official`."
                    if pickles
                    else ""
                )
                raise ModelFileError(f"{model_id}: {WEIGHTS_NAME} is missing.{hint}")
        else:
            weights = Path(
                hf_hub_download(
                    repo_id=model_id,
                    filename=WEIGHTS_NAME,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            )
        state = read_weights(weights)
        with_d = with_discriminator and any(k.startswith("discriminator.") for k in state)
        if not with_d:
            state = {k: v for k, v in state.items() if not k.startswith("discriminator.")}
        # Shapes are checked on a model without storage first: a damaged config.json (channels_g: 100000) would
        # otherwise allocate gigabytes, or more than the machine has, before the mismatch is found.
        try:
            with torch.device("meta"):
                skeleton = cls(config, with_discriminator=with_d)
            model = None
        except (ImportError, OSError):
            # torch draws random values on the meta device through its compiler stack (torch._dynamo, sympy,
            # source inspection), which the app bundle leaves out: there the real model is checked instead.
            skeleton = model = cls(config, with_discriminator=with_d)
        check_weights(skeleton, state, source=str(weights))
        if model is None:
            model = cls(config, with_discriminator=with_d)
        model.load_state_dict(state)
        return model.eval()


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    # safetensors creates its files 0600; a model folder is shared like any other file the user writes.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file as float32 tensors, turning every failure into a clear `ModelFileError`."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] == b"\x80" or head == b"PK":
            raise ModelFileError(
                f"{path} is a pickled PyTorch file, not safetensors; it was not loaded (pickles can run code). "
                "Convert official OASIS checkpoints with `oasis_core.import_official`."
            ) from e
        raise ModelFileError(f"{path} is truncated or corrupt and cannot be read as safetensors ({e})") from e
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    if damaged := sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()):
        raise ModelFileError(
            f"{path}: {len(damaged)} tensors hold NaN or inf values (e.g. {damaged[0]}), so every image would come out "
            "black: the weights are damaged (a diverged training run, or a failed conversion)"
        )
    return state


def load_checked(model: OasisModel, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with messages that name the real problem (mostly: another class count)."""
    check_weights(model, state, source)
    model.load_state_dict(state)


def check_weights(model: OasisModel, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise a ModelFileError naming the real problem (mostly: another class count) if `state` does not fit `model`.
    Only shapes are compared, so `model` may live on the meta device."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if mismatched:
        head = state.get("generator.head.weight")
        cfg = model.config
        if head is not None and head.shape[1] != cfg.cond_channels:
            found = head.shape[1] - cfg.noise_channels
            count = (
                f"the weights are for {found} label channels but the config says {cfg.label_nc}: " if found > 0 else ""
            )
            raise ModelFileError(
                f"{source}: {count}the generator's first layer takes {head.shape[1]} input channels, the config "
                f"describes {cfg.cond_channels} ({cfg.noise_channels} noise + {cfg.label_nc} labels); "
                "the weights and config.json belong to different models"
            )
        k = min(mismatched)
        raise ModelFileError(
            f"{source}: {len(mismatched)} tensors have the wrong shape for this config "
            f"(e.g. {k}: file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        )
    if missing or unexpected:
        raise ModelFileError(
            f"{source}: weights do not match the config ({len(missing)} missing, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:3]})"
        )


def load_model(
    path_or_hub_id: str | os.PathLike[str],
    *,
    local_files_only: bool = False,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    with_discriminator: bool = True,
) -> OasisModel:
    """Load a model folder or a Hub repo id (downloaded through, and cached by, huggingface_hub).

    `HF_HUB_OFFLINE=1` or `local_files_only=True` restricts Hub ids to the local cache.
    """
    ref = str(path_or_hub_id)
    hub: dict[str, Any] = {
        "revision": revision,
        "cache_dir": cache_dir,
        "token": token,
        "local_files_only": local_files_only,
    }
    from_hub = False
    if os.path.isdir(ref):
        config = _read_config(Path(ref) / CONFIG_NAME, ref)
    elif os.path.isfile(ref):
        raise ModelFileError(f"{ref} is a file: pass the model folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    elif isinstance(path_or_hub_id, os.PathLike) or not _could_be_hub_id(ref):
        raise ModelFileError(
            f"{ref}: no such model folder, and not a Hugging Face Hub id ('name' or 'owner/name'): "
            f"nothing at {_absolute(ref)}"
        )
    else:
        # Fetched here, not only inside from_pretrained: that one turns the Hub's answer for config.json (a missing
        # repository, say) into a log line and goes on without a config.
        with _hub_answers(ref, local_files_only):
            config_file = hf_hub_download(ref, CONFIG_NAME, **hub)
        config = _read_config(Path(config_file), ref)
        from_hub = True
    with _hub_answers(ref, local_files_only) if from_hub else nullcontext():
        return OasisModel.from_pretrained(ref, config=config, with_discriminator=with_discriminator, **hub)


# Suffixes of files someone may pass instead of their model folder. Not any suffix: Hub repository names may hold
# dots ("owner/model-v1.5").
_FILE_SUFFIXES = {".safetensors", ".json", ".pt", ".pth", ".bin", ".ckpt", ".pkl", ".zip", ".png", ".jpg", ".oasis"}


def _could_be_hub_id(ref: str) -> bool:
    """Hub ids are "name" or "owner/name". Anything else is a path, refused at once instead of being asked of the Hub
    (without a network, that is about 25 s of retries and an error about the Hub, not the folder)."""
    if ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") > 1:
        return False
    if Path(ref).suffix.lower() in _FILE_SUFFIXES:
        return False
    try:
        validate_repo_id(ref)
    except HFValidationError:
        return False
    return True


def _absolute(ref: str) -> str:
    return os.path.abspath(os.path.expanduser(ref))


@contextmanager
def _hub_answers(ref: str, local_files_only: bool) -> Iterator[None]:
    """Turn what the Hub answered for `ref`, which is no local folder either, into a ModelFileError that says both."""
    try:
        yield
    except GatedRepoError as e:
        answer = f"the Hugging Face Hub repository {ref} is gated: accept its terms on huggingface.co, then log in"
        raise ModelFileError(_not_here(ref, answer + " (`hf auth login`)")) from e
    except RepositoryNotFoundError as e:  # also private repositories without a login
        answer = f"the Hugging Face Hub has no repository {ref} (a private one needs a login: `hf auth login`)"
        raise ModelFileError(_not_here(ref, answer)) from e
    except RevisionNotFoundError as e:
        raise ModelFileError(_not_here(ref, f"the Hugging Face Hub repository {ref} has no such revision")) from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        if local_files_only:
            why = "downloading is off (local_files_only, oasis-generate --offline)"
        elif constants.HF_HUB_OFFLINE or any(isinstance(x, OfflineModeIsEnabled) for x in (e, e.__cause__)):
            why = "downloading is off (offline mode: HF_HUB_OFFLINE is set)"
        else:
            why = f"the Hugging Face Hub could not be reached (no network? {e.__cause__ or e}); connect and retry"
        raise ModelFileError(_not_here(ref, f"{ref} is not in the local Hugging Face cache and {why}")) from e
    except EntryNotFoundError as e:
        answer = f"the Hugging Face Hub repository {ref} has no {CONFIG_NAME} or {WEIGHTS_NAME}: no OASIS Studio model"
        raise ModelFileError(_not_here(ref, answer)) from e
    except HfHubHTTPError as e:
        raise ModelFileError(_not_here(ref, f"the Hugging Face Hub answered for {ref}: {e}")) from e


def _not_here(ref: str, hub_answer: str) -> str:
    return f"no model folder at {_absolute(ref)}, and {hub_answer}"


def _read_config(path: Path, ref: str) -> ModelConfig:
    """The model's config.json, any damage reported as a ModelFileError (read here, not by huggingface_hub, which
    fails with an AttributeError on JSON that is no object)."""
    if not path.is_file():
        raise ModelFileError(f"{ref}: no {CONFIG_NAME}; is this an OASIS Studio model folder?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{ref}: invalid {CONFIG_NAME}: {e}") from e
    if not isinstance(data, dict):
        raise ModelFileError(f"{ref}: invalid {CONFIG_NAME}: a JSON object is expected, not {type(data).__name__}")
    try:
        return ModelConfig.from_dict(data)
    except (ValueError, TypeError) as e:  # ConfigError, and what a value of the wrong type raises (int("a"))
        raise ModelFileError(f"{ref}: invalid {CONFIG_NAME}: {e}") from e


def assets_dir() -> Path:
    """The project's assets/ folder: inside the PyInstaller bundle, or in the repository."""
    if base := getattr(sys, "_MEIPASS", None):
        return Path(base) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def models_dir() -> Path:
    """Where bundled models live: $OASIS_MODELS_DIR, else assets/models (bundle or repository)."""
    if env := os.environ.get("OASIS_MODELS_DIR"):
        return Path(env)
    return assets_dir() / "models"


def bundled_models() -> dict[str, Path]:
    """Name -> folder of every bundled model."""
    root = models_dir()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()}


def default_model(*, with_discriminator: bool = True) -> OasisModel:
    """The bundled default model ("landscapes", else the first bundled one)."""
    models = bundled_models()
    if not models:
        raise ModelFileError(
            f"no model is bundled under {models_dir()}: a non-editable `pip install` leaves out the repository's "
            "assets/ (install with `pip install -e`, or set OASIS_MODELS_DIR), or train one with `oasis-train` and "
            "export it there, or open a model folder / Hub id"
        )
    path = models.get(DEFAULT_MODEL_NAME) or next(iter(models.values()))
    return load_model(path, with_discriminator=with_discriminator)
