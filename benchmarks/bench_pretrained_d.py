"""The pretrained-backbone discriminator against the paper's, in the same CPU budget, judged by realism.

Trains two models from scratch on the same data with the same seed, side by side, one CPU thread each and the
same wall-clock limit: `--preset cpu-fast` (today's best CPU recipe, the paper's trainable D) and
`--preset cpu-pretrained` (the same generator and options with D's decoder on frozen ImageNet
EfficientNet-Lite0 features). Then exports both, evaluates both on the val split with the same judge
(`oasis-eval`: realism KID with its markers, judge mIoU, photo -> layout mIoU, diversity) and writes a
side-by-side sample sheet of the example layouts.

    python benchmarks/bench_pretrained_d.py --dataroot ../shared/datasets/stanford-background \\
        --classes-file assets/datasets/stanford-background.classes.json --examples landscapes --minutes 65 \\
        --work /tmp/bench-pretrained-d --out benchmarks/results/pretrained-d-cpu2-DATE.json \\
        --sheet docs/pretrained-d-65-minutes.jpg

Steps already done in --work (a finished run, an export, a judge, an evaluation) are not redone, so a cut-short
invocation can be repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"paper-d": "cpu-fast", "pretrained-d": "cpu-pretrained"}
BIN = Path(sys.executable).parent  # the environment's oasis-train and oasis-eval


def run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    print("$", " ".join(cmd), ">", log, flush=True)
    return subprocess.Popen(cmd, stdout=log.open("a"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{' '.join(map(str, p.args))} failed with exit code {p.returncode}")


def train(args: argparse.Namespace, work: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    data = ["--dataset", "folder", "--dataroot", args.dataroot]
    if args.classes_file:
        data += ["--classes-file", args.classes_file]
    procs = []
    for name, preset in VARIANTS.items():
        if (work / "runs" / name / "checkpoints" / "latest.pt").is_file() and (work / f"{name}.done").is_file():
            continue
        cmd = [str(BIN / "oasis-train"), *data, "--name", name, "--runs-dir", str(work / "runs"),
               "--preset", preset, "--seed", str(args.seed), "--num-workers", "1", "--device", "cpu",
               "--time-limit", str(args.minutes)]  # fmt: skip
        procs.append((name, run(cmd, work / f"{name}.train.log", env)))
    for name, p in procs:
        wait([p])
        (work / f"{name}.done").write_text(time.ctime())


def evaluate(args: argparse.Namespace, work: Path) -> dict[str, dict]:
    data = ["--dataset", "folder", "--dataroot", args.dataroot]
    if args.classes_file:
        data += ["--classes-file", args.classes_file]
    judge = Path(args.judge) if args.judge else work / "judge"
    if not (judge / "model.safetensors").is_file():
        wait([run([str(BIN / "oasis-eval"), "train-judge", *data, "--out", str(judge), "--time-limit", "300",
                   "--device", "cpu", "--quiet"], work / "judge.log")])  # fmt: skip
    results = {}
    for name in VARIANTS:
        model, out = work / "models" / name, work / "eval" / name
        if not (model / "model.safetensors").is_file():
            wait([run([str(BIN / "oasis-train"), "export", name, "--runs-dir", str(work / "runs"),
                       "--out", str(model)], work / f"{name}.export.log")])  # fmt: skip
        if not (out / "metrics.json").is_file():
            wait([run([str(BIN / "oasis-eval"), str(model), *data, "--judge", str(judge),
                       "--device", "cpu", "--quiet", "--out", str(out)], work / f"{name}.eval.log")])  # fmt: skip
        results[name] = json.loads((out / "metrics.json").read_text())
    return results


def summary(name: str, m: dict, run_dir: Path) -> dict:
    r, miou = m["realism"], m.get("miou") or {}
    progress = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {
        "preset": VARIANTS[name],
        "iterations": progress[-1].get("iteration") if progress else None,
        "kid": r["generated"]["kid"],
        "fd": r["generated"]["fd"],
        "markers_kid": {k: v["kid"] for k, v in r["markers"].items()},
        "judge_miou_generated": miou.get("generated"),
        "judge_miou_real": miou.get("real"),
        "photo_to_layout_miou": (m.get("photo_to_layout") or {}).get("miou"),
        "ms_ssim": (m.get("diversity") or {}).get("ms_ssim"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataroot", required=True)
    p.add_argument("--classes-file")
    p.add_argument("--examples", default="landscapes", help="assets/examples/NAME for the sample sheet")
    p.add_argument("--minutes", type=float, default=65, help="wall-clock limit of each training run")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per run (the runs go side by side)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--judge", help="a judge folder (default: train one on the dataset's train split)")
    p.add_argument("--work", default="/tmp/bench-pretrained-d", help="run, model and evaluation folders")
    p.add_argument("--out", required=True, help="results JSON")
    p.add_argument("--sheet", help="side-by-side sample sheet (JPEG)")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    train(args, work)
    results = {name: summary(name, m, work / "runs" / name) for name, m in evaluate(args, work).items()}
    a, b = results["paper-d"], results["pretrained-d"]
    results["comparison"] = {
        "kid_reduction": 1 - b["kid"]["mean"] / a["kid"]["mean"] if a["kid"]["mean"] else None,
        "judge_miou_change_points": 100 * (b["judge_miou_generated"] - a["judge_miou_generated"])
        if a["judge_miou_generated"] is not None and b["judge_miou_generated"] is not None else None,
        "photo_to_layout_change_points": 100 * (b["photo_to_layout_miou"] - a["photo_to_layout_miou"])
        if a["photo_to_layout_miou"] is not None and b["photo_to_layout_miou"] is not None else None,
    }  # fmt: skip
    results["setup"] = {"minutes_per_run": args.minutes, "threads_per_run": args.threads, "seed": args.seed,
                        "dataroot": Path(args.dataroot).name, "wall_seconds": round(time.time() - start)}  # fmt: skip
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if args.sheet:
        models = [f"{VARIANTS[n]}={work / 'models' / n}" for n in VARIANTS]
        wait([run([sys.executable, "docs/make_samples.py", args.examples, "--compare", *models, "--out", args.sheet],
                  work / "sheet.log")])  # fmt: skip


if __name__ == "__main__":
    main()
