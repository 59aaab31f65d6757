import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from oasis_core import Discriminator, FastGenerator, Generator, ModelConfig, noise
from oasis_core.labels import random_layout
from oasis_core.layers import conv

from .helpers.models import assert_same_function, realistic_weights, tiny_config


def onehot(labels: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(labels, n).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize(("h", "w"), [(32, 48), (48, 32), (16, 64), (64, 64)])
def test_shapes_for_sizes_and_aspect_ratios(h: int, w: int) -> None:
    cfg = tiny_config(height=h, width=w)
    g, d = Generator(cfg).eval(), Discriminator(cfg).eval()
    lab = torch.randint(0, cfg.label_nc, (2, h, w))
    img = g(onehot(lab, cfg.label_nc), noise.sample([1, 2], cfg.z_dim, h, w))
    assert img.shape == (2, 3, h, w) and img.abs().max() <= 1
    assert d(img).shape == (2, cfg.label_nc + 1, h, w)


def test_generator_never_draws_noise() -> None:
    cfg = tiny_config()
    g = realistic_weights(Generator(cfg))
    lab = onehot(torch.randint(0, 5, (1, 32, 48)), 5)
    z = noise.sample(3, cfg.z_dim, 32, 48)
    assert torch.equal(g(lab, z), g(lab, z))
    assert not torch.equal(g(lab, z), g(lab, noise.sample(4, cfg.z_dim, 32, 48)))
    with pytest.raises(ValueError, match="expected noise of shape"):
        g(lab, None)
    with pytest.raises(ValueError, match="expected one-hot labels"):
        g(lab[:, :3], z)


def test_generator_without_3d_noise() -> None:
    g = Generator(tiny_config(noise_3d=False)).eval()
    lab = onehot(torch.randint(0, 5, (1, 32, 48)), 5)
    assert g(lab, None).shape == (1, 3, 32, 48)
    with pytest.raises(ValueError, match="without 3D noise"):
        g(lab, noise.sample(0, 8, 32, 48))


def test_discriminator_rejects_bad_sizes() -> None:
    d = Discriminator(tiny_config())
    with pytest.raises(ValueError, match="multiples of 8"):
        d(torch.zeros(1, 3, 36, 48))


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize("norm", ["batch", "sync-batch", "instance"])
@pytest.mark.parametrize(("mode", "sparse"), [("bag", False), ("bag", True), ("onehot", False)])
@pytest.mark.parametrize("rerolled", [True, False], ids=["region-rerolled", "global"])
def test_fast_generator_matches_generator(norm: str, mode: str, sparse: bool, padding: str, rerolled: bool) -> None:
    cfg = tiny_config(norm=norm, height=64, width=96, padding=padding)
    g = realistic_weights(Generator(cfg))
    lab = torch.from_numpy(random_layout(64, 96, list(range(5)), regions=5, seed=2))[None].repeat(2, 1, 1)
    z = noise.sample([0, 1], cfg.z_dim, 64, 96)  # global noise: the label-lookup convs take it as one vector
    if rerolled:
        z = noise.resample(z, torch.from_numpy(random_layout(64, 96, [0, 1], regions=3, seed=5)).bool(), seed=9)
    ref = g(onehot(lab, 5), z)
    fast = FastGenerator(g, label_mode=mode, sparse=sparse)
    out = fast(lab, z)
    assert ref.std() > 0.1 and (ref.abs() > 0.99).float().mean() < 0.1  # varied, mostly unsaturated
    assert_same_function(out, ref)


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
@pytest.mark.parametrize("changes", [dict(), dict(spade_shared=True, clade_blocks=1)], ids=["spade", "shared-clade"])
@pytest.mark.parametrize("rerolled", [True, False], ids=["region-rerolled", "global"])
def test_fast_generator_with_pixel_noise_channels(padding: str, changes: dict, rerolled: bool) -> None:
    cfg = tiny_config(height=64, width=96, padding=padding, noise_pixel_channels=3, **changes)
    g = realistic_weights(Generator(cfg))
    lab = torch.from_numpy(random_layout(64, 96, list(range(5)), regions=5, seed=2))[None].repeat(2, 1, 1)
    z = noise.sample([0, 1], cfg.z_dim, 64, 96, pixel_channels=3)
    if rerolled:  # the image-level part is no longer one vector: everything is convolved
        mask = torch.from_numpy(random_layout(64, 96, [0, 1], regions=3, seed=5)).bool()
        z = noise.resample(z, mask, seed=9, pixel_channels=3)
    ref = g(onehot(lab, 5), z)
    assert ref.std() > 0.05
    for fast in (FastGenerator(g), FastGenerator(g, sparse=True), FastGenerator(g, label_mode="onehot")):
        seen = []
        fast.head.register_forward_pre_hook(lambda m, args, seen=seen: seen.append(type(args[1]).__name__))
        assert_same_function(fast(lab, z), ref)
        split = fast.head.mode == "bag" and not rerolled
        assert seen == ["SplitNoise" if split else "Tensor"]


def test_sparse_path_handles_pixel_noise_and_no_noise() -> None:
    cfg = tiny_config(height=64, width=96)
    g = realistic_weights(Generator(cfg))
    lab = torch.from_numpy(random_layout(64, 96, list(range(5)), seed=1))[None]
    z = noise.sample(0, cfg.z_dim, 64, 96, level="pixel")
    assert_same_function(FastGenerator(g, sparse=True)(lab, z), g(onehot(lab, 5), z))
    g0 = realistic_weights(Generator(cfg.replace(noise_3d=False)))
    assert_same_function(FastGenerator(g0, sparse=True)(lab, None), g0(onehot(lab, 5), None))


def test_nonuniform_marks_label_and_noise_borders() -> None:
    from oasis_core.sparse import nonuniform

    lab = torch.zeros(2, 8, 10, dtype=torch.long)
    lab[0, :, 5:] = 1
    z = noise.sample([3, 4], 4, 8, 10)  # one vector per image: only labels and the image border count
    edge = nonuniform(lab, z, sentinel=5)
    assert torch.equal(edge, nonuniform(lab, None, sentinel=5))
    assert torch.equal(edge, nonuniform(lab, z[:, :, :1, :1].expand(-1, -1, 8, 10), sentinel=5))  # as passed on
    assert edge[0, 3, 4:6].all() and not edge[0, 3, 3] and not edge[1, 1:-1, 1:-1].any()
    z[1, :, 4, 6] += 1  # one pixel of new noise: its 3x3 neighbourhood needs the full conv
    edge = nonuniform(lab, z, sentinel=5)
    assert edge[1, 3:6, 5:8].all() and edge[1, 1:-1, 1:-1].sum() == 9


@pytest.mark.parametrize(
    "changes",
    [dict(spade_shared=True), dict(clade_blocks=2), dict(spade_shared=True, clade_blocks=1, padding="reflect")],
)
@pytest.mark.parametrize("sparse", [False, True])
def test_cheap_modulation_options(changes: dict, sparse: bool) -> None:
    cfg = tiny_config(height=64, width=96, **changes)
    g = realistic_weights(Generator(cfg))
    kinds = [b.modulation for b in g.blocks]
    assert kinds[len(kinds) - changes.get("clade_blocks", 0) :] == ["clade"] * changes.get("clade_blocks", 0)
    full = Generator(tiny_config(height=64, width=96))
    assert sum(p.numel() for p in g.parameters()) < sum(p.numel() for p in full.parameters())
    lab = torch.from_numpy(random_layout(64, 96, list(range(5)), regions=5, seed=2))[None]
    z = noise.sample(0, cfg.z_dim, 64, 96)
    ref = g(onehot(lab, 5), z)
    assert ref.std() > 0.05
    assert_same_function(FastGenerator(g, sparse=sparse)(lab, z), ref)
    assert_same_function(FastGenerator(g, label_mode="onehot")(lab, z), ref)
    ref.mean().backward()  # trains: every parameter gets a gradient
    assert all(p.grad is not None for p in g.parameters())


def test_fast_generator_leaves_source_mode_alone() -> None:
    g = Generator(tiny_config()).train()
    FastGenerator(g)
    assert g.training


def test_init_spectral_norm_redraws_raw_weights_and_keeps_unit_spectral_norm() -> None:
    from oasis_core.layers import init_spectral_norm

    torch.manual_seed(0)
    d = Discriminator(tiny_config())
    init_spectral_norm(d, 1.0)
    convs = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert convs
    for m in convs:
        raw = m.parametrizations.weight.original
        fan_in, fan_out = raw.shape[1] * raw[0, 0].numel(), raw.shape[0] * raw[0, 0].numel()
        assert raw.std().item() == pytest.approx((2 / (fan_in + fan_out)) ** 0.5, rel=0.35)
        with torch.no_grad():
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, rel=0.1)


