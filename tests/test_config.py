import json

import pytest
import torch

from oasis_core import ConfigError, Discriminator, Generator, ModelConfig

from .conftest import tiny_config


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
