"""oasis-train's options: derived from ModelConfig's fields, compatible with old run folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from oasis_core import ModelConfig, OasisModel, load_model
from oasis_core.config import default_colors
from training.checkpoints import load_checkpoint
from training.cli import main as train_main
from training.data import dataset_info
from training.errors import TrainingError
from training.export import export
from training.options import TrainConfig, build_parser
from training.trainer import Trainer

from .helpers.data import COLORS, make_dataset
from .helpers.runs import CPU, TINY_ARGS, tiny

# A run folder's config.json as oasis-train wrote it before the model options were derived from ModelConfig
# (tiny model of tests/test_training.py; DATA and RUNS are filled in).
OLD_CONFIG_JSON = """{"batch_size": 2, "beta1": 0.0, "beta2": 0.999, "channels_g": 4, "channels_last": true,
"checkpoint_every": 1000, "clade_blocks": 0, "class_balance": true, "classes_file": null, "compile": false,
"compile_memory_budget": 1.0, "crop": true, "crop_height": 0, "crop_width": 0, "cutmix": false,
"d_channels": [8, 8, 16], "d_last_channels": 8, "d_spectral_norm": true, "dataroot": "DATA", "dataset": "folder",
"deterministic": false, "device": "auto", "diffaug": "", "ema": true, "ema_bn_batches": 8, "ema_decay": 0.9999,
"ema_warmup": false, "epochs": 200, "extra": {}, "flip": true, "g_mults": [4, 4, 2, 1], "height": 32, "init_from": null,
"labelmix": true, "lambda_labelmix": 10.0, "load_scale": 1.1171875, "log_every": 50, "lr_d": 0.0004, "lr_g": 0.0001,
"max_iters": 2, "name": "old", "noise_3d": true, "noise_mode": "image", "noise_pixel_channels": 0, "norm": "sync-batch",
"num_workers": 0, "padding": "zeros", "precision": "auto", "reuse_fake": false, "runs_dir": "RUNS", "sample_every": 100,
"scale_jitter": 0.0, "seed": 0, "sn_init_gain": 0.02, "spade_hidden": 8, "spade_shared": false, "spectral_norm": true,
"time_limit": 0.0, "width": 48, "z_dim": 8}"""

# Every flag oasis-train had when the model flags were still written out by hand.
TODAYS_FLAGS = """--dataset --dataroot --name --classes-file --runs-dir --resume --dry-run --gpus --preset --height
--width --z-dim --channels-g --spade-hidden --d-last-channels --spade-shared --no-spade-shared --clade-blocks --g-mults
--d-channels --norm --spectral-norm --no-spectral-norm --padding --d-spectral-norm --no-d-spectral-norm --sn-init-gain
--noise-3d --no-noise-3d --noise-pixel-channels --batch-size --epochs --max-iters --lr-g --lr-d --beta1 --beta2
--lambda-labelmix --ema-decay --ema-bn-batches --labelmix --no-labelmix --cutmix --no-cutmix --class-balance
--no-class-balance --ema --no-ema --ema-warmup --no-ema-warmup --noise-mode --reuse-fake --no-reuse-fake --diffaug
--flip --no-flip --crop --no-crop --load-scale --scale-jitter --crop-height --crop-width --num-workers --init-from
--seed --device --precision --channels-last --no-channels-last --compile --no-compile --compile-memory-budget
--deterministic --no-deterministic --log-every --sample-every --checkpoint-every --time-limit""".split()


def _actions() -> dict[str, argparse.Action]:
    return {a.dest: a for a in build_parser()._actions}


def test_every_model_option_is_a_flag_and_a_training_option_from_its_field() -> None:
    actions, defaults = _actions(), TrainConfig("folder", "d", "n").model
    options = ModelConfig.option_fields()
    assert {f.name for f in options} >= {"height", "z_dim", "g_mults", "norm", "spectral_norm", "d_channels"}
    for f in options:
        action = actions[f.name]
        assert action.option_strings[0] == "--" + f.name.replace("_", "-")
        assert action.help == f.metadata["help"] and action.default is None  # unset: presets decide
        assert defaults[f.name] == f.default
    assert set(defaults) == {f.name for f in options}
    for not_an_option in ("label_nc", "class_names", "class_colors", "dont_care_id", "format_version"):
        assert not_an_option not in actions
    assert actions["name"].help.startswith("run name")  # --name is the run's, not the model's


def test_todays_flags_keep_their_names_and_behaviour() -> None:
    parser = build_parser()
    assert set(TODAYS_FLAGS) <= set(parser._option_string_actions)
    args = parser.parse_args(
        [
            "--name",
            "r",
            "--g-mults",
            "8,4,2,1",
            "--d-channels",
            "8,16",
            "--no-spectral-norm",
            "--spade-shared",
            "--norm",
            "instance",
            "--padding",
            "reflect",
            "--z-dim",
            "16",
        ]
    )
    assert args.g_mults == (8, 4, 2, 1) and args.d_channels == (8, 16) and args.z_dim == 16
    assert args.spectral_norm is False and args.spade_shared is True and args.noise_3d is None
    assert (args.norm, args.padding) == ("instance", "reflect")
    for bad in (["--norm", "group"], ["--g-mults", "8,x"], ["--padding", "circular"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["--name", "r", *bad])


def test_the_flat_form_is_todays_config_json() -> None:
    old = json.loads(OLD_CONFIG_JSON)
    cfg = TrainConfig.from_dict(old)
    assert cfg.model["g_mults"] == (4, 4, 2, 1) and cfg.model["norm"] == "sync-batch" and cfg.batch_size == 2
    new = json.loads(cfg.to_json())
    assert {k: v for k, v in new.items() if k in old} == old  # every saved key written back as it was
    added = set(new) - set(old)  # model options added since: their defaults (the files written before them)
    assert all(new[k] == f.default for f in ModelConfig.option_fields() if (k := f.name) in added)


def test_a_run_folder_of_todays_format_resumes(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    first = [
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "old",
        "--runs-dir",
        str(runs),
        *TINY_ARGS,
        "--max-iters",
        "2",
        "--sample-every",
        "100",
    ]
    assert train_main(first) == 0
    saved = OLD_CONFIG_JSON.replace('"DATA"', json.dumps(str(data))).replace('"RUNS"', json.dumps(str(runs)))
    (runs / "old" / "config.json").write_text(saved)
    capsys.readouterr()
    assert train_main(["--name", "old", "--runs-dir", str(runs), "--resume", "--max-iters", "3"]) == 0
    err = capsys.readouterr().err
    assert "changed options: max_iters 2 -> 3\n" in err  # nothing else differs
    assert load_checkpoint(runs / "old" / "checkpoints" / "latest.pt")["iteration"] == 3


def test_from_dataset_takes_the_classes_and_the_options(tmp_path: Path) -> None:
    info = dataset_info("folder", make_dataset(tmp_path / "data", n=1))
    cfg = ModelConfig.from_dataset(info, height=128, width=192, channels_g=8, name="m")
    assert (cfg.label_nc, cfg.class_names, cfg.class_colors[1]) == (4, ("sky", "tree", "road", "water"), COLORS[1])
    assert (cfg.height, cfg.width, cfg.channels_g, cfg.name, cfg.dont_care_id) == (128, 192, 8, "m", None)
    assert cfg.z_dim == 64  # not given: the default
    no_colors = type("Classes", (), {"label_nc": 2, "class_names": ("a", "b"), "class_colors": None, "dont_care_id": 1})
    assert ModelConfig.from_dataset(no_colors()).class_colors == default_colors(2)


# ---- issue 27: option values that cannot work are refused before anything starts ---------------------------------


def _trained_run(tmp_path: Path) -> Path:
    t = Trainer(tiny(tmp_path, max_iters=1, sample_every=100), CPU)
    t.train()
    return t.run_dir


def test_export_into_a_folder_with_files_needs_force_and_then_replaces_it_whole(tmp_path: Path, capsys) -> None:
    run, out = _trained_run(tmp_path), tmp_path / "models" / "m"
    assert train_main(["export", str(run), "--out", str(out), "--name", "first"]) == 0
    (out / "notes.txt").write_text("the first model's")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert train_main(["export", str(run), "--out", str(out), "--name", "second"]) == 2
    err = capsys.readouterr().err
    assert "already holds files (README.md, config.json, model.safetensors, notes.txt)" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert train_main(["export", str(run), "--out", str(out), "--name", "second", "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "# second" in (out / "README.md").read_text() and load_model(out).config.name == "second"
    assert [p.name for p in out.parent.iterdir()] == ["m"]  # no temporary folder left beside it
    (tmp_path / "file").write_text("")
    with pytest.raises(TrainingError, match="is a file, not a folder"):
        export(run, tmp_path / "file")


def test_a_failed_forced_export_leaves_the_old_folder_as_it_was(tmp_path: Path, monkeypatch) -> None:
    run, out = _trained_run(tmp_path), tmp_path / "m"
    export(run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(self: OasisModel, folder: Path) -> None:
        (Path(folder) / "config.json").write_text("{")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(OasisModel, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export(run, out, name="other", force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_run_names_stay_inside_the_runs_folder(tmp_path: Path, capsys) -> None:
    data, runs = make_dataset(tmp_path / "data"), tmp_path / "runs"
    for name in ("../escaped", "a/b", "..", "/tmp/abs"):
        assert (
            train_main(
                [
                    "--dataset",
                    "folder",
                    "--dataroot",
                    str(data),
                    "--name",
                    name,
                    "--runs-dir",
                    str(runs),
                    *TINY_ARGS,
                    "--max-iters",
                    "1",
                ]
            )
            == 2
        )
        assert "a run name is the name of a folder in the runs folder" in capsys.readouterr().err
    assert train_main(["--name", "../escaped", "--runs-dir", str(runs), "--resume"]) == 2
    assert "a run name is the name of a folder" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="a run name"):
        Trainer(tiny(tmp_path, name="../escaped"), CPU)
    assert not (tmp_path / "escaped").exists() and not runs.exists()


def test_a_run_that_reaches_max_iters_says_so_even_near_its_time_limit(tmp_path: Path) -> None:
    # 30 s: a stop for the time limit is already due after the first step (30 s are kept for the last checkpoint).
    t = Trainer(tiny(tmp_path, time_limit=0.5, max_iters=1, sample_every=100), CPU)
    assert t.train() == "finished" and t.iteration == 1


def test_fp16_is_refused_on_a_cpu_before_training(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    args = [
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "h",
        "--runs-dir",
        str(tmp_path / "runs"),
        *TINY_ARGS,
        "--precision",
        "fp16",
        "--device",
        "cpu",
    ]
    assert train_main([*args, "--dry-run"]) == 2
    assert "--precision fp16: fp16 is only offered on GPUs" in capsys.readouterr().err
    with pytest.raises(TrainingError, match="fp16 is only offered on GPUs"):
        Trainer(tiny(tmp_path, precision="fp16"), CPU)
    if torch.cuda.is_available():  # auto and cuda run on the GPU: fp16 stays offered there
        assert train_main([*args[:-2], "--dry-run"]) == 0


def test_every_unworkable_value_is_listed_in_one_message_even_in_a_dry_run(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    run = [
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "bad",
        "--runs-dir",
        str(tmp_path / "runs"),
        *TINY_ARGS,
    ]
    bad = {
        "--lr-g": ("nan", "must be a positive number"),
        "--crop-height": ("64", "--crop-height/--crop-width 64x96: larger than the 32x48 images"),
        "--crop-width": ("96", ""),
        "--diffaug": ("translation,blur", "unknown ['blur']"),
        "--num-workers": ("-1", "must be 0 (load in the training process) or more"),
        "--ema-decay": ("2", "must be in [0, 1)"),
        "--load-scale": ("0", "must be at least 1"),
        "--time-limit": ("-5", "must be minutes >= 0"),
        "--max-iters": ("0", "must be at least 1"),
        "--sample-every": ("0", "must be at least 1"),
        "--channels-g": ("0", "channels_g: every width must be at least 1"),
    }
    given = [a for flag, (value, _) in bad.items() for a in (flag, value)]
    assert train_main([*run, *given, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oasis-train: 10 options cannot work:\n")  # the crop is one problem
    for flag, (_, message) in bad.items():
        assert message in err, flag
    for flag in (
        "--lr-g nan",
        "--num-workers -1",
        "--ema-decay 2.0",
        "--load-scale 0.0",
        "--time-limit -5.0",
        "--max-iters 0",
        "--sample-every 0",
    ):
        assert flag in err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(TrainingError, match="3 options cannot work"):
        Trainer(tiny(tmp_path, lr_d=-1.0, beta2=1.0, ema_bn_batches=0), CPU)
    with pytest.raises(TrainingError, match=r"--lambda-diversity 1.0: needs 3D noise"):
        Trainer(tiny(tmp_path, lambda_diversity=1.0, noise_3d=False, z_dim=0), CPU)
    with pytest.raises(TrainingError, match=r"--lambda-diversity -1.0: must be a number >= 0"):
        Trainer(tiny(tmp_path, lambda_diversity=-1.0), CPU)
    with pytest.raises(TrainingError, match=r"--diversity-target 0.3: needs --lambda-diversity above 0"):
        Trainer(tiny(tmp_path, diversity_target=0.3), CPU)
    with pytest.raises(TrainingError, match=r"--diversity-target -0.3: must be a number >= 0"):
        Trainer(tiny(tmp_path, lambda_diversity=1.0, diversity_target=-0.3), CPU)


def test_a_saved_max_iters_of_0_means_no_limit() -> None:
    saved = {**json.loads(OLD_CONFIG_JSON), "max_iters": 0}
    assert TrainConfig.from_json(json.dumps(saved)).max_iters is None
