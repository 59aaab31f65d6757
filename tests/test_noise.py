import numpy as np
import pytest
import torch

from oasis_core import OasisModel, Synthesizer, noise
from oasis_core.labels import random_layout


def test_seeded_global_noise_is_reproducible_and_broadcast() -> None:
    a = noise.sample(42, 64, 16, 24)
    assert a.shape == (1, 64, 16, 24)
    assert torch.equal(a, noise.sample(42, 64, 16, 24))
    assert not torch.equal(a, noise.sample(43, 64, 16, 24))
    assert torch.equal(a, a[:, :, :1, :1].expand_as(a))  # one vector over the image
    batch = noise.sample([42, 7], 64, 16, 24)
    assert torch.equal(batch[0], a[0]) and torch.equal(batch[1], noise.sample(7, 64, 16, 24)[0])


def test_pixel_noise_varies_per_pixel() -> None:
    p = noise.sample(1, 8, 4, 4, level="pixel")
    assert p[0, :, 0, 0].ne(p[0, :, 1, 1]).all()
    with pytest.raises(ValueError):
        noise.sample(1, 8, 4, 4, level="patch")
    with pytest.raises(ValueError, match="seed"):
        noise.sample(-1, 8, 4, 4)


def test_pixel_channels_are_drawn_per_pixel_the_rest_per_image() -> None:
    z = noise.sample([3, 4], 16, 10, 12, pixel_channels=4)
    image_part, pixel_part = z[:, :12], z[:, 12:]
    assert torch.equal(image_part, image_part[:, :, :1, :1].expand_as(image_part))
    assert (pixel_part[:, :, 0, 0] != pixel_part[:, :, 5, 7]).all()
    assert not torch.equal(z[0], z[1]) and torch.equal(z, noise.sample([3, 4], 16, 10, 12, pixel_channels=4))
    assert torch.equal(noise.sample(3, 16, 10, 12, pixel_channels=0), noise.sample(3, 16, 10, 12))
    with pytest.raises(ValueError, match="pixel_channels"):
        noise.sample(3, 16, 10, 12, pixel_channels=17)


def test_local_resample_with_pixel_channels() -> None:
    z = noise.sample(0, 16, 20, 30, pixel_channels=4)
    mask = torch.zeros(20, 30, dtype=torch.bool)
    mask[5:12, 3:9] = True
    out = noise.resample(z, mask, seed=5, pixel_channels=4)
    assert torch.equal(out[..., ~mask], z[..., ~mask])
    inside = out[0][:, mask]
    assert (inside[:12] == inside[:12, :1]).all() and (inside[12:] != inside[12:, :1]).any(1).all()
    labels = mask.numpy().astype(np.int64)
    by_class = noise.resample_classes(z, labels, [1], seed=5, pixel_channels=4)
    assert torch.equal(by_class, out)


@pytest.mark.parametrize("level", ["global", "pixel"])
def test_local_resample_changes_only_inside(level: str) -> None:
    z = noise.sample(0, 16, 20, 30)
    mask = torch.zeros(20, 30, dtype=torch.bool)
    mask[5:12, 3:9] = True
    out = noise.resample(z, mask, seed=5, level=level)
    assert torch.equal(out[..., ~mask], z[..., ~mask])  # bit-identical outside
    assert (out[..., mask] != z[..., mask]).all()
    inside = out[0][:, mask]
    assert (inside == inside[:, :1]).all() == (level == "global")


def test_resample_mask_at_another_resolution_and_validation() -> None:
    z = noise.sample(0, 4, 20, 30)
    mask = np.zeros((40, 60), dtype=bool)
    mask[:20] = True
    out = noise.resample(z, mask, seed=1)
    assert torch.equal(out[:, :, 10:], z[:, :, 10:]) and not torch.equal(out[:, :, :10], z[:, :, :10])
    with pytest.raises(TypeError, match="boolean"):
        noise.resample(z, np.zeros((20, 30)), seed=1)
    with pytest.raises(ValueError, match=r"noise must be \(B, z, H, W\), got \(4, 20, 30\)"):
        noise.resample(z[0], mask, seed=1)


def test_resample_classes() -> None:
    labels = np.zeros((20, 30), dtype=np.int64)
    labels[:, 10:] = 2
    labels[15:, :5] = 3
    z = noise.sample(0, 4, 20, 30)
    out = noise.resample_classes(z, labels, [2, 3], seed=3)
    changed = (out != z).any(1)[0].numpy()
    assert (changed == np.isin(labels, [2, 3])).all()


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolation_end_points_and_mask(mode: str) -> None:
    a, b = noise.sample(1, 16, 8, 8), noise.sample(2, 16, 8, 8)
    frames = noise.interpolate(a, b, [0.0, 0.25, 0.5, 1.0], mode=mode)
    assert frames.shape == (4, 16, 8, 8)
    assert torch.equal(frames[0], a[0]) and torch.equal(frames[3], b[0])
    assert not torch.equal(frames[1], a[0]) and not torch.equal(frames[1], b[0])
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:4] = True
    m = noise.interpolate(a, b, 0.5, mode=mode, mask=mask)
    assert torch.equal(m[..., 4:, :], a[..., 4:, :]) and torch.equal(m[..., :4, :], frames[2:3, :, :4])
    for scalar in (np.float32(0.5), torch.tensor(0.5), np.linspace(0, 1, 5)[2:3]):  # a slider's value, whatever type
        assert torch.equal(noise.interpolate(a, b, scalar, mode=mode), frames[2:3])


def test_slerp_keeps_norm_of_equal_norm_vectors() -> None:
    a, b = noise.sample(1, 64, 1, 1), noise.sample(2, 64, 1, 1)
    b = b / b.norm() * a.norm()
    mid = noise.interpolate(a, b, 0.5, mode="spherical")
    assert torch.allclose(mid.norm(), a.norm(), rtol=1e-5)


def test_local_reroll_changes_image_inside_region_much_more_than_far_away(model: OasisModel) -> None:
    synth = Synthesizer(model, device="cpu")
    h, w = synth.size
    labels = random_layout(h, w, [0, 1, 2], regions=4, seed=0)
    z = synth.sample_noise(0)
    mask = np.zeros((h, w), dtype=bool)
    mask[:, : w // 3] = True
    before = synth.generate(labels, z).astype(float)
    after = synth.generate(labels, noise.resample(z, mask, seed=99)).astype(float)
    inside = np.abs(after - before)[:, : w // 3].mean()
    far = np.abs(after - before)[:, 2 * w // 3 :].mean()
    assert inside > 1.0 and inside > 5 * far


def test_interpolation_frames_in_one_batch(model: OasisModel) -> None:
    synth = Synthesizer(model, device="cpu")
    labels = random_layout(*synth.size, [0, 1, 2], seed=0)
    a, b = synth.sample_noise(1), synth.sample_noise(2)
    frames = synth.generate_batch(labels, noise.interpolate(a, b, np.linspace(0, 1, 5)))
    assert frames.shape == (5, *synth.size, 3)
    # Batched and single runs may pick different conv kernels: equal up to rounding.
    assert np.abs(frames[0].astype(int) - synth.generate(labels, a)).max() <= 1
    assert np.abs(frames[-1].astype(int) - synth.generate(labels, b)).max() <= 1
