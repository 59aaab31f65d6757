"""Bad input to the library and oasis-generate gets a clear error, never an all-black image, a killed process or a
wait on the network (issue 27)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from oasis_core import ModelFileError, OasisModel, Synthesizer, load_model, noise
from oasis_core.labels import random_layout


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
