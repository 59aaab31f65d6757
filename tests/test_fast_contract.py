"""The contract between the generator's blocks and `FastGenerator`: the fast path reads a generator only through
`Generator.parts()`, the parts account for everything a block holds, and split noise never takes the sparse path."""

import pytest
import torch
from torch import nn

from oasis_core import FastGenerator, Generator, noise
from oasis_core.fast import CondConv, FastBlock, SplitNoise
from oasis_core.generator import GeneratorParts
from oasis_core.labels import random_layout
from oasis_core.layers import SPADE, SPADEResBlock
from oasis_core.sparse import SparseModulations

from .helpers.models import realistic_weights, tiny_config

# Plain attributes of a block that its parts state otherwise: a learned shortcut is a third conv, the kind of
# modulation is which hidden convs there are. A new one (a slope, a flag) is something the fast path must learn.
_STATED_BY_PARTS = {"training", "learned_shortcut", "modulation"}

CONFIGS = {
    "spade": {},
    "shared-clade": {"spade_shared": True, "clade_blocks": 1},
    "clade-reflect-instance": {"clade_blocks": 2, "padding": "reflect", "norm": "instance"},
    "no-noise": {"noise_3d": False},
}


def _modules_of(parts: GeneratorParts) -> list[nn.Module]:
    out: list[nn.Module] = [parts.head, parts.to_rgb]
    for block in parts.blocks:
        out += [*block.convs, *block.hidden]
        out += [m for n in block.norms for m in (n.norm, n.gamma, n.beta)]
    return out


def _unaccounted(g: Generator) -> list[str]:
    """What `g` holds (submodules, parameters, buffers, block settings) that its parts do not give."""
    parts = _modules_of(g.parts())
    modules = {id(m) for p in parts for m in p.modules()}
    tensors = {id(t) for p in parts for t in (*p.parameters(), *p.buffers())}
    containers = (Generator, SPADEResBlock, SPADE, nn.ModuleList)
    out = [n for n, m in g.named_modules() if id(m) not in modules and not isinstance(m, containers)]
    out += [n for n, t in (*g.named_parameters(), *g.named_buffers()) if id(t) not in tensors]
    for name, m in g.named_modules():
        if isinstance(m, (SPADEResBlock, SPADE)):
            # (An absent submodule, e.g. a block's `shared` when each norm has its own, is a None attribute.)
            settings = [a for a, v in vars(m).items() if not a.startswith("_") and v is not None]
            out += [f"{name}.{a}" for a in settings if a not in _STATED_BY_PARTS]
    return out


@pytest.mark.parametrize("changes", CONFIGS.values(), ids=CONFIGS.keys())
def test_parts_account_for_everything_a_block_holds(changes: dict) -> None:
    g = Generator(tiny_config(**changes))
    assert _unaccounted(g) == []
    for block, parts in zip(g.blocks, g.parts().blocks, strict=True):
        assert len(parts.hidden) == {"spade": len(parts.norms), "shared": 1, "clade": 0}[block.modulation]
    # What a block gaining something unstated looks like to this check.
    g.blocks[1].norm_0.scale = nn.Parameter(torch.ones(1))
    g.blocks[1].extra = nn.Conv2d(4, 4, 1)
    g.blocks[0].slope = 0.1
    extra = {"blocks.1.extra", "blocks.1.extra.weight", "blocks.1.extra.bias"}
    assert set(_unaccounted(g)) == {*extra, "blocks.1.norm_0.scale", "blocks.0.slope"}


def test_fast_generator_reads_the_generator_only_through_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every read of a block's or SPADE's own fields (submodules, settings) made outside its parts()."""
    g = Generator(tiny_config(spade_shared=True, clade_blocks=1))
    g_pixel_noise = Generator(tiny_config(noise_pixel_channels=2))
    depth, reads = [0], []
    for cls in (SPADEResBlock, SPADE):

        def parts(self, _parts=cls.parts):
            depth[0] += 1
            try:
                return _parts(self)
            finally:
                depth[0] -= 1

        def getattribute(self, name: str):
            own = object.__getattribute__(self, "__dict__")
            fields = own.get("_modules", {}).keys() | own.keys()
            if depth[0] == 0 and name in fields and not name.startswith("_") and name != "training":
                reads.append(f"{type(self).__name__}.{name}")
            return object.__getattribute__(self, name)

        monkeypatch.setattr(cls, "parts", parts)
        monkeypatch.setattr(cls, "__getattribute__", getattribute)
    g.blocks[1].conv_0  # noqa: B018  (the recording works)
    assert reads == ["SPADEResBlock.conv_0"]
    reads.clear()
    for kwargs in ({"sparse": True}, {"label_mode": "onehot"}):
        FastGenerator(g, **kwargs)
        FastGenerator(g_pixel_noise, **kwargs)
    assert reads == []


def _painted(h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(random_layout(h, w, list(range(5)), regions=5, seed=2))[None]


def test_sparse_path_runs_where_it_pays() -> None:
    """The sparse path is taken, not silently skipped, on a painted layout at a stage large enough."""
    g = realistic_weights(Generator(tiny_config(height=64, width=96)))
    fast = FastGenerator(g, sparse=True)
    results = []
    for block in fast.blocks:
        block.sparse.register_forward_hook(lambda m, args, out: results.append(out is not None))
    fast(_painted(64, 96), noise.sample(0, 8, 64, 96))
    # 16x24 is below the size where the bookkeeping pays; the full-size stage is mostly region interiors.
    assert len(results) == 3 and not results[0] and results[-1]


def test_split_noise_never_takes_the_sparse_path() -> None:
    cfg = tiny_config(height=64, width=96, noise_pixel_channels=3)
    g = realistic_weights(Generator(cfg))
    # A model with per-pixel channels gets no sparse path: its (split) noise has no uniform neighbourhoods.
    fast = FastGenerator(g, sparse=True)
    assert not fast.sparse and all(b.sparse is None for b in fast.blocks)
    with pytest.raises(ValueError, match="per-pixel channels"):
        FastBlock(g.parts().blocks[-1], cfg.z_dim, cfg.label_nc, "bag", pixel_channels=3, sparse=True)
    # A sparse path handed split noise anyway refuses it, as does the one-hot conv (split noise is the lookup's).
    sparse = FastGenerator(realistic_weights(Generator(tiny_config(height=64, width=96))), sparse=True)
    modulations = sparse.blocks[-1].sparse
    assert isinstance(modulations, SparseModulations)
    lab = _painted(64, 96)
    split = SplitNoise(torch.zeros(1, 5, 1, 1).expand(-1, -1, 64, 96), torch.zeros(1, 3, 64, 96))
    with pytest.raises(TypeError, match="split noise"):
        modulations(lab, split)
    onehot = CondConv(torch.zeros(4, 8 + 5, 3, 3), torch.zeros(4), 8, 5, "onehot")
    with pytest.raises(TypeError, match="split noise"):
        onehot(lab, split)
