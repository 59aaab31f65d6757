"""The trainer end to end on a tiny model and a synthetic dataset in the folder format."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from oasis_core import Synthesizer, load_model
from training import losses
from training.checkpoints import load_checkpoint
from training.cli import main as train_main
from training.distributed import DistInfo
from training.errors import TrainingError
from training.export import export
from training.loader import EpochBatches
from training.trainer import Trainer

from .helpers.data import COLORS, make_dataset
from .helpers.runs import CPU, TINY_ARGS, flat_state, tiny


def test_one_step_changes_weights_and_losses_are_finite(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path), CPU)
    before = {k: v.clone() for k, v in flat_state(t).items() if k.startswith(("G.", "D."))}
    batch = next(iter(t._loader()))
    stats = t.step(batch["image"].contiguous(memory_format=torch.channels_last), batch["labels"])
    assert set(stats) == {"G/adv", "D/fake", "D/real", "D/labelmix"}
    assert all(np.isfinite(v) for v in stats.values()) and stats["D/labelmix"] > 0
    after = flat_state(t)
    changed = [k for k in before if "weight.original" in k and not torch.equal(before[k], after[k])]
    assert any(k.startswith("G.") for k in changed) and any(k.startswith("D.") for k in changed)


def test_diversity_term_gives_the_g_step_a_second_variation_of_half_the_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = Trainer(tiny(tmp_path, lambda_diversity=1.0, diversity_target=0.5, batch_size=4), CPU)
    seen: list[tuple[int, ...]] = []
    forward = type(t.G).forward
    monkeypatch.setattr(type(t.G), "forward", lambda g, x, z=None: seen.append(tuple(x.shape)) or forward(g, x, z))
    targets: list[float] = []
    term = losses.mode_seeking_loss
    monkeypatch.setattr(losses, "mode_seeking_loss", lambda *a: targets.append(a[4]) or term(*a))
    batch = next(iter(t._loader()))
    stats = t.step(batch["image"].contiguous(memory_format=torch.channels_last), batch["labels"])
    assert seen[0][0] == 6  # 4 layouts + the first 2 again with other noise, in one call (shared batch norm)
    assert targets == [0.5]
    assert set(stats) == {"G/adv", "G/diversity", "D/fake", "D/real", "D/labelmix"} and stats["G/diversity"] > 0


@pytest.mark.parametrize("options", [{}, {"lambda_diversity": 1.0}], ids=["plain", "diversity"])
def test_resume_is_exact(tmp_path: Path, options: dict) -> None:
    straight = Trainer(tiny(tmp_path, name="straight", max_iters=4, **options), CPU)
    straight.train()
    first = Trainer(tiny(tmp_path, name="split", max_iters=2, **options), CPU)
    first.train()
    resumed = Trainer(tiny(tmp_path, name="split", max_iters=4, **options), CPU, resume=True)
    assert resumed.iteration == 2
    resumed.train()
    a, b = flat_state(straight), flat_state(resumed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    # and the run really trained: weights moved away from a fresh start
    fresh = flat_state(Trainer(tiny(tmp_path, name="fresh"), CPU))
    assert not torch.equal(fresh["G.to_rgb.weight"], a["G.to_rgb.weight"])


def test_run_folder_contents(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path), CPU)
    t.train()
    run = t.run_dir
    assert json.loads((run / "config.json").read_text())["batch_size"] == 2
    assert (run / "checkpoints" / "latest.pt").is_file() and not list(run.glob("checkpoints/*.tmp"))
    assert (run / "samples" / "iter_0000002.png").is_file()
    grid = Image.open(run / "samples" / "iter_0000004.png")
    assert grid.size == (4 * 48, 4 * 32)  # labels | real | G | EMA; a row for each of 4 samples
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "images_per_sec" in json.loads(lines[-1])
    assert "finished at iteration 4" in (run / "log.txt").read_text()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


def test_the_ema_generator_never_syncs_batch_norm(tmp_path: Path) -> None:
    # Only rank 0 draws sample grids: a SyncBatchNorm in the EMA would wait there for ranks that never come.
    t = Trainer(tiny(tmp_path, norm="sync-batch", max_iters=2), CPU)
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in t.G.modules())
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in t.EMA.modules())
    assert t.train() == "finished" and (t.run_dir / "samples" / "iter_0000002.png").is_file()


def test_stop_request_checkpoints_and_resumes(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, checkpoint_every=100), CPU)
    original = t.step

    def step_then_signal(*args):
        out = original(*args)
        t.stop_requested = True  # what the SIGTERM/SIGINT handler does
        return out

    t.step = step_then_signal
    assert t.train() == "stopped by signal"
    assert load_checkpoint(t.run_dir / "checkpoints" / "latest.pt")["iteration"] == 1
    again = Trainer(tiny(tmp_path, checkpoint_every=100), CPU, resume=True)
    assert again.train() == "finished" and again.iteration == 4


def test_time_limit_stops_with_a_resumable_checkpoint(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, time_limit=1e-6, checkpoint_every=100), CPU)
    assert t.train() == "time limit"
    assert load_checkpoint(t.run_dir / "checkpoints" / "latest.pt")["iteration"] == 1


def test_refuses_to_overwrite_or_resume_a_different_model(tmp_path: Path) -> None:
    Trainer(tiny(tmp_path, max_iters=2), CPU).train()
    with pytest.raises(TrainingError, match="already has a checkpoint"):
        Trainer(tiny(tmp_path), CPU)
    with pytest.raises(TrainingError, match="model differs"):
        Trainer(tiny(tmp_path, channels_g=8), CPU, resume=True)
    with pytest.raises(TrainingError, match="no checkpoint"):
        Trainer(tiny(tmp_path, name="other"), CPU, resume=True)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(labelmix=False),
        dict(cutmix=True),
        dict(class_balance=False),
        dict(ema=False),
        dict(noise_3d=False),
        dict(spectral_norm=False),
        dict(noise_mode="mix"),
        dict(noise_mode="region"),
        dict(norm="instance"),
        dict(reuse_fake=True),
        dict(diffaug="translation,cutout"),
        dict(precision="fp32"),
        dict(scale_jitter=0.3),
        dict(spade_shared=True, clade_blocks=1),
    ],
)
def test_ablations_train(tmp_path: Path, overrides: dict) -> None:
    t = Trainer(tiny(tmp_path, max_iters=2, sample_every=100, **overrides), CPU)
    assert t.train() == "finished"
    model = export(t.run_dir, tmp_path / "model")
    img = Synthesizer(load_model(tmp_path / "model"), device="cpu").generate(np.zeros((32, 48), np.int64), seed=0)
    assert img.shape == (32, 48, 3)
    assert model.config.noise_3d == overrides.get("noise_3d", True)


def test_cli_dry_run_train_and_export(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    common = [
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "cli",
        "--runs-dir",
        str(tmp_path / "runs"),
        *TINY_ARGS,
        "--max-iters",
        "2",
        "--lr-d",
        "3e-4",
    ]
    assert train_main([*common, "--dry-run"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["train"]["lr_d"] == 3e-4 and resolved["train"]["lambda_labelmix"] == 10.0  # override + preset
    assert resolved["model"]["label_nc"] == 4 and resolved["model"]["class_names"][0] == "sky"
    assert train_main(common) == 0
    export = ["export", "cli", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "m"), "--half"]
    assert train_main([*export, "--name", "my model"]) == 0
    model = load_model(tmp_path / "m")
    assert model.config.class_colors[1] == COLORS[1] and model.has_discriminator and model.config.name == "my model"
    assert "# my model" in (tmp_path / "m" / "README.md").read_text()  # a card of this model, not a template
    assert train_main(["--dataset", "folder", "--dataroot", str(tmp_path / "nope"), "--name", "x"]) == 2


def test_resume_keeps_the_runs_options_and_lists_changes(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    run = ["--dataset", "folder", "--dataroot", str(data), "--name", "r", "--runs-dir", str(tmp_path / "runs")]
    assert train_main([*run, *TINY_ARGS, "--max-iters", "2", "--lr-d", "3e-4", "--seed", "3"]) == 0
    capsys.readouterr()
    resume = ["--name", "r", "--runs-dir", str(tmp_path / "runs"), "--resume"]  # all else from the run folder
    assert train_main([*resume, "--max-iters", "4", "--dry-run"]) == 0
    out = capsys.readouterr()
    resolved = json.loads(out.out)
    assert resolved["train"]["lr_d"] == 3e-4 and resolved["train"]["seed"] == 3 and resolved["model"]["channels_g"] == 4
    assert "max_iters 2 -> 4" in out.err and "uninterrupted" not in out.err
    assert train_main([*resume, "--lr-g", "0.1", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "lr_g 0.0001 -> 0.1" in err and "differs from an uninterrupted run" in err
    assert train_main([*resume, "--max-iters", "4"]) == 0
    assert load_checkpoint(tmp_path / "runs" / "r" / "checkpoints" / "latest.pt")["iteration"] == 4
    assert "finished at iteration 4; export a model folder with `oasis-train export" in capsys.readouterr().err
    assert train_main(["--name", "nothing", "--runs-dir", str(tmp_path / "runs"), "--resume"]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # without --resume, the data must be named
        train_main(["--name", "r2", "--runs-dir", str(tmp_path / "runs")])


def test_a_step_sees_the_same_images_on_any_number_of_processes() -> None:
    # --batch-size counts a step's images over all processes (the paper's 32 on 4 GPUs), and step k's images do not
    # depend on the number of processes: a run stopped on 4 can resume on 2 where it stopped.
    def ranks(world: int, start: int = 0) -> list[list[list[int]]]:
        infos = [DistInfo(r, world, r, torch.device("cpu")) for r in range(world)]
        return [EpochBatches(50, 8, info, seed=3, epoch=1, start=start).batches for info in infos]

    (one,) = ranks(1)
    assert len(one) == 6 and all(len(b) == 8 for b in one) and len({i for b in one for i in b}) == 48
    for world in (2, 4, 8):
        shares = ranks(world, start=2)
        assert all(len(b) == 8 // world for r in shares for b in r)
        assert [sum((r[k] for r in shares), []) for k in range(4)] == one[2:]


def test_bad_run_options_are_one_line_errors(tmp_path: Path, capsys) -> None:
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
    bad = [
        (["--batch-size", "0"], "must be a positive multiple of the 1 process(es), got 0"),
        (["--device", "gpu"], "use auto, cpu or cuda"),
        (["--gpus", str(torch.cuda.device_count() + 1)], "CUDA GPU(s); several CPU processes: torchrun"),
        (["--crop-height", "20", "--crop-width", "24"], "multiple of the discriminator's total downsampling 8"),
    ]
    if not torch.cuda.is_available():
        bad.append((["--device", "cuda"], "PyTorch sees no CUDA GPU"))
    for extra, message in bad:
        assert train_main([*run, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "runs" / "bad").exists()  # refused before the run folder was made


def test_torchrun_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", n=8)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "training",
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "ddp",
        "--runs-dir",
        str(tmp_path / "runs"),
        *TINY_ARGS,
        "--max-iters",
        "3",
        "--device",
        "cpu",
        "--sample-every",
        "100",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "runs" / "ddp" / "log.txt").read_text()
    assert "weights identical on all 2 ranks: True" in log
    assert load_checkpoint(tmp_path / "runs" / "ddp" / "checkpoints" / "latest.pt")["iteration"] == 3


def test_crop_training_generates_full_size_images(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, crop_height=16, crop_width=24, sample_every=100), CPU)
    batch = next(iter(t._loader()))
    assert batch["image"].shape[-2:] == (16, 24) and batch["labels"].shape[-2:] == (16, 24)
    assert t.train() == "finished"
    export(t.run_dir, tmp_path / "model")
    model = load_model(tmp_path / "model")
    assert (model.config.height, model.config.width) == (32, 48)
    img = Synthesizer(model, device="cpu").generate(np.zeros((32, 48), np.int64), seed=0)
    assert img.shape == (32, 48, 3)


def test_one_d_call_on_the_concatenation_equals_separate_calls(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path), CPU)
    parts = [torch.randn(2, 3, 32, 48) for _ in range(3)]
    together = t.D(torch.cat(parts))
    for k, p in enumerate(parts):
        torch.testing.assert_close(together[2 * k : 2 * k + 2], t.D(p), rtol=1e-3, atol=1e-4)


def test_cpu_precision_follows_the_hardware(tmp_path: Path) -> None:
    from oasis_core import cpu_has_fast_bf16

    assert Trainer(tiny(tmp_path), CPU).precision == ("bf16" if cpu_has_fast_bf16() else "fp32")


def test_init_from_an_exported_model(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, max_iters=2, sample_every=100), CPU)
    t.train()
    export(t.run_dir, tmp_path / "model")
    warm = Trainer(tiny(tmp_path, name="warm", ema_warmup=True, init_from=str(tmp_path / "model")), CPU)
    for ours, theirs in ((warm.G, t.EMA), (warm.EMA, t.EMA), (warm.D, t.D)):
        sd = theirs.state_dict()
        assert all(torch.equal(v, sd[k]) for k, v in ours.state_dict().items() if "num_batches" not in k)
    assert warm.iteration == 0 and warm.train() == "finished"
    # the EMA starts from the model's trained average: no warm-up, also after --resume
    assert not warm.ema_warmup
    assert not Trainer(tiny(tmp_path, name="warm", ema_warmup=True, max_iters=6), CPU, resume=True).ema_warmup
    assert Trainer(tiny(tmp_path, name="cold", ema_warmup=True), CPU).ema_warmup
    textured = Trainer(tiny(tmp_path, name="textured", noise_pixel_channels=4, init_from=str(tmp_path / "model")), CPU)
    assert all(torch.equal(v, t.D.state_dict()[k]) for k, v in textured.D.state_dict().items())  # noise layout only
    with pytest.raises(TrainingError, match="model differs"):
        Trainer(tiny(tmp_path, name="bad", channels_g=8, init_from=str(tmp_path / "model")), CPU)
    with pytest.raises(TrainingError, match="--init-from"):
        Trainer(tiny(tmp_path, name="missing", init_from=str(tmp_path / "nowhere")), CPU)


def test_size_preset_then_overrides(tmp_path: Path, capsys) -> None:
    data = make_dataset(tmp_path / "data")
    args = ["--dataset", "folder", "--dataroot", str(data), "--name", "p", "--preset", "cpu-small", "--dry-run"]
    assert train_main([*args, "--batch-size", "4"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["model"]["height"] == 192 and resolved["model"]["channels_g"] == 16
    assert resolved["train"]["crop_height"] == 96 and resolved["train"]["batch_size"] == 4
    args[args.index("cpu-small")] = "cpu-fast"
    assert train_main([*args, "--clade-blocks", "1"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["model"]["channels_g"] == 16 and resolved["model"]["spade_shared"]
    assert resolved["model"]["clade_blocks"] == 1 and resolved["train"]["reuse_fake"]


class _SlowStartWorkers(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return i


def _slow_worker_init(worker_id: int) -> None:
    import time

    from training.loader import leave_stop_signals_to_the_trainer

    time.sleep(1.0)  # the window between a worker's fork and its signal set-up, made wide
    leave_stop_signals_to_the_trainer(worker_id)


def test_a_stop_signal_reaching_a_starting_worker_does_not_kill_it() -> None:
    import signal

    from training.loader import start_workers

    loader = torch.utils.data.DataLoader(
        _SlowStartWorkers(), batch_size=2, num_workers=1, worker_init_fn=_slow_worker_init
    )
    batches = start_workers(loader)
    os.kill(batches._workers[0].pid, signal.SIGTERM)  # before the worker ignores it
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3]]  # the worker lived


def test_sigterm_to_the_whole_process_group_saves_a_checkpoint(tmp_path: Path) -> None:
    """A batch system's SIGTERM reaches the data workers too: the run must still end with a checkpoint."""
    import signal
    import time

    data = make_dataset(tmp_path / "data", n=8)
    run = tmp_path / "runs" / "sig"
    cmd = [
        sys.executable,
        "-m",
        "training",
        "--dataset",
        "folder",
        "--dataroot",
        str(data),
        "--name",
        "sig",
        "--runs-dir",
        str(tmp_path / "runs"),
        *TINY_ARGS,  # then 2 data workers: the stop must reach them too
        "--num-workers",
        "2",
        "--max-iters",
        "100000",
        "--device",
        "cpu",
        "--sample-every",
        "100000",
        "--log-every",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists() or (run / "metrics.jsonl").read_text().count("\n") < 3:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)  # trainer and data workers alike
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    log = (run / "log.txt").read_text()
    assert "stopped by signal" in log
    it = load_checkpoint(run / "checkpoints" / "latest.pt")["iteration"]
    assert it >= 3 and f"stopped by signal at iteration {it}" in log


