"""Training-step throughput and peak memory: `Trainer.step` versus a reference-style step, same objective.

The reference-style step calls D separately on fake, real and mixed images, lets the G step compute D's
parameter gradients, and runs in fp32 without channels_last: what the authors' code does.

    python benchmarks/bench_training.py --device cuda                        # paper config, ADE20K, 256x256, batch 32
    python benchmarks/bench_training.py --device cuda --variants compile,compile-reuse  # torch.compile'd steps
    python benchmarks/bench_training.py --device cpu --preset small --batch 8   # a small model on 2 cores
    python benchmarks/bench_training.py --cpu-first     # the bundled preset versus the plain baseline, pixels/s

`--cpu-first` measures what the CPU-first training issue asks for, in one run on the CPU: the plain baseline
(the small OASIS at 96x128, fp32, reference-style step) against the bundled models' `cpu-small` preset
(192x256 model trained on 96x128 crops, `Trainer.step`), in training pixels per second (crop pixels for the
preset: what G and D process per step), plus the preset's variants (fp32, --reuse-fake, --compile,
--spade-shared, --clade-blocks 2), the `cpu-fast` preset (cpu-small with those that paid) and the `cpu-pretrained`
preset (cpu-fast with D on a frozen ImageNet backbone).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from oasis_core import random_layout
from training import losses
from training.distributed import DistInfo
from training.options import PRESETS, SIZE_PRESETS, TrainConfig
from training.trainer import Trainer

# The CPU starting point of the CPU-first training issue: G widths x16, SPADE hidden 32, D base width 32.
SMALL = dict(channels_g=16, spade_hidden=32, d_channels=(32, 32, 64, 64, 128), d_last_channels=32)


def synthetic_folder(root: Path, classes: int, size: tuple[int, int], n: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        lab = random_layout(*size, list(range(classes)), regions=12, seed=i).astype(np.uint8)
        img = (rng.random((*size, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"{i}.jpg")
        Image.fromarray(lab).save(root / "labels" / f"{i}.png")
    (root / "classes.json").write_text(json.dumps({"names": [f"c{k}" for k in range(classes)]}))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("\n".join(str(i) for i in range(n)))
    return root


def reference_style_step(t: Trainer, image: torch.Tensor, labels: torch.Tensor) -> None:
    """The authors' step: D's gradients computed in the G step, three separate D calls, fp32."""
    mc, cfg = t.model_config, t.cfg
    onehot = t._onehot(labels).contiguous()
    w = losses.class_weights(labels, mc.label_nc, mc.dont_care_id)
    loss_g = losses.real_loss(t.D(t.G(onehot, t.sample_noise(labels))), labels, w)
    t.opt_G.zero_grad()
    t.opt_D.zero_grad()
    loss_g.backward()
    t.opt_G.step()
    with torch.no_grad():
        fake = t.G(onehot, t.sample_noise(labels))
    t.opt_D.zero_grad()
    d_fake, d_real = t.D(fake), t.D(image)
    mask = losses.labelmix_mask(labels, mc.label_nc, t.noise_gen)
    d_mixed = t.D(mask * image + (1 - mask) * fake)
    loss_d = (
        losses.fake_loss(d_fake)
        + losses.real_loss(d_real, labels, w)
        + cfg.lambda_labelmix * losses.labelmix_loss(mask, d_mixed, d_real, d_fake)
    )
    loss_d.backward()
    t.opt_D.step()


def measure(t: Trainer, batch: dict, reference: bool, steps: int, warmup: int) -> tuple[float, float]:
    dev = t.device
    image = batch["image"].to(dev)
    if t.cfg.channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    labels = batch["labels"].to(dev)
    run = (lambda: reference_style_step(t, image, labels)) if reference else (lambda: t.step(image, labels))
    for k in range(warmup):  # the first steps of a compiled trainer compile: their times say how long that takes
        start = time.perf_counter()
        run()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        print(f"  warm-up step {k + 1}: {time.perf_counter() - start:.1f} s", flush=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        run()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    return image.shape[0] / sec, peak


def profile(t: Trainer, batch: dict, reference: bool) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if t.device.type == "cuda" else [])
    with torch_profile(activities=acts, record_shapes=True) as prof:
        measure(t, batch, reference, steps=2, warmup=0)
    key = "self_cuda_time_total" if t.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=18, max_name_column_width=60), flush=True)
    # Eager copies (casts, layout fix-ups between compiled graphs) by shape: the table above lumps them together.
    copies = [e for e in prof.key_averages(group_by_input_shape=True) if e.key == "aten::copy_"]
    for e in sorted(copies, key=lambda e: -getattr(e, key))[:8]:
        print(f"aten::copy_ {getattr(e, key) / 1e3:8.1f} ms  x{e.count}  {e.input_shapes}", flush=True)


def cpu_first(args: argparse.Namespace) -> None:
    """Plain baseline versus the cpu-small preset (and its variants), training pixels per second."""
    torch.set_num_threads(args.threads)
    preset = SIZE_PRESETS["cpu-small"]
    h, w = preset["height"], preset["width"]
    variants = {
        "plain": (
            "plain: small OASIS 96x128, fp32, reference-style step",
            dict(
                SMALL, height=96, width=128, precision="fp32", channels_last=False, padding="zeros", sn_init_gain=0.02
            ),
            True,
        ),
        "cpu-small": ("cpu-small preset (Trainer.step)", dict(preset), False),
        "fp32": ("cpu-small, fp32", dict(preset, precision="fp32"), False),
        "reuse": ("cpu-small --reuse-fake", dict(preset, reuse_fake=True), False),
        "compile": ("cpu-small --compile", dict(preset, compile=True), False),
        "shared": ("cpu-small --spade-shared", dict(preset, spade_shared=True), False),
        "clade": ("cpu-small --clade-blocks 2", dict(preset, clade_blocks=2), False),
        "shared-reuse": (
            "cpu-small --spade-shared --reuse-fake",
            dict(preset, spade_shared=True, reuse_fake=True),
            False,
        ),
        "clade-reuse": (
            "cpu-small --clade-blocks 2 --reuse-fake",
            dict(preset, clade_blocks=2, reuse_fake=True),
            False,
        ),
        "cpu-fast": (
            "cpu-fast preset (cpu-small --spade-shared --clade-blocks 2 --reuse-fake)",
            dict(SIZE_PRESETS["cpu-fast"]),
            False,
        ),
        "cpu-pretrained": (
            "cpu-pretrained preset (cpu-fast, D on frozen EfficientNet-Lite0, DiffAugment)",
            dict(SIZE_PRESETS["cpu-pretrained"]),
            False,
        ),
    }
    chosen = args.variants.split(",") if args.variants else list(variants)
    if unknown := set(chosen) - set(variants):
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {', '.join(variants)}")
    results: dict = {"device": f"cpu x{torch.get_num_threads()}", "torch": torch.__version__, "classes": 9}
    print(
        f"# {results['device']}, 9 classes, batch {preset['batch_size']}, {args.steps} timed steps after {args.warmup}"
    )
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_folder(Path(tmp) / "data", 9, (h, w), n=2 * preset["batch_size"])
        for key in chosen:
            name, over, ref = variants[key]
            if args.precision:  # e.g. fp32: what a CPU without bf16 instructions runs
                over = {**over, "precision": args.precision}
            cfg = {
                **PRESETS["folder"],
                "batch_size": preset["batch_size"],
                **over,
                "dataset": "folder",
                "dataroot": str(data),
                "name": key,
                "runs_dir": tmp,
                "num_workers": 0,
                "device": "cpu",
            }
            t = Trainer(TrainConfig.from_dict(cfg), DistInfo(0, 1, 0, torch.device("cpu")))
            batch = next(iter(t._loader()))
            start = time.perf_counter()
            ips, _ = measure(t, batch, ref, args.steps, args.warmup)
            pixels = batch["image"].shape[-2] * batch["image"].shape[-1]
            baseline = baseline or ips * pixels
            print(
                f"{name:55s} {ips:6.2f} images/s {ips * pixels / 1e3:7.1f} kpx/s  {ips * pixels / baseline:4.2f}x"
                f"  ({t.precision}, {time.perf_counter() - start:.0f} s with warm-up)",
                flush=True,
            )
            results[key] = {
                "name": name,
                "images_per_sec": ips,
                "pixels_per_sec": ips * pixels,
                "vs_first": ips * pixels / baseline,
                "precision": t.precision,
                "train_size": list(batch["image"].shape[-2:]),
            }
            if args.out:
                Path(args.out).write_text(json.dumps(results, indent=2))
            del t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu-first", action="store_true", help="plain baseline vs the cpu-small preset on the CPU")
    p.add_argument("--threads", type=int, default=2, help="with --cpu-first: CPU threads (default 2)")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        help="with --cpu-first: every variant in this precision (fp32: as on a CPU without bf16)",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", choices=["paper", "small"], default="paper")
    p.add_argument("--classes", type=int, default=151)
    p.add_argument("--size", default="256,256")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--variants",
        help="comma-separated: reference, step, reuse, bf16, compile, compile-reuse, "
        "compile-reuse-mem; "
        "with --cpu-first: plain, cpu-small, fp32, reuse, compile, shared, clade, shared-reuse, "
        "clade-reuse, cpu-fast, cpu-pretrained "
        "(default: reference, step, reuse, and bf16 on CPU; compile's warm-up steps compile)",
    )
    p.add_argument("--profile", action="store_true", help="print the top kernels of each measured step")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig overrides, e.g. spade_hidden=64"
    )
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.cpu_first:
        return cpu_first(args)
    h, w = (int(v) for v in args.size.split(","))
    dev = torch.device(args.device)
    results = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "preset": args.preset,
        "classes": args.classes,
        "size": [h, w],
        "batch": args.batch,
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_folder(Path(tmp) / "data", args.classes, (h, w), n=args.batch)
        base = dict(
            PRESETS["ade20k"],
            dataset="folder",
            dataroot=str(data),
            name="bench",
            runs_dir=tmp,
            height=h,
            width=w,
            batch_size=args.batch,
            num_workers=0,
            norm="batch",
            device=args.device,
        )
        if args.preset == "small":
            base.update(SMALL)
        for kv in args.set:
            key, value = kv.split("=", 1)
            base[key] = json.loads(value) if value[:1] in "[{0123456789-tf" else value
        print(f"# {results['device']}, {args.preset} config, {args.classes} classes, {h}x{w}, batch {args.batch}")
        variants = {
            "reference": ("reference-style (fp32, 3 D calls)", dict(precision="fp32", channels_last=False), True),
            "step": ("Trainer.step", dict(), False),
            "reuse": ("Trainer.step --reuse-fake", dict(reuse_fake=True), False),
            "bf16": ("Trainer.step bf16 autocast", dict(precision="bf16"), False),
            "compile": ("Trainer.step --compile", dict(compile=True), False),
            "compile-reuse": ("Trainer.step --compile --reuse-fake", dict(compile=True, reuse_fake=True), False),
            "compile-reuse-mem": (
                "Trainer.step --compile --reuse-fake --compile-memory-budget 0.5",
                dict(compile=True, reuse_fake=True, compile_memory_budget=0.5),
                False,
            ),
        }
        chosen = (
            args.variants.split(",")
            if args.variants
            else (["reference", "step", "reuse"] + (["bf16"] if dev.type == "cpu" else []))
        )
        if unknown := set(chosen) - set(variants):
            raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {', '.join(variants)}")
        variants = [variants[k] for k in chosen]
        for name, over, ref in variants:
            t = Trainer(TrainConfig.from_dict({**base, **over}), DistInfo(0, 1, 0, dev))
            batch = next(iter(t._loader()))
            start = time.perf_counter()
            ips, peak = measure(t, batch, ref, args.steps, args.warmup)
            print(f"  ({time.perf_counter() - start:.0f} s with warm-up)", flush=True)
            print(f"{name:36s} {ips:8.2f} images/s  peak {peak:6.2f} GiB  ({t.precision})", flush=True)
            if args.profile:
                profile(t, batch, ref)
            results[name] = {"images_per_sec": ips, "peak_gib": peak, "precision": t.precision}
            if args.out:  # after every variant: a run cut short keeps what it measured
                Path(args.out).write_text(json.dumps(results, indent=2))
            del t
            torch._dynamo.reset()  # the next variant's compiled code starts from an empty cache
            if dev.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
