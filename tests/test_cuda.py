"""CUDA-only checks (skipped without a GPU): device choice, precision, graphs and CPU/GPU agreement."""

import numpy as np
import pytest
import torch

from oasis_core import ModelConfig, OasisModel, Synthesizer, noise
from oasis_core.fast import CudaGraphRunner, FastGenerator
from oasis_core.labels import random_layout

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def model() -> OasisModel:
    torch.manual_seed(0)
    cfg = ModelConfig(label_nc=6, height=64, width=128, channels_g=8, spade_hidden=16, d_channels=(16, 16, 32))
    m = OasisModel(cfg)
    for mod in m.generator.modules():  # realistic weight scale so differences are visible
        if isinstance(mod, torch.nn.Conv2d):
            w = mod.parametrizations.weight.original if hasattr(mod, "parametrizations") else mod.weight
            torch.nn.init.kaiming_normal_(w.data, a=0.2)
    return m.eval()


def test_auto_device_and_precision(model: OasisModel) -> None:
    s = Synthesizer(model)
    assert s.device.type == "cuda" and s.precision in ("bf16", "fp16")
    assert "CUDA" in s.device_reason


def test_gpu_matches_cpu(model: OasisModel) -> None:
    lab = random_layout(64, 128, list(range(6)), seed=3)
    cpu = Synthesizer(model, device="cpu", precision="fp32").generate(lab, seed=5).astype(float)
    gpu32 = Synthesizer(model, device="cuda", precision="fp32").generate(lab, seed=5).astype(float)
    gpu16 = Synthesizer(model, device="cuda").generate(lab, seed=5).astype(float)
    assert np.abs(cpu - gpu32).mean() < 0.5  # TF32/cuDNN rounding only
    assert np.abs(cpu - gpu16).mean() < 4.0


def test_same_seed_same_noise_on_gpu() -> None:
    a = noise.sample(123, 64, 16, 16)
    assert torch.equal(a.cuda().cpu(), noise.sample(123, 64, 16, 16))


def test_cuda_graph_equals_eager(model: OasisModel) -> None:
    fg = FastGenerator(model.generator).cuda().to(memory_format=torch.channels_last)
    lab = torch.from_numpy(random_layout(64, 128, list(range(6)), seed=1))[None].cuda()
    z = noise.sample(1, 64, 64, 128).cuda()
    runner = CudaGraphRunner(fg)
    with torch.inference_mode():
        eager = fg(lab, z)
    assert torch.equal(runner(lab, z), eager)
    z2 = noise.sample(2, 64, 64, 128).cuda()
    with torch.inference_mode():
        assert torch.equal(runner(lab, z2), fg(lab, z2))  # new inputs reach the captured graph


def test_segment_on_gpu(model: OasisModel) -> None:
    s = Synthesizer(model)
    img = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    seg = s.segment(img)
    assert seg.shape == (50, 70) and seg.max() < 6


def test_training_step_on_gpu(tmp_path) -> None:
    from tests.helpers.runs import flat_state, tiny
    from training.distributed import DistInfo
    from training.trainer import Trainer

    gpu = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cuda"))
    t = Trainer(tiny(tmp_path, device="cuda", deterministic=False), gpu)
    assert t.precision in ("bf16", "fp16")
    before = {k: v.clone() for k, v in flat_state(t).items() if k.startswith(("G.", "D."))}
    batch = next(iter(t._loader()))
    stats = t.step(batch["image"].cuda().contiguous(memory_format=torch.channels_last), batch["labels"].cuda())
    assert all(np.isfinite(v) for v in stats.values())
    after = flat_state(t)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("G."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("D."))


@pytest.mark.parametrize("mode", ["image", "region", "pixel"])
def test_training_noise_is_the_same_on_gpu_and_cpu(tmp_path, mode: str) -> None:
    """The trainer draws noise values on the CPU generator and builds the map on the device: same values."""
    from tests.helpers.runs import CPU, tiny
    from training.distributed import DistInfo
    from training.trainer import Trainer

    gpu = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cuda"))
    maps = []
    for info in (CPU, gpu):
        t = Trainer(
            tiny(tmp_path, name=f"noise-{info.device.type}", noise_mode=mode, precision="fp32", deterministic=False),
            info,
        )
        labels = next(iter(t._loader()))["labels"].to(info.device)
        maps.append(t.sample_noise(labels).cpu())
    assert torch.equal(maps[0], maps[1])
