"""Generator inference speed: the paper's ADE20K configuration (151 channels) at 256x256.

Compares the reference-style generator (one-hot input, spectral-norm parametrisation, fp32 eager) with
`FastGenerator` in the variants the Synthesizer can use. Prints a table and optionally writes JSON.

    python benchmarks/bench_generator.py --device cpu
    python benchmarks/bench_generator.py --device cuda --out results.json
    python benchmarks/bench_generator.py --model assets/models/landscapes             # a bundled model
    python benchmarks/bench_generator.py --model assets/models/landscapes --set spade_shared=true  # an option

`--set KEY=VALUE` changes the configuration (of `--model` or the paper's) and times randomly initialised
weights of that shape: the speed of a model option before training one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from oasis_core import FastGenerator, Generator, ModelConfig, noise
from oasis_core.fast import CudaGraphRunner
from oasis_core.labels import random_layout


def timeit(fn: Callable[[], object], device: torch.device, warmup: int, reps: int) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def variants(gpu: bool, compile: bool) -> list[tuple[str, str, str]]:
    """(label mode, precision, runner) combinations worth timing on this kind of device.

    "sparse": eager with full 3x3 work only at region/image borders (needs a painted-like layout)."""
    if not gpu:
        return [("bag", "fp32", "eager"), ("bag", "fp32", "sparse"), ("bag", "bf16", "sparse")]
    out = [("onehot", "fp32", "eager")]
    for prec in ("bf16", "fp16"):
        out += [("onehot", prec, "cuda-graph"), ("bag", prec, "cuda-graph")]
        if compile:
            out.append(("onehot", prec, "compiled"))
    return out


def trained_like(g: Generator, labels: torch.Tensor, z: torch.Tensor) -> None:
    """Weights of realistic scale (He init instead of the paper's gain 0.02, whose outputs are ~0) and
    batch-norm running statistics from one train-mode pass, so precision differences show."""
    for m in g.modules():
        if isinstance(m, torch.nn.Conv2d):
            wt = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            torch.nn.init.kaiming_normal_(wt.data, a=0.2)
    g.train()
    with torch.no_grad():
        g(F.one_hot(labels, g.config.label_nc).permute(0, 3, 1, 2).float(), z)
    g.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dataset", default="ade20k", help="paper configuration to build (random weights)")
    p.add_argument("--model", default=None, help="benchmark this model folder instead (e.g. assets/models/landscapes)")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (default: 1,16 GPU; 1 CPU)")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="also time torch.compile(mode='reduce-overhead')")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="ModelConfig changes, e.g. spade_shared=true clade_blocks=2 (random weights)",
    )
    p.add_argument("--compile-budget", type=float, default=1e9, help="start no compile after this many seconds")
    args = p.parse_args()

    t_start = time.perf_counter()
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    batches = [int(b) for b in (args.batches or ("1,16" if gpu else "1")).split(",")]
    reps = args.reps or (30 if gpu else 3)
    torch.manual_seed(0)
    if args.model:
        from oasis_core import load_model

        g = load_model(args.model, with_discriminator=False).generator.eval()
        cfg, name = g.config, args.model
    else:
        cfg, name = ModelConfig.paper(args.dataset), args.dataset
        g = Generator(cfg)
    if args.set:
        changes = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
        cfg, name = cfg.replace(**changes), f"{name} with {' '.join(args.set)}"
        g = Generator(cfg)
    h, w = cfg.height, cfg.width
    layout = torch.from_numpy(random_layout(h, w, list(cfg.semantic_ids), regions=10, seed=1))
    if not args.model or args.set:
        trained_like(g, layout[None], noise.sample(0, cfg.z_dim, h, w, pixel_channels=cfg.noise_pixel_channels))
    g = g.to(dev)
    info = {
        "device": torch.cuda.get_device_name(dev) if gpu else f"cpu x{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "config": name,
        "size": [h, w],
        "results": [],
    }
    print(f"# {info['device']}, torch {torch.__version__}, {name} {h}x{w}")
    print(f"{'variant':34s} {'batch':>5s} {'ms/call':>9s} {'ms/img':>8s} {'max|diff|':>10s}")

    def report(name: str, b: int, sec: float, diff: float | None) -> None:
        d = "" if diff is None else f"{diff:.2e}"
        print(f"{name:34s} {b:5d} {sec * 1e3:9.2f} {sec * 1e3 / b:8.2f} {d:>10s}", flush=True)
        info["results"].append(
            {
                "variant": name,
                "batch": b,
                "ms_per_call": sec * 1e3,
                "ms_per_image": sec * 1e3 / b,
                "max_abs_diff_vs_fp32_ref": diff,
            }
        )

    for b in batches:
        lab = layout[None].expand(b, -1, -1).to(dev)
        z = noise.sample(list(range(b)), cfg.z_dim, h, w, pixel_channels=cfg.noise_pixel_channels).to(dev)
        onehot = F.one_hot(lab, cfg.label_nc).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            ref_out = g(onehot, z)
            # Reference style: the one-hot map is built inside the timed call, as the reference code does.
            sec = timeit(
                lambda lab=lab, z=z: g(F.one_hot(lab, cfg.label_nc).permute(0, 3, 1, 2).float(), z), dev, 2, reps
            )
        report("reference-style fp32 eager", b, sec, 0.0)
        if gpu:
            torch.backends.cudnn.benchmark = True
        for mode, prec, runner_kind in variants(gpu, args.compile):
            dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
            if runner_kind == "compiled" and time.perf_counter() - t_start > args.compile_budget:
                continue
            sparse = runner_kind == "sparse"
            fg = FastGenerator(g, label_mode=mode, sparse=sparse).to(dev, dtype).to(memory_format=torch.channels_last)
            zc = z.to(dtype).contiguous(memory_format=torch.channels_last)
            t0 = time.perf_counter()
            if runner_kind in ("eager", "sparse"):
                run = fg
            elif runner_kind == "cuda-graph":
                run = CudaGraphRunner(fg)
            else:
                run = torch.compile(fg, mode="reduce-overhead", dynamic=False)
            with torch.inference_mode():
                for _ in range(3):
                    out = run(lab, zc)
                diff = (out.float() - ref_out).abs().max().item()
                setup = f" ({time.perf_counter() - t0:.0f}s)" if runner_kind == "compiled" else ""
                report(f"fast {prec} {mode} {runner_kind}{setup}", b, timeit(partial(run, lab, zc), dev, 3, reps), diff)
    # What the app sees: numpy layout in, uint8 image out, default device/precision choices.
    from oasis_core import OasisModel, Synthesizer

    model = OasisModel(cfg, with_discriminator=False)
    model.generator.load_state_dict(g.state_dict())
    for prec in ["bf16", "fp16"] if gpu else ["fp32", "bf16"]:
        synth = Synthesizer(model, device=dev, precision=prec)  # CUDA: graphs, no compile
        z1 = synth.sample_noise(0)
        lay = layout.numpy()
        report(f"Synthesizer.generate {prec}", 1, timeit(partial(synth.generate, lay, z1), dev, 2, reps), None)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
