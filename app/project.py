"""`.oasis` projects: a zip with the label map, the noise (safetensors, never pickle), seed, model and image.

Layout of the zip (format version 1):
  manifest.json      format, format_version, seed, model {name, source, label_nc, height, width, z_dim};
                     autosave_of in a recovery file: the project file it holds the unsaved state of
  labels.png         index PNG with the model's palette (16-bit grey PNG for more than 256 classes)
  noise.safetensors  "noise" (1, z, H, W) float32, if the model has 3D noise
  image.png          the current result, if any
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from oasis_core import LabelError, ModelConfig, palette_image, validate_labels
from oasis_core import noise as noise_ops
from oasis_core.labels import open_image

FORMAT = "oasis-studio-project"
FORMAT_VERSION = 1
SUFFIX = ".oasis"


class ProjectError(ValueError):
    """A project file that cannot be opened, with the reason."""


class ModelMismatch(ProjectError):
    """A project made with a model of other classes or another size than the loaded one."""

    def __init__(self, message: str, model_name: str, model_source: str) -> None:
        super().__init__(message)
        self.model_name = model_name
        self.model_source = model_source  # what loads that model again; "" if the file does not say


@dataclass
class ProjectData:
    labels: np.ndarray
    seed: int
    noise: torch.Tensor | None
    image: np.ndarray | None
    model_name: str = ""
    model_source: str = ""
    warnings: list[str] = field(default_factory=list)
    autosave_of: str = ""  # an autosave's project file, where Save writes once it is restored ("": untitled)


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _labels_png(labels: np.ndarray, config: ModelConfig) -> bytes:
    if config.label_nc <= 256:
        return _png_bytes(palette_image(labels, config))
    return _png_bytes(Image.fromarray(labels.astype(np.uint16)))


def save_project(path: str | os.PathLike[str], data: ProjectData, config: ModelConfig) -> None:
    """Write atomically: a crash while saving leaves the previous file intact."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seed": int(data.seed),
        "model": {
            "name": data.model_name,
            "source": data.model_source,
            "label_nc": config.label_nc,
            "height": config.height,
            "width": config.width,
            "z_dim": config.z_dim,
        },
    }
    if data.autosave_of:
        manifest["autosave_of"] = data.autosave_of
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w") as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2), zipfile.ZIP_DEFLATED)
            z.writestr("labels.png", _labels_png(data.labels, config))  # PNG is compressed already
            if data.noise is not None:
                z.writestr("noise.safetensors", save_tensors({"noise": data.noise.detach().float().contiguous()}))
            if data.image is not None:
                z.writestr("image.png", _png_bytes(Image.fromarray(data.image)))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the save's own error is the one to report
            tmp.unlink(missing_ok=True)  # a failed save leaves nothing behind (megabytes per autosave attempt)
        raise


def _read_image(z: zipfile.ZipFile, name: str) -> Image.Image:
    try:
        return open_image(io.BytesIO(z.read(name)))
    except LabelError as e:
        raise ProjectError(f"{name} in the project: {e}") from e


def load_project(path: str | os.PathLike[str], config: ModelConfig) -> ProjectData:
    """Read and fully check a project against the loaded model before anything is changed."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "manifest.json" not in names or "labels.png" not in names:
                raise ProjectError(f"{path} is not an OASIS Studio project (manifest.json or labels.png missing)")
            try:
                manifest = json.loads(z.read("manifest.json"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ProjectError(f"{path}: manifest.json is corrupt ({e})") from e
            return _parse(z, manifest, names, config, str(path))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
        raise ProjectError(f"{path} is not a readable project file ({e})") from e
    except zlib.error as e:  # a deflated member whose bytes were damaged; zipfile passes it on as it is
        raise ProjectError(f"{path} is damaged: a member cannot be decompressed ({e})") from e


def _parse(z: zipfile.ZipFile, manifest: dict, names: set[str], config: ModelConfig, where: str) -> ProjectData:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{where} is not an OASIS Studio project")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ProjectError(f"{where}: project format {version!r} is newer than this program; update OASIS Studio")
    model = manifest.get("model") or {}
    if not isinstance(model, dict):
        raise ProjectError(f"{where}: manifest.json is corrupt ('model' is not an object)")
    made_with = (str(model.get("name") or ""), str(model.get("source") or ""))
    if model.get("label_nc") != config.label_nc:
        raise ModelMismatch(
            f"{where} was made with model '{model.get('name', '?')}' ({model.get('label_nc')} classes); "
            f"the loaded model '{config.name}' has {config.label_nc}. Load that model first.",
            *made_with,
        )
    seed = manifest.get("seed")
    if not isinstance(seed, int) or seed < 0:
        raise ProjectError(f"{where}: invalid seed {seed!r}")
    try:
        labels = validate_labels(np.asarray(_read_image(z, "labels.png")).astype(np.int64), config.label_nc)
    except LabelError as e:
        raise ProjectError(f"{where}: labels.png: {e}") from e
    warnings = []
    size = (config.height, config.width)
    if labels.shape != size:
        raise ModelMismatch(f"{where}: the layout is {labels.shape}, the model makes {size} images", *made_with)
    noise = None
    if config.noise_3d:
        if "noise.safetensors" in names:
            try:
                noise = load_tensors(z.read("noise.safetensors")).get("noise")
            except (SafetensorError, ValueError, RuntimeError) as e:
                raise ProjectError(f"{where}: noise.safetensors is corrupt ({e})") from e
            expected = (1, config.z_dim, *size)
            if noise is None or tuple(noise.shape) != expected or noise.dtype != torch.float32:
                raise ProjectError(f"{where}: the stored noise does not fit this model (expected {expected})")
            try:
                noise_ops.check_finite(noise, "the stored noise")  # the library would refuse it at every use
            except ValueError as e:
                raise ProjectError(f"{where}: {e}") from e
        else:
            warnings.append("the project holds no noise; it was drawn again from the seed")
    image = None
    if "image.png" in names:
        image = np.asarray(_read_image(z, "image.png").convert("RGB"))
    return ProjectData(labels, seed, noise, image, *made_with, warnings)