def test_spectral_norm_in_g_only() -> None:
    from torch.nn.utils import parametrize

    cfg = tiny_config(d_spectral_norm=False)
    sn = lambda net: any(parametrize.is_parametrized(m, "weight") for m in net.modules())  # noqa: E731
    assert sn(Generator(cfg)) and not sn(Discriminator(cfg))
    assert sn(Discriminator(tiny_config()))
    assert ModelConfig.from_json(cfg.to_json()).d_spectral_norm is False


def test_reflect_padding_gives_no_border_signal() -> None:
    """On a uniform layout with image-level noise, zero padding makes border pixels differ from the centre;
    reflection keeps the whole image uniform (nothing tells G where the border is)."""
    lab = torch.zeros(1, 64, 96, dtype=torch.long)
    z = noise.sample(0, 8, 64, 96)
    spread = {}
    for padding in ("zeros", "reflect"):
        g = realistic_weights(Generator(tiny_config(height=64, width=96, padding=padding)))
        with torch.no_grad():
            out = g(onehot(lab, 5), z)
        spread[padding] = (out - out[:, :, 32:33, 48:49]).abs().max().item()
    assert spread["reflect"] < 1e-5 < 0.01 < spread["zeros"]


def test_reflect_padding_needs_two_pixels_per_stage() -> None:
    from oasis_core.config import ConfigError

    with pytest.raises(ConfigError, match="reflect padding"):
        tiny_config(height=8, width=48, g_mults=(4, 4, 4, 2, 1), padding="reflect")


class _PadDtypes(TorchDispatchMode):
    """Records the dtype of every aten reflection-pad input (below autocast, which casts before dispatch)."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "reflection_pad" in str(func):
            self.dtypes.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


def test_reflect_padded_conv_pads_in_bf16_under_cpu_autocast() -> None:
    """CPU autocast pads in fp32 (two casts around every reflect-padded conv); ours pads in bf16, same result."""
    layer = conv(8, 4, padding="reflect")
    ref = torch.nn.Conv2d(8, 4, 3, padding=1, padding_mode="reflect")
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(2, 8, 6, 10).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with _PadDtypes() as ours:
            got = layer(x)
        with _PadDtypes() as torchs:
            want = ref(x)
    assert ours.dtypes == [torch.bfloat16] and torchs.dtypes == [torch.float32]  # the second: why the class exists
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)
    (gg,), (gw,) = torch.autograd.grad(got.float().sum(), x), torch.autograd.grad(want.float().sum(), x)
    torch.testing.assert_close(gg, gw, atol=1e-3, rtol=1.6e-2)  # border gradients summed in bf16, not fp32
