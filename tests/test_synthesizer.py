import numpy as np
import pytest
import torch
from PIL import Image

from oasis_core import LabelError, OasisModel, Synthesizer, cpu_has_fast_bf16, select_device
from oasis_core.labels import random_layout


@pytest.fixture
def synth(model: OasisModel) -> Synthesizer:
    return Synthesizer(model, device="cpu")


def test_auto_device_says_why(model: OasisModel) -> None:
    choice = select_device("auto")
    assert choice.reason
    s = Synthesizer(model)
    assert s.device == choice.device and s.describe()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            select_device("cuda")
        if not torch.backends.mps.is_available():
            assert s.device.type == "cpu" and "no GPU" in s.device_reason


@pytest.mark.parametrize("shape", [(32, 48), (100, 70), (7, 300)])
def test_any_label_size_in_same_size_out(synth: Synthesizer, shape: tuple[int, int]) -> None:
    labels = random_layout(*shape, [0, 1, 2, 3, 4], seed=0)
    img = synth.generate(labels, seed=1)
    assert img.shape == (*shape, 3) and img.dtype == np.uint8 and img.std() > 1


def test_same_seed_same_image(synth: Synthesizer, model: OasisModel) -> None:
    labels = random_layout(32, 48, [0, 1, 2], seed=0)
    a = synth.generate(labels, seed=5)
    assert np.array_equal(a, Synthesizer(model, device="cpu").generate(labels, seed=5))
    assert np.array_equal(a, synth.generate(labels, noise=synth.sample_noise(5)))
    assert not np.array_equal(a, synth.generate(labels, seed=6))


def test_variations_in_one_call(synth: Synthesizer) -> None:
    labels = random_layout(40, 60, [0, 1, 2], seed=0)
    out = synth.generate_batch(labels, synth.sample_noise([1, 2, 3]), batch_size=2)
    assert out.shape == (3, 40, 60, 3)
    assert not np.array_equal(out[0], out[1])
    with pytest.raises(ValueError, match="use generate_batch"):
        synth.generate(labels, noise=synth.sample_noise([1, 2]))


def test_bf16_on_cpu_is_close(model: OasisModel, synth: Synthesizer) -> None:
    labels = random_layout(32, 48, [0, 1, 2], seed=0)
    bf = Synthesizer(model, device="cpu", precision="bf16")
    assert bf.precision == "bf16"
    assert np.abs(bf.generate(labels, seed=1).astype(int) - synth.generate(labels, seed=1)).mean() < 6
    with pytest.raises(ValueError, match="fp16 is only offered on GPUs"):
        Synthesizer(model, device="cpu", precision="fp16")


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "fast"), [(False, False, False), (True, False, True), (False, True, True)]
)
def test_fast_bf16_needs_bf16_instructions(monkeypatch, avx512_bf16: bool, amx: bool, fast: bool) -> None:
    # plain AVX512 passes mkldnn's bf16 check but emulates bf16, 2.5x slower than fp32
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert cpu_has_fast_bf16() is fast


def test_label_ids_out_of_range_are_named(synth: Synthesizer) -> None:
    labels = np.zeros((32, 48), dtype=np.int64)
    labels[0, 0], labels[1, 1], labels[2, 2] = 5, 200, -1
    with pytest.raises(ValueError, match=r"label ids -1, 5, 200 are outside this model's classes 0\.\.4"):
        synth.generate(labels, seed=0)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((32, 48), dtype=np.float32), "integer class ids"),
        (np.zeros((32, 48), dtype=bool), "integer class ids"),
        (np.zeros((1, 32, 48), dtype=np.int64), "must be 2-D"),
        (np.zeros((0, 5), dtype=np.int64), "empty"),
    ],
)
def test_bad_label_maps(synth: Synthesizer, labels: np.ndarray, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        synth.generate(labels, seed=0)


def test_bad_noise(synth: Synthesizer) -> None:
    labels = np.zeros((32, 48), dtype=np.int64)
    with pytest.raises(ValueError, match="noise must be"):
        synth.generate(labels, noise=torch.zeros(1, 8, 16, 16))
    with pytest.raises(ValueError, match="float"):
        synth.generate(labels, noise=torch.zeros(1, 8, 32, 48, dtype=torch.int64))
    with pytest.raises(ValueError, match="noise or a seed"):
        synth.generate(labels)
    with pytest.raises(ValueError, match="must be a torch.Tensor .* got ndarray"):
        synth.generate(labels, noise=np.zeros((1, 8, 32, 48), np.float32))
    with pytest.raises(ValueError, match="no fields"):
        synth.generate_batch(labels, torch.zeros(0, 8, 32, 48))


def test_segment_photo(synth: Synthesizer) -> None:
    photo = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    seg = synth.segment(photo)
    assert seg.shape == (50, 70) and seg.min() >= 0 and seg.max() < 5
    assert np.array_equal(seg, synth.segment(Image.fromarray(photo)))
    assert synth.segment(Image.fromarray(photo).convert("L")).shape == (50, 70)
    rgba = np.dstack([photo, np.full((50, 70), 255, np.uint8)])
    assert np.array_equal(synth.segment(rgba), seg)


def test_segment_never_predicts_dont_care(model: OasisModel) -> None:
    cfg = model.config.replace(dont_care_id=0)
    m = OasisModel(cfg)
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        m.discriminator.out.bias[1] = 100.0  # channel 1 = label 0 would win everywhere
    seg = Synthesizer(m, device="cpu").segment(np.zeros((32, 48, 3), np.uint8))
    assert (seg != 0).all()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (Image.new("I;16", (10, 10)), "mode 'I;16'"),
        (Image.new("F", (10, 10)), "mode 'F'"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10, 2), np.uint8), r"\(H, W, 3\)"),
    ],
)
def test_segment_rejects_bad_images(synth: Synthesizer, image, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synth.segment(image)


def test_noise_edited_in_place_is_not_served_from_cache(synth: Synthesizer) -> None:
    labels = random_layout(32, 48, [0, 1, 2], seed=0)
    z = synth.sample_noise(1)
    first = synth.generate(labels, z)
    assert np.array_equal(first, synth.generate(labels, z))
    z[:, :, :16] = synth.sample_noise(2)[:, :, :16]  # in-place edit of the same tensor
    assert not np.array_equal(first, synth.generate(labels, z))
