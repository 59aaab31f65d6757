import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from oasis_core import ModelFileError, OasisModel, Synthesizer, default_model, load_model
from oasis_core import model as oasis_model
from oasis_core.labels import random_layout
from oasis_core.model import bundled_models

from .helpers.models import tiny_config


def render(model: OasisModel) -> np.ndarray:
    synth = Synthesizer(model, device="cpu")
    return synth.generate(random_layout(*synth.size, [0, 1, 2, 3], seed=1), seed=11)


def test_round_trip_gives_identical_images(model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    loaded = load_model(tmp_path / "m")
    assert loaded.config == model.config and loaded.has_discriminator
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # not safetensors' 0600
    assert np.array_equal(render(loaded), render(model))
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_generator_only_model(model: OasisModel, tmp_path: Path) -> None:
    OasisModel(model.config, with_discriminator=False).save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert not loaded.has_discriminator
    with pytest.raises(RuntimeError, match="without its discriminator"):
        Synthesizer(loaded, device="cpu").segment(np.zeros((8, 8, 3), np.uint8))
    assert not load_model(tmp_path, with_discriminator=False).has_discriminator


def test_fp16_weights_load(model: OasisModel, tmp_path: Path) -> None:
    half = OasisModel(model.config)
    half.load_state_dict(model.state_dict())
    half.half().save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys() if "num_batches" not in k} == {"F16"}
    loaded = load_model(tmp_path)
    assert next(loaded.parameters()).dtype == torch.float32
    assert np.abs(render(loaded).astype(int) - render(model)).mean() < 2


def test_truncated_file(model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    f = tmp_path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(tmp_path)


def test_garbage_file(model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(tmp_path)


class _Boom:
    def __reduce__(self):
        return (Path("/tmp/oasis-pwned").touch, ())


def test_pickle_is_never_executed(model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"x": _Boom()}, protocol=2))
    with pytest.raises(ModelFileError, match="pickled"):
        load_model(tmp_path)
    assert not Path("/tmp/oasis-pwned").exists()
    (tmp_path / "model.safetensors").unlink()
    torch.save({"a": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelFileError, match="never loaded directly"):
        load_model(tmp_path)


def test_weights_for_another_class_count(model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(label_nc=7, class_names=[], class_colors=[])
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="weights are for 5 label channels but the config says 7"):
        load_model(tmp_path)


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="invalid config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="a JSON object is expected, not list"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**tiny_config().to_dict(), "height": 30}))
    with pytest.raises(ModelFileError, match="multiple of"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="no such model folder, and not a Hugging Face Hub id"):
        load_model(f"{tmp_path.name}-missing/")  # one slash: it could have been an "owner/name" id


@pytest.mark.parametrize("key", ["height", "z_dim"])
def test_a_config_without_a_basic_key_is_refused(model: OasisModel, tmp_path: Path, key: str) -> None:
    # The paper's defaults would build another model (256x256 instead of this one's size) without a word.
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg[key]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match=f"config has no \\['{key}'\\]"):
        load_model(tmp_path)


def _fill_hub_cache(model: OasisModel, cache: Path, repo: str) -> None:
    """Lay out a Hugging Face cache entry exactly as hf_hub_download leaves it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = cache / f"models--{repo.replace('/', '--')}"
    model.save_pretrained(entry / "snapshots" / commit)
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(commit)


def test_hub_id_from_prefilled_cache_offline(model: OasisModel, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fill_hub_cache(model, tmp_path, "someone/oasis-tiny")
    loaded = load_model("someone/oasis-tiny", cache_dir=tmp_path, local_files_only=True)
    assert np.array_equal(render(loaded), render(model))
    with pytest.raises(ModelFileError, match="not in the local Hugging Face cache"):
        load_model("someone/not-cached", cache_dir=tmp_path, local_files_only=True)


def test_push_to_hub_uploads_the_model_folder(model: OasisModel, monkeypatch, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, RepoUrl

    uploaded: dict[str, object] = {}

    def fake_create_repo(self, repo_id, **kwargs):
        uploaded["repo"] = repo_id
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        loaded = load_model(folder_path)  # what lands on the Hub loads back
        uploaded["same"] = loaded.config == model.config
        return "https://huggingface.co/fake/commit"

    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", fake_upload_folder)
    model.push_to_hub("someone/oasis-tiny", token="x")
    assert uploaded["repo"] == "someone/oasis-tiny" and uploaded["same"]
    assert {"config.json", "model.safetensors"} <= set(uploaded["files"])


def test_default_model(monkeypatch, tmp_path: Path, model: OasisModel) -> None:
    monkeypatch.setenv("OASIS_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelFileError, match="no model is bundled"):
        default_model()
    model.save_pretrained(tmp_path / "landscapes")
    OasisModel(tiny_config(label_nc=3, class_names=("a", "b", "c"))).save_pretrained(tmp_path / "other")
    assert set(bundled_models()) == {"landscapes", "other"}
    assert default_model().config == model.config


def test_repository_bundles_a_default_model_or_explains() -> None:
    if bundled_models():
        assert default_model().config.name == "landscapes" or "landscapes" not in bundled_models()
    else:
        with pytest.raises(ModelFileError, match="no model is bundled"):
            default_model()


@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_each_bundled_model_generates_and_segments_on_cpu(name: str) -> None:
    folder = bundled_models()[name]
    assert (folder / "model.safetensors").stat().st_size <= 40 * 2**20
    assert (folder / "README.md").is_file()  # the model card
    model = load_model(folder)
    assert model.has_discriminator and model.config.height >= 192 and model.config.width >= 256
    synth = Synthesizer(model, device="cpu")
    labels = random_layout(*synth.size, list(model.config.semantic_ids), regions=6, seed=0)
    image = synth.generate(labels, seed=0)
    assert image.shape == (*synth.size, 3) and image.std() > 5
    assert synth.segment(image).shape == synth.size


def test_loads_and_checks_shapes_without_the_meta_device(
    model: OasisModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app bundle lacks what torch draws meta tensors with (torch._dynamo, sympy): loading still works there,
    and a file for another model is still refused clearly."""

    class NoMeta:
        def __enter__(self) -> None:
            raise ImportError("No module named 'sympy'")

        def __exit__(self, *exc: object) -> None:
            return None

    model.save_pretrained(tmp_path / "m")
    OasisModel(tiny_config(channels_g=8)).save_pretrained(tmp_path / "other")  # wider G
    config = (tmp_path / "m" / "config.json").read_text()
    (tmp_path / "other" / "config.json").write_text(config)

    class TorchWithoutMeta:
        def __getattr__(self, name: str) -> object:
            return getattr(torch, name)

        @staticmethod
        def device(kind: str) -> object:
            return NoMeta() if kind == "meta" else torch.device(kind)

    monkeypatch.setattr(oasis_model, "torch", TorchWithoutMeta())
    assert load_model(tmp_path / "m").config == model.config
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "other")
