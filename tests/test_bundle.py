"""`oasis-studio --self-test`, from the source tree (fast) and from the PyInstaller bundle (slow: builds it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from oasis_core import OasisModel, bundled_models

from .helpers.models import tiny_config

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_LIMIT_MB = 900  # MiB, as `du -sm` counts


def _tiny_models_dir(root: Path) -> Path:
    """A models folder holding one tiny "landscapes" model, like the bundled assets/models."""
    torch.manual_seed(0)
    OasisModel(tiny_config()).save_pretrained(root / "landscapes")
    return root


def _env(tmp_path: Path, models_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OASIS_STUDIO_DATA=str(tmp_path / "data"))
    env.pop("OASIS_MODELS_DIR", None)
    if models_dir is not None:
        env["OASIS_MODELS_DIR"] = str(models_dir)
    return env


def _check_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    assert "self-test ok" in out
    for key in ("device:", "precision:", "latency:"):
        assert key in out, out


def test_self_test_from_source(tmp_path: Path) -> None:
    models = _tiny_models_dir(tmp_path / "models")
    cmd = [sys.executable, "-m", "app.main", "--self-test"]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=_env(tmp_path, models), capture_output=True, text=True, timeout=300, check=False
    )
    _check_ok(proc)
    assert "model: tiny" in proc.stdout and "32x48" in proc.stdout


def test_self_test_fails_clearly_without_a_model(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "app.main", "--self-test"]
    env = _env(tmp_path, tmp_path / "no-models")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "self-test: FAILED" in proc.stderr and "no model is bundled" in proc.stderr, proc.stderr
    assert "self-test ok" not in proc.stdout


def _size_mb(folder: Path) -> float:
    total = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


@pytest.mark.slow
def test_bundle_builds_and_passes_its_self_test(tmp_path: Path) -> None:
    pytest.importorskip("PyInstaller", reason="install the build extra: pip install -e '.[build]'")
    dist = tmp_path / "dist"
    start = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "build" / "build.sh"), str(dist)],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    build_s = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    bundle = dist / "oasis-studio"
    exe = bundle / ("oasis-studio.exe" if sys.platform == "win32" else "oasis-studio")
    assert exe.is_file()
    size = _size_mb(bundle)
    print(f"\nbundle: {bundle}: {size:.0f} MiB, built in {build_s:.0f} s")

    # Development-only packages and unused Qt modules stay out.
    internal = bundle / "_internal"
    for absent in ("tensorboard", "training", "pytest", "sympy", "torch/include", "PySide6/Qt/qml"):
        assert not (internal / absent).exists(), absent
    assert not list(internal.rglob("libQt6Quick*")) and not list(internal.rglob("libQt6Qml*"))
    # The example layouts travel with the app (app.examples.examples_dir() reads them there); their script does not.
    assert (internal / "assets" / "examples" / "landscapes" / "examples.json").is_file()
    assert not list((internal / "assets").rglob("*.py"))

    # Without a bundled model (until one is shipped in assets/models) the self-test uses a tiny one.
    models = None if bundled_models() else _tiny_models_dir(tmp_path / "models")
    if models is not None:
        # ... and the bundle itself looks for models inside the bundle, saying so when there are none.
        bare = subprocess.run(
            [str(exe), "--self-test"],
            env=_env(tmp_path, None),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert bare.returncode != 0 and "_internal/assets/models" in bare.stderr.replace(os.sep, "/"), bare.stderr
    start = time.monotonic()
    run = subprocess.run(
        [str(exe), "--self-test"], env=_env(tmp_path, models), capture_output=True, text=True, timeout=600, check=False
    )
    print(run.stdout, f"(self-test took {time.monotonic() - start:.1f} s)")
    _check_ok(run)
    assert size <= BUNDLE_LIMIT_MB, f"the bundle is {size:.0f} MiB, over the {BUNDLE_LIMIT_MB} MiB target"
    shutil.rmtree(tmp_path / "work", ignore_errors=True)  # build.sh: PyInstaller scratch next to dist
    shutil.rmtree(dist)  # ~1 GB; kept only when the test fails
