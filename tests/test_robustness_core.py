"""Bad input to the library and oasis-generate gets a clear error, never an all-black image, a killed process or a
wait on the network (issue 27)."""

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import constants, hub_mixin
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError
from PIL import Image
from safetensors.torch import load_file, save_file

from oasis_core import ModelFileError, OasisModel, Synthesizer, colorize, labels, load_model, noise, save_label_png
from oasis_core import model as model_files
from oasis_core.cli import main as generate_main
from oasis_core.labels import random_layout, read_label_png

from .helpers.models import realistic_weights, tiny_config


@pytest.fixture
def synth(model: OasisModel) -> Synthesizer:
    return Synthesizer(model, device="cpu")


@pytest.fixture
def model_dir(model: OasisModel, tmp_path: Path) -> Path:
    model.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


# ---- 1. noise that is no noise -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "1 NaN of its"), (float("inf"), "1 infinite of its"), (-float("inf"), "1 infinite"),
     (1e5, r"1 beyond \+-10000 of its"), (1e30, r"beyond \+-10000")],
)  # fmt: skip
def test_non_finite_or_huge_noise_is_refused(synth: Synthesizer, value: float, message: str) -> None:
    labels = np.zeros(synth.size, np.int64)
    z = synth.sample_noise([0, 1])
    z[1, 3, 4, 5] = value
    with pytest.raises(ValueError, match=message):  # it gave an all-black (NaN) or a flat image
        synth.generate_batch(labels, z)
    with pytest.raises(ValueError, match=message):
        synth.generate(labels, z[1:])


def test_noise_within_the_bound_is_used(synth: Synthesizer) -> None:
    labels = random_layout(*synth.size, [0, 1, 2], seed=0)
    z = synth.sample_noise(0)
    z[0, 0] = 9e3  # far beyond any sampler, yet a deliberate edit: allowed
    assert synth.generate(labels, z).shape == (*synth.size, 3)


def test_interpolation_refuses_positions_outside_0_1_and_non_finite_fields() -> None:
    a, b = noise.sample(0, 8, 4, 6), noise.sample(1, 8, 4, 6)
    for t in (float("nan"), [0.0, float("inf")], np.array([0.5, np.nan]), 5e4, -1.0):
        with pytest.raises(ValueError, match="positions must be in 0..1"):  # NaN frames or ones of 1e4: black images
            noise.interpolate(a, b, t)
    bad = b.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="noise field b holds 1 NaN"):
        noise.interpolate(a, bad, 0.5)


def test_resample_refuses_non_finite_noise() -> None:
    z = noise.sample(0, 8, 4, 6)
    z[0, 1] = float("inf")
    with pytest.raises(ValueError, match="24 infinite of its 192 values"):
        noise.resample(z, np.ones((4, 6), bool), seed=3)


def test_a_generator_that_makes_nan_is_an_error_not_a_black_image(model: OasisModel) -> None:
    with torch.no_grad():
        model.generator.head.bias.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="output holds NaN or inf"):
        Synthesizer(model, device="cpu").generate(np.zeros((32, 48), np.int64), seed=0)


def test_weights_with_nan_are_refused(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    state = load_file(weights)
    state["generator.head.bias"][2] = float("nan")
    save_file(state, weights)
    with pytest.raises(ModelFileError, match=r"1 tensors hold NaN or inf values \(e.g. generator.head.bias\)"):
        load_model(model_dir)


# ---- 2. a layout at another size than the model's ------------------------------------------------------------------
def test_oasis_generate_resizes_a_1x1_layout_to_the_model_size(model_dir: Path, tmp_path: Path, capsys) -> None:
    Image.fromarray(np.full((1, 1), 2, np.uint8)).save(tmp_path / "dot.png")
    args = [str(tmp_path / "dot.png"), "--model", str(model_dir), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert generate_main(args) == 0
    assert np.asarray(Image.open(tmp_path / "out" / "dot.png")).shape == (32, 48, 3)  # it was 1x1
    assert "the layout was 1x1 and was resized to the model's 48x32" in capsys.readouterr().err


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (320, 96), (32, 48)])
def test_read_label_png_resizes_as_resize_nearest(model: OasisModel, tmp_path: Path, shape: tuple[int, int]) -> None:
    cfg = model.config
    ids = random_layout(*shape, [0, 1, 2, 3, 4], seed=1)
    save_label_png(tmp_path / "ids.png", ids, cfg)
    Image.fromarray(colorize(ids, cfg)).save(tmp_path / "rgb.png")
    expected = noise.resize_nearest(torch.from_numpy(ids)[None], (32, 48))[0].numpy()
    for name in ("ids.png", "rgb.png"):
        loaded = read_label_png(tmp_path / name, cfg, size=(32, 48))
        assert np.array_equal(loaded.labels, expected), name
        note = f"the layout was {shape[1]}x{shape[0]} and was resized to the model's 48x32"
        assert loaded.warnings == ([] if shape == (32, 48) else [note])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool, torch.float32])
