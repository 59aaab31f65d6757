"""Model sources: the strings that the app records for a model (projects, crash recovery, About) and that load
the same model again: a model folder, a Hub id, or an imported official checkpoint (`official_source`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from oasis_core import DEFAULT_MODEL_NAME, ModelFileError, OasisModel, bundled_models, import_official, load_model

OFFICIAL = "official:"  # + JSON: the checkpoint files and their dataset


def default_source() -> str | None:
    """The folder of the bundled default model (as `oasis_core.default_model` picks it); None if none is bundled."""
    models = bundled_models()
    path = models.get(DEFAULT_MODEL_NAME) or next(iter(models.values()), None)
    return None if path is None else str(path)


def official_source(generator: str, dataset: str, discriminator: str | None) -> str:
    """An imported checkpoint: JSON keeps any file name intact."""
    spec = {"generator": generator, "dataset": dataset, "discriminator": discriminator}
    return OFFICIAL + json.dumps(spec, ensure_ascii=False)


def _official(source: str) -> dict:
    try:
        spec = json.loads(source[len(OFFICIAL) :])
        if not isinstance(spec, dict) or not isinstance(spec.get("generator"), str):
            raise ValueError("no generator checkpoint")
    except ValueError as e:
        raise ModelFileError(f"{source}: not a readable model source ({e})") from e
    return spec


def describe_source(source: str) -> str:
    """For people: the checkpoint file of an imported model, else the source itself."""
    if source.startswith(OFFICIAL):
        try:
            spec = _official(source)
        except ModelFileError:
            return source
        return f"{spec['generator']} (official {spec.get('dataset')} checkpoint)"
    return source


def model_loader(source: str) -> tuple[Callable[[], OasisModel], Path | None]:
    """How to load `source` (run in the worker thread, where its errors are reported) and the folder that may
    hold its model card."""
    if source.startswith(OFFICIAL):

        def load() -> OasisModel:
            spec = _official(source)
            return import_official(spec["generator"], spec.get("dataset", ""), spec.get("discriminator"))

        return load, None
    return (lambda: load_model(source)), (Path(source) if os.path.isdir(source) else None)
