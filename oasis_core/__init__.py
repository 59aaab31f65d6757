"""OASIS Studio's inference engine: OASIS networks, 3D-noise control, model files and a fast synthesizer.

No Qt and no training code here; the app, the CLIs and training all build on this package's API.
"""

from . import noise
from .config import ConfigError, ModelConfig
from .discriminator import Discriminator
from .fast import FastGenerator
from .generator import Generator
from .labels import (
    LabelError,
    LoadedLabels,
    colorize,
    colors_to_labels,
    image_to_rgb,
    palette_image,
    random_layout,
    read_label_png,
    save_label_png,
    validate_labels,
)
from .model import (
    DEFAULT_MODEL_NAME,
    ModelFileError,
    OasisModel,
    assets_dir,
    bundled_models,
    default_model,
    load_model,
    models_dir,
)
from .official import import_official
from .synthesizer import Synthesizer, cpu_has_fast_bf16, select_device

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ConfigError",
    "Discriminator",
    "FastGenerator",
    "Generator",
    "LabelError",
    "LoadedLabels",
    "ModelConfig",
    "ModelFileError",
    "OasisModel",
    "Synthesizer",
    "assets_dir",
    "bundled_models",
    "colorize",
    "cpu_has_fast_bf16",
    "colors_to_labels",
    "default_model",
    "image_to_rgb",
    "import_official",
    "load_model",
    "models_dir",
    "noise",
    "palette_image",
    "random_layout",
    "read_label_png",
    "save_label_png",
    "select_device",
    "validate_labels",
]