def test_resize_nearest_picks_what_torch_nearest_picks(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    for src, dst in [((7, 300), (32, 48)), ((1, 1), (5, 3)), ((481, 97), (13, 200)), ((32, 48), (32, 48))]:
        maps = torch.randint(0, 200, (2, *src), generator=g).to(dtype)
        reference = F.interpolate(maps[:, None].double(), size=dst, mode="nearest")[:, 0].to(dtype)
        assert torch.equal(noise.resize_nearest(maps, dst), reference), (src, dst)


def test_a_large_colour_layout_is_mapped_at_the_working_size(model: OasisModel, tmp_path: Path, monkeypatch) -> None:
    # A 10000x7500 colour layout took 40 s and 4.4 GB: its palette was matched at full size, then resized.
    ids = np.kron(random_layout(30, 40, [0, 1, 2, 3], seed=0), np.ones((50, 50), np.int64))  # 1500x2000
    Image.fromarray(colorize(ids, model.config)).save(tmp_path / "big.png")
    mapped: list[tuple[int, ...]] = []
    to_labels = labels.colors_to_labels
    monkeypatch.setattr(labels, "colors_to_labels", lambda rgb, cfg: mapped.append(rgb.shape) or to_labels(rgb, cfg))
    loaded = read_label_png(tmp_path / "big.png", model.config, size=(32, 48))
    assert mapped == [(32, 48, 3)] and loaded.labels.shape == (32, 48)
    assert np.array_equal(loaded.labels, noise.resize_nearest(torch.from_numpy(ids)[None], (32, 48))[0].numpy())


# ---- 3. many variations, seeds out of range, models without 3D noise -----------------------------------------------
def test_oasis_generate_draws_noise_per_chunk_with_the_same_images(
    model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    labels_map = random_layout(32, 48, [0, 1, 2, 3], seed=2)
    save_label_png(tmp_path / "l.png", labels_map, tiny_config())
    drawn: list[int] = []
    sample = Synthesizer.sample_noise
    monkeypatch.setattr(Synthesizer, "sample_noise", lambda s, seeds: drawn.append(len(seeds)) or sample(s, seeds))
    args = [str(tmp_path / "l.png"), "--model", str(model_dir), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert generate_main([*args, "--variations", "19", "--seed", "3"]) == 0
    assert drawn == [8, 8, 3]  # 100000 variations drew 1.3 TB of noise at once: killed by the kernel
    synth = Synthesizer(load_model(model_dir), device="cpu")
    expected = synth.generate_batch(labels_map, sample(synth, list(range(3, 22))))  # all seeds in one call
    written = [np.asarray(Image.open(tmp_path / "out" / f"l_seed{s}.png")) for s in range(3, 22)]
    assert np.array_equal(np.stack(written), expected)


@pytest.mark.parametrize(("seed", "variations"), [(2**63, 1), (2**63 - 1, 2), (10**30, 1)])
def test_oasis_generate_refuses_seeds_out_of_range(model_dir: Path, tmp_path: Path, capsys, seed, variations) -> None:
    args = ["x.png", "--model", str(model_dir), "--seed", str(seed), "--variations", str(variations)]
    assert generate_main(args) == 2  # it was a ValueError traceback after the model had loaded
    assert f"seeds must be in 0..{2**63 - 1}" in capsys.readouterr().err


def test_oasis_generate_with_a_model_without_3d_noise(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    realistic_weights(OasisModel(tiny_config(noise_3d=False, z_dim=0))).save_pretrained(tmp_path / "m")
    save_label_png(tmp_path / "l.png", random_layout(32, 48, [0, 1], seed=0), tiny_config())
    args = [str(tmp_path / "l.png"), "--model", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert generate_main([*args, "--variations", "3"]) == 2  # every seed would give the same picture
    assert "no 3D noise" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert generate_main(args) == 0  # it raised "do not pass noise"
    assert np.asarray(Image.open(tmp_path / "out" / "l.png")).shape == (32, 48, 3)


# ---- 4. model sources: folder or Hub id ----------------------------------------------------------------------------
@pytest.fixture
def hub(monkeypatch) -> SimpleNamespace:
    """huggingface_hub's download function, replaced: `answer` is raised, or called with the file name for the path
    to return, instead of going online."""
    state = SimpleNamespace(answer=AssertionError("the Hub was asked"), calls=[])

    def download(repo_id: str, filename: str, **kwargs):
        state.calls.append((repo_id, filename, kwargs.get("local_files_only")))
        if isinstance(state.answer, BaseException):
            raise state.answer
        return state.answer(filename)

    monkeypatch.setattr(model_files, "hf_hub_download", download)
    monkeypatch.setattr(hub_mixin, "hf_hub_download", download)
    return state


@pytest.mark.parametrize(
    "ref", ["./models/m", "../m", "~/no-such-model", "a/b/c", "a\\b", "my-model.safetensors", "owner/model.ckpt",
            "owner/config.json", "bad name!"],
)  # fmt: skip
def test_what_cannot_be_a_hub_id_is_a_missing_folder(hub, ref: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFileError, match="no such model folder, and not a Hugging Face Hub id") as e:
        load_model(ref)
    assert f"nothing at {os.path.abspath(os.path.expanduser(ref))}" in str(e.value)
    assert hub.calls == []  # the Hub was never asked (about 25 s of retries without a network)


def test_a_file_is_not_a_model_folder(hub, model_dir: Path) -> None:
    with pytest.raises(ModelFileError, match="model.safetensors is a file: pass the model folder that holds"):
        load_model(model_dir / "model.safetensors")
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_model(model_dir / "missing")  # a Path is always a path
    assert hub.calls == []


def _response(status: int) -> SimpleNamespace:
    return SimpleNamespace(status_code=status, headers={}, request=None)


def test_a_hub_id_that_is_not_found_says_so_and_that_no_folder_is_there(hub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    hub.answer = RepositoryNotFoundError("404 Client Error: Repository Not Found", response=_response(404))
    with pytest.raises(ModelFileError) as e:  # it said "no config.json found; is this an OASIS Studio model folder?"
        load_model("models/my-model")
    assert f"no model folder at {tmp_path / 'models' / 'my-model'}" in str(e.value)
    assert "the Hugging Face Hub has no repository models/my-model" in str(e.value)


def test_a_hub_id_without_a_network(hub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    error = LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
    error.__cause__ = ConnectionError("[Errno -2] Name or service not known")
    hub.answer = error
    with pytest.raises(ModelFileError) as e:  # it blamed an offline mode that was not on
        load_model("models/my-model")
    message = str(e.value)
    assert f"no model folder at {tmp_path / 'models' / 'my-model'}" in message and "offline" not in message
    assert "could not be reached (no network? [Errno -2] Name or service not known)" in message


def test_a_hub_id_in_offline_mode(hub, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    error = LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
    error.__cause__ = OfflineModeIsEnabled("Cannot reach https://huggingface.co/...: offline mode is enabled")
    hub.answer = error
    with pytest.raises(ModelFileError, match=r"no model folder at .*my-model, and someone/my-model is not in the "
                                             r"local Hugging Face cache and downloading is off \(offline mode: "
                                             "HF_HUB_OFFLINE is set\\)"):  # fmt: skip
        load_model("someone/my-model")
    hub.answer = LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ModelFileError, match=r"downloading is off \(local_files_only, oasis-generate --offline\)"):
        load_model("someone/my-model", local_files_only=True)
    assert hub.calls[-1] == ("someone/my-model", "config.json", True)


def test_a_hub_config_that_is_no_json_object(hub, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[1, 2]")
    hub.answer = lambda filename: str(tmp_path / filename)
    with pytest.raises(ModelFileError, match="a JSON object is expected, not list"):  # it was an AttributeError
        load_model("someone/my-model")


def test_oasis_generate_names_the_folder_it_looked_for(hub, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert generate_main(["x.png", "--model", "./models/my-model", "--out", "out"]) == 1
    assert f"nothing at {tmp_path / 'models' / 'my-model'}" in capsys.readouterr().err
    assert hub.calls == []


def test_a_hub_model_loads_through_the_checked_config(hub, model: OasisModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path / "snapshot")
    hub.answer = lambda filename: str(tmp_path / "snapshot" / filename)
    assert load_model("someone/oasis-tiny").config == model.config
    assert [c[1] for c in hub.calls] == ["config.json", "config.json", "model.safetensors"]
