"""The frozen ImageNet backbone (EfficientNet-Lite) and the discriminator built on it."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from oasis_core import OasisModel, Synthesizer, load_model
from oasis_core.backbone import LITE_SPECS, EfficientNetLite, convert_lite_state_dict
from oasis_core.config import ConfigError
from oasis_core.discriminator import Discriminator
from training.pretrained import PretrainedWeightsError, load_lite, pretrained_lite
from training.trainer import Trainer

from .helpers.models import tiny_config
from .helpers.runs import CPU, tiny

BACKBONE = {
    "d_backbone": "efficientnet-lite0",
    "height": 32,
    "width": 64,
    "d_channels": (8, 8, 8, 16, 16),
    "d_last_channels": 8,
}


def photo_like(n_per_layout: int = 3) -> torch.Tensor:
    """(B, 3, 224, 224) in [-1, 1]: the bundled streets model's images of its example layouts."""
    assets = Path(__file__).parents[1] / "assets"
    synth = Synthesizer(load_model(assets / "models" / "streets", with_discriminator=False), device="cpu")
    examples = sorted((assets / "examples" / "streets").glob("*.png"))
    images = []
    for path in examples:
        labels = np.asarray(Image.open(path))
        for seed in range(n_per_layout):
            images.append(synth.generate(labels, seed=seed))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False).clamp(-1, 1)


def batchnorm_mismatch(net: EfficientNetLite, x: torch.Tensor) -> float:
    """Median over channels of |log(batch variance / running variance)| of every BatchNorm's input, averaged
    over the network: small when the images reach each layer as ImageNet photos did in training."""
    scores = []

    def hook(m: torch.nn.BatchNorm2d, inputs: tuple[torch.Tensor], _out: torch.Tensor) -> None:
        v = inputs[0].transpose(0, 1).flatten(1).double().var(1)
        scores.append(((v + m.eps) / (m.running_var.double() + m.eps)).log().abs().median().item())

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return float(np.mean(scores))


def test_lite0_weights_are_read_right() -> None:
    """Read right, the ImageNet file's BatchNorm statistics describe what photo-like images produce inside the
    network; the same images scaled as [0, 1] (the usual mistake) or plain noise do not fit them."""
    net = pretrained_lite("efficientnet-lite0")
    x = photo_like()
    right = batchnorm_mismatch(net, x)
    assert right < 0.42  # measured 0.30; [0, 1] input 0.51, uniform noise 1.46
    assert batchnorm_mismatch(net, (x + 1) / 2) > right + 0.12
    assert batchnorm_mismatch(net, torch.rand_like(x) * 2 - 1) > 1.0
    # And the classifier, which reads the last activations, is confident about something on most images.
    with torch.no_grad():
        top = net(x).softmax(1).max(1).values
    assert (top > 0.1).float().mean() > 0.5


@pytest.mark.parametrize("name", sorted(LITE_SPECS))
def test_every_lite_variant_loads_strictly(name: str) -> None:
    net = pretrained_lite(name)
    x = torch.zeros(1, 3, 64, 64)
    assert net(x).shape == (1, 1000) and net.pooled(x).shape == (1, 1280)
    assert [f.shape[1] for f in net.features(x, (0, 1, 2, 4, 6))] == [
        LITE_SPECS[name].widths[s] for s in (0, 1, 2, 4, 6)
    ]


def test_weights_that_do_not_fit_are_refused() -> None:
    with pytest.raises(PretrainedWeightsError, match="do not fit"):  # same blocks, other widths
        load_lite(EfficientNetLite(LITE_SPECS["efficientnet-lite2"]), "efficientnet-lite1")
    with pytest.raises(PretrainedWeightsError, match="lack"):  # more blocks than the file has
        load_lite(EfficientNetLite(LITE_SPECS["efficientnet-lite1"]), "efficientnet-lite0")
    assert set(convert_lite_state_dict({"_blocks.3._bn1.weight": torch.ones(1)})) == {"blocks.3.depthwise.bn.weight"}


def test_backbone_d_segments_at_full_resolution_and_trains_only_its_decoder() -> None:
    config = tiny_config(**BACKBONE)
    d = Discriminator(config)
    assert all(not n.startswith(("backbone.", "proj.")) for n, _ in d.named_parameters())
    assert any(n.startswith("backbone.") for n, _ in d.named_buffers())
    image = torch.rand(2, 3, 32, 64) * 2 - 1
    out = d(image)
    assert out.shape == (2, config.label_nc + 1, 32, 64)
    out.square().mean().backward()
    assert all(p.grad is not None for p in d.parameters())
    # The generator step's case: gradients reach the image through the frozen network.
    fake = image.clone().requires_grad_(True)
    d(fake).square().mean().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_backbone_d_needs_five_scales() -> None:
    with pytest.raises(ConfigError, match="5 entries"):
        tiny_config(d_backbone="efficientnet-lite0", height=64, width=64, d_channels=(8, 8, 16))
    with pytest.raises(ConfigError, match="d_backbone"):
        tiny_config(d_backbone="resnet50")


def test_backbone_stays_frozen_through_a_training_step(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, **BACKBONE, batch_size=2), CPU)
    frozen = {k: v.clone() for k, v in t.D.state_dict().items() if k.startswith(("backbone.", "proj."))}
    assert frozen["backbone.stem.conv.weight"].abs().sum() > 0  # ImageNet weights, not an empty network
    decoder = {k: v.clone() for k, v in t.D.state_dict().items() if k.startswith("up.")}
    batch = next(iter(t._loader()))
    t.step(batch["image"].contiguous(memory_format=torch.channels_last), batch["labels"])
    after = t.D.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())  # weights and BN statistics bit-identical
    assert not t.D.backbone.training
    assert any(not torch.equal(v, after[k]) for k, v in decoder.items())


def test_model_folder_carries_the_backbone_and_segments(tmp_path: Path) -> None:
    model = OasisModel(tiny_config(**BACKBONE))
    load_lite(model.discriminator.backbone, "efficientnet-lite0")
    model.half()
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for k, v in model.discriminator.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[k].half(), v), k
    labels = Synthesizer(loaded, device="cpu").segment(np.zeros((20, 30, 3), np.uint8))
    assert labels.shape == (20, 30) and labels.max() < model.config.label_nc


def test_warm_start_from_a_model_with_another_discriminator_takes_its_generator(tmp_path: Path) -> None:
    first = Trainer(tiny(tmp_path, name="paper-d", max_iters=1, height=32, width=64, d_channels=(8, 8, 8, 16, 16)), CPU)
    first.train()
    from training.export import export

    export(first.run_dir, tmp_path / "exported")
    warm = Trainer(tiny(tmp_path, name="backbone-d", **BACKBONE, init_from=str(tmp_path / "exported")), CPU)
    g = load_model(tmp_path / "exported").generator.state_dict()
    assert all(torch.equal(v, warm.G.state_dict()[k]) for k, v in g.items())
    assert warm.D.state_dict()["backbone.stem.conv.weight"].abs().sum() > 0