def test_mix_noise_flips_between_image_and_region_level_per_step(tmp_path: Path) -> None:
    t = Trainer(tiny(tmp_path, noise_mode="mix"), CPU)
    labels = torch.zeros(2, 32, 48, dtype=torch.long)
    labels[:, :, 24:] = 1  # two regions
    kinds = set()
    for _ in range(20):
        z = t.sample_noise(labels)
        assert torch.equal(z[:, :, :, :24], z[:, :, :1, :1].expand(-1, -1, 32, 24))  # constant inside a region
        same = torch.equal(z[:, :, 0, 0], z[:, :, 0, 47])
        kinds.add("image" if same else "region")
    assert kinds == {"image", "region"}  # never pixel-level


@pytest.mark.parametrize("mode", ["image", "region", "mix"])
def test_pixel_noise_channels_in_every_noise_mode(tmp_path: Path, mode: str) -> None:
    t = Trainer(tiny(tmp_path, noise_mode=mode, noise_pixel_channels=3), CPU)
    assert t.model_config.noise_pixel_channels == 3
    labels = torch.zeros(2, 32, 48, dtype=torch.long)
    for z in (t.sample_noise(labels), t._fixed_noise(labels, seed=1)):
        k = z.shape[1] - 3
        assert torch.equal(z[:, :k], z[:, :k, :1, :1].expand(-1, -1, 32, 48))  # one region: constant
        assert (z[:, k:, 0, 0] != z[:, k:, 31, 47]).all()
        assert not torch.equal(z[0], z[1])


@pytest.mark.slow  # inductor compiles G and D for ~2 minutes on 2 cores
def test_compiled_step_matches_eager(tmp_path: Path) -> None:
    """`--compile` changes how the step runs, not what it computes: same losses and updates as eager."""
    runs = []
    for compiled in (False, True):
        t = Trainer(
            tiny(tmp_path, name=f"compile-{compiled}", compile=compiled, deterministic=False, precision="fp32"), CPU
        )
        batch = next(iter(t._loader()))
        image = batch["image"].contiguous(memory_format=torch.channels_last)
        stats = [t.step(image, batch["labels"]) for _ in range(2)]
        runs.append((stats, flat_state(t)))
    (eager, s_eager), (comp, s_comp) = runs
    for a, b in zip(eager, comp):
        assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
    diffs = [(s_eager[k].float() - s_comp[k].float()).abs().max().item() for k in s_eager if k.startswith("G.")]
    assert max(diffs) < 1e-3


def test_compile_memory_budget_must_be_a_share(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="--compile-memory-budget"):
        Trainer(tiny(tmp_path, compile=True, compile_memory_budget=0.0), CPU)
