import json
import re
import time

import numpy as np
import pytest
import torch

from oasis_core import ConfigError, Discriminator, Generator, ModelConfig

from .helpers.models import tiny_config


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    ("dataset", "g_params", "d_params"),
    [("ade20k", 74_314_691, 22_258_904), ("cityscapes", 71_107_523, None), ("coco-stuff", 75_199_427, None)],
)
def test_paper_parameter_counts(dataset: str, g_params: int, d_params: int | None) -> None:
    cfg = ModelConfig.paper(dataset)
    with torch.device("meta"):
        assert count(Generator(cfg)) == g_params
        if d_params is not None:
            assert count(Discriminator(cfg)) == d_params


def test_paper_generator_without_noise() -> None:
    with torch.device("meta"):
        assert count(Generator(ModelConfig.paper("ade20k").replace(noise_3d=False))) == 72_545_219


def test_paper_configs() -> None:
    ade = ModelConfig.paper("ade20k")
    assert (ade.label_nc, ade.height, ade.width, ade.z_dim, ade.dont_care_id) == (151, 256, 256, 64, 0)
    assert ade.g_widths == (1024, 1024, 1024, 512, 256, 128, 64) and ade.spade_hidden == 128
    assert ade.norm == "sync-batch" and ade.spectral_norm and ade.noise_3d
    assert ModelConfig.paper("cityscapes").width == 512
    with pytest.raises(ConfigError, match="unknown dataset"):
        ModelConfig.paper("imagenet")


def test_json_round_trip() -> None:
    cfg = tiny_config(class_colors=[(1, 2, 3)] * 5, dont_care_id=4)
    back = ModelConfig.from_json(json.dumps(json.loads(cfg.to_json())))
    assert back == cfg and hash(back) == hash(cfg)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(height=30), "multiple of the generator's total upsampling"),
        (dict(height=36), "multiple of the discriminator's total downsampling 8"),
        (dict(class_names=("a", "b")), "2 class names for 5"),
        (dict(class_colors=((0, 0, 0),) * 5 + ((1, 1, 1),)), "class_colors"),
        (dict(dont_care_id=5), "dont_care_id 5"),
        (dict(norm="group"), "norm must be"),
        (dict(format_version=99), "newer than this program"),
    ],
)
def test_invalid_configs(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config(**changes)


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown config keys"):
        ModelConfig.from_dict({**tiny_config().to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(height=256.0), "height must be an integer, got 256.0"),
        (dict(width="48"), "width must be an integer, got '48'"),
        (dict(label_nc=True), "label_nc must be an integer, got True"),
        (dict(g_mults="a:"), "g_mults must be a list of integers, got 'a:'"),
        (dict(g_mults="4421"), "g_mults must be a list of integers"),  # not the stages (4, 4, 2, 1)
        (dict(d_channels=[8, 8.5, 16]), "d_channels must be a list of integers"),
        (dict(spectral_norm=1), "spectral_norm must be true or false, got 1"),
        (dict(noise_3d="false"), "noise_3d must be true or false"),
        (dict(class_names=[1, 2, 3, 4, 5]), "class_names must be a list of strings"),
        (dict(class_colors=[[1, 2]] * 5), "class_colors must be a list of lists of 3 integers"),
        (dict(class_colors=[[1, 2, 3.5]] * 5), "class_colors must be a list of lists of 3 integers"),
        (dict(dont_care_id="0"), "dont_care_id must be an integer or null, got '0'"),
        (dict(norm=None), "norm must be one of 'batch', 'sync-batch', 'instance', got None"),
        (dict(d_backbone="resnet50"), "d_backbone must be one of '', 'efficientnet-lite0'"),
        (dict(name=["tiny"]), "name must be a string"),
    ],
)
def test_config_json_values_of_the_wrong_type_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        ModelConfig.from_json(json.dumps({**tiny_config().to_dict(), **changes}))


def test_json_lists_and_numpy_integers_are_stored_as_tuples_and_ints() -> None:
    data = {
        **tiny_config().to_dict(),
        "label_nc": np.int64(5),
        "g_mults": [4, 4, 2, 1],
        "class_colors": [[1, 2, 3]] * 5,
    }
    cfg = ModelConfig.from_dict(data)
    assert type(cfg.label_nc) is int and cfg.g_mults == (4, 4, 2, 1) and cfg.class_colors == ((1, 2, 3),) * 5
    assert json.loads(cfg.to_json())["label_nc"] == 5 and hash(cfg) == hash(tiny_config(class_colors=[(1, 2, 3)] * 5))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # Refused before a name and a colour are made per class (10**8 took minutes, 2**70 never returned).
        (dict(label_nc=10**8, class_names=[], class_colors=[]), "label_nc must be in 1..65536"),
        (dict(label_nc=2**70, class_names=[], class_colors=[]), "label_nc must be in 1..65536"),
        (dict(label_nc=0, class_names=[], class_colors=[]), "label_nc must be in 1..65536"),
        (dict(height=2**40), "height and width must be at most 16384"),
        (dict(width=2**14 + 64), "height and width must be at most 16384"),
    ],
)
def test_sizes_beyond_the_bounds_are_refused_at_once(changes: dict, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=re.escape(message)):
        ModelConfig.from_json(json.dumps({**tiny_config().to_dict(), **changes}))
    assert time.perf_counter() - start < 1.0


def test_the_largest_sizes_are_models() -> None:
    cfg = ModelConfig(label_nc=2**16, height=2**14, width=2**14)
    assert len(cfg.class_names) == len(cfg.class_colors) == 65536
    assert ModelConfig.from_json(cfg.to_json()) == cfg
