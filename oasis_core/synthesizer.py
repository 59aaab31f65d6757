"""The inference engine the app and the CLIs call: label map + noise -> RGB image, and photo -> label map."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image

from . import noise as noise_ops
from .discriminator import Discriminator
from .fast import CudaGraphRunner, FastGenerator, LabelMode
from .labels import image_to_rgb, validate_labels
from .layers import fold_spectral_norm, to_device
from .model import OasisModel, load_model

Precision = Literal["auto", "fp32", "bf16", "fp16"]
# Noise fields per generator call in generate_batch. Callers that draw noise in chunks (oasis-generate) use it too:
# equal groups give bit-identical images (oneDNN may pick another algorithm for another batch size).
BATCH_SIZE = 8
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    reason: str


def select_device(device: str | torch.device = "auto") -> DeviceChoice:
    """`auto` picks CUDA, then Apple MPS, then the CPU, and says why."""
    if str(device) != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "device 'cuda' was asked for, but PyTorch sees no CUDA GPU (CPU-only build or no driver)"
            )
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was asked for, but Apple MPS is not available")
        return DeviceChoice(dev, f"{dev} was asked for")
    if torch.cuda.is_available():
        return DeviceChoice(torch.device("cuda"), f"CUDA GPU found: {torch.cuda.get_device_name(0)}")
    if torch.backends.mps.is_available():
        return DeviceChoice(torch.device("mps"), "Apple MPS GPU found")
    why = "PyTorch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
    return DeviceChoice(torch.device("cpu"), f"no GPU: {why}; using {torch.get_num_threads()} CPU threads")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has bf16 instructions (AVX512-BF16 / AMX): oneDNN's bf16 convolutions then run at about
    twice fp32's speed. mkldnn's own check also accepts plain AVX512, where bf16 is emulated: 2.5x slower than fp32 (a
    192x256 generator pass on one Cascade Lake core, 1.55 s vs 0.63 s)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def select_precision(precision: Precision, device: torch.device) -> str:
    if precision != "auto":
        if precision not in _DTYPES:
            raise ValueError(f"precision must be one of auto, fp32, bf16, fp16; got {precision!r}")
        if device.type == "cpu" and precision == "fp16":
            raise ValueError("fp16 is only offered on GPUs; use fp32 or bf16 on the CPU")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "mps":
        return "fp16"
    return "fp32"


class Synthesizer:
    """Runs an `OasisModel` for interactive use.

    Label maps of any size are resized (nearest) to the model's size and results are resized back, so the
    caller works in its own canvas size. Noise lives at the model's size (see `oasis_core.noise`).
    Inference uses the EMA generator in an inference-only, exactly rewritten form (`FastGenerator`).
    """

    def __init__(
        self,
        model: OasisModel | str | os.PathLike[str],
        device: str | torch.device = "auto",
        precision: Precision = "auto",
        label_mode: LabelMode | None = None,
        sparse: bool | None = None,
        cuda_graphs: bool | None = None,
        compile: bool = False,
    ) -> None:
        self.model = model if isinstance(model, OasisModel) else load_model(model)
        self.config = self.model.config
        choice = select_device(device)
        self.device, self.device_reason = choice.device, choice.reason
        self.precision = select_precision(precision, self.device)
        dtype = _DTYPES[self.precision]
        on_cpu = self.device.type == "cpu"
        # FLOP savings (label lookup, sparse borders) pay on CPUs; GPUs prefer dense, static-shape work.
        label_mode = label_mode or ("bag" if on_cpu else "onehot")
        if sparse is None:
            # Border-only SPADE convs pay for wide hidden layers (paper, 128: 1.72 -> 1.22 s) but cost more
            # than they save for narrow ones (cpu-small, 32: 135 -> 183 ms): benchmarks/bench_generator.py.
            sparse = on_cpu and self.config.spade_hidden >= 64
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest conv algorithms
        gen = FastGenerator(self.model.generator, label_mode=label_mode, sparse=sparse)
        gen = to_device(gen, self.device, dtype)
        self._generator: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor] = gen
        if compile:  # inductor's own CUDA graphs; minutes of compilation, so opt-in only
            self._generator = torch.compile(gen, mode="reduce-overhead", dynamic=False)
        elif self.device.type == "cuda" and (cuda_graphs is None or cuda_graphs) and not sparse:
            self._generator = CudaGraphRunner(gen)
        self._noise_cache: tuple[tuple, torch.Tensor, torch.Tensor] | None = None
        self._discriminator = None
        if self.model.discriminator is not None:
            # A fresh copy (deepcopy of parametrised modules shares state): fold it, keep the model intact.
            disc = Discriminator(self.config).eval()
            disc.load_state_dict(self.model.discriminator.state_dict())
            fold_spectral_norm(disc)
            self._discriminator = to_device(disc, self.device, dtype)

    # ---- properties ------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self.config.height, self.config.width

    @property
    def can_segment(self) -> bool:
        return self._discriminator is not None

    def describe(self) -> str:
        return f"{self.device.type} ({self.precision}): {self.device_reason}"

    # ---- noise -----------------------------------------------------------------------------------
    def sample_noise(self, seed: int | list[int], level: noise_ops.Level = "global") -> torch.Tensor:
        """Noise at the model's size for one seed (1, z, H, W) or a list of seeds (B, z, H, W)."""
        h, w = self.size
        return noise_ops.sample(seed, self.config.z_dim, h, w, level, self.config.noise_pixel_channels)

    # ---- generation ------------------------------------------------------------------------------
    def prepare_labels(self, labels: np.ndarray) -> np.ndarray:
        """Validate an (H, W) label map and resize it (nearest) to the model's size."""
        labels = validate_labels(labels, self.config.label_nc)
        if labels.shape == self.size:
            return labels
        t = torch.from_numpy(np.ascontiguousarray(labels))[None]
        return noise_ops.resize_nearest(t, self.size)[0].numpy()

    def generate(self, labels: np.ndarray, noise: torch.Tensor | None = None, seed: int | None = None) -> np.ndarray:
        """(H, W) ids + noise (z, h, w) or (1, z, h, w), or a seed for global noise -> (H, W, 3) uint8."""
        z = self._noise_for(noise, seed)
        if z is not None and z.shape[0] != 1:
            raise ValueError(f"generate takes one noise field, got {z.shape[0]}; use generate_batch")
        return self.generate_batch(labels, z)[0]

    @torch.inference_mode()
    def generate_batch(
        self, labels: np.ndarray, noise: torch.Tensor | None, batch_size: int = BATCH_SIZE
    ) -> np.ndarray:
        """One layout, several noise fields (B, z, h, w) -> (B, H, W, 3) uint8, `batch_size` at a time.

        For variations and interpolation frames. Models without 3D noise take `noise=None` (B = 1).
        The device copy of the noise is reused while the same tensor comes back unmodified; torch's in-place
        operations count as modifications, writes behind torch's back (a NumPy view, `.data`) do not: pass a
        new tensor after those.
        """
        labels = validate_labels(labels, self.config.label_nc)  # before its shape is read: it may have no two axes
        in_h, in_w = labels.shape
        lab = torch.from_numpy(self.prepare_labels(labels)).to(self.device)
        z = self._noise_for(noise, seed=None)
        z = None if z is None else self._on_device(z)
        frames = []
        for chunk in z.split(batch_size) if z is not None else [None]:
            b = 1 if chunk is None else chunk.shape[0]
            img = self._generator(lab[None].expand(b, -1, -1), chunk)
            if not torch.isfinite(img).all():  # it would be written as black pixels
                raise RuntimeError(
                    f"the generator's output holds NaN or inf in {self.precision} on {self.device.type}: a half "
                    "precision overflow (try fp32) or damaged weights"
                )
            frames.append(((img.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu())
        out = torch.cat(frames).numpy()
        if (in_h, in_w) != self.size:
            bicubic = Image.Resampling.BICUBIC
            out = np.stack([np.asarray(Image.fromarray(f).resize((in_w, in_h), bicubic)) for f in out])
        return out

    def _on_device(self, z: torch.Tensor) -> torch.Tensor:
        """Noise on the device in compute precision and layout. The last conversion is reused while the same,
        unmodified tensor comes back (live painting with locked noise sends it again and again)."""
        key = (z.data_ptr(), z._version, tuple(z.shape), z.stride(), z.dtype)
        if self._noise_cache is None or self._noise_cache[0] != key:
            converted = z.to(self.device, _DTYPES[self.precision]).contiguous(memory_format=torch.channels_last)
            self._noise_cache = (key, z, converted)  # holding z keeps its memory (and key) from being reused
        return self._noise_cache[2]

    def _noise_for(self, noise: torch.Tensor | None, seed: int | None) -> torch.Tensor | None:
        cfg = self.config
        if not cfg.noise_3d:
            if noise is not None:
                raise ValueError("this model was trained without 3D noise; do not pass noise")
            return None
        if noise is None:
            if seed is None:
                raise ValueError("pass noise or a seed")
            return self.sample_noise(seed)
        if not isinstance(noise, torch.Tensor):
            raise ValueError(f"noise must be a torch.Tensor (see sample_noise), got {type(noise).__name__}")
        z = noise[None] if noise.dim() == 3 else noise
        expected = (cfg.z_dim, *self.size)
        if z.dim() != 4 or tuple(z.shape[1:]) != expected:
            raise ValueError(
                f"noise must be (B, {expected[0]}, {expected[1]}, {expected[2]}), got {tuple(noise.shape)}"
            )
        if not z.is_floating_point():
            raise ValueError(f"noise must be a float tensor, got {z.dtype}")
        if z.shape[0] == 0:
            raise ValueError("noise holds no fields (batch size 0)")
        noise_ops.check_finite(z)
        return z

    # ---- segmentation ----------------------------------------------------------------------------
    @torch.inference_mode()
    def segment(self, image: np.ndarray | Image.Image) -> np.ndarray:
        """Photo -> (H, W) label map from the discriminator's class channels (the paper's scene autoencoder)."""
        if self._discriminator is None:
            raise RuntimeError("this model was saved without its discriminator, so it cannot segment photos")
        rgb = image_to_rgb(image)
        in_h, in_w = rgb.shape[:2]
        h, w = self.size
        resized = np.array(Image.fromarray(rgb).resize((w, h), Image.Resampling.BICUBIC))
        x = torch.from_numpy(resized).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        x = x.to(self.device, _DTYPES[self.precision]).contiguous(memory_format=torch.channels_last)
        logits = self._discriminator(x)[:, 1:].float()  # drop the "fake" channel
        if self.config.dont_care_id is not None:
            logits[:, self.config.dont_care_id] = float("-inf")
        labels = logits.argmax(1)
        if (in_h, in_w) != (h, w):
            labels = noise_ops.resize_nearest(labels, (in_h, in_w))
        return labels[0].cpu().numpy()

    def warmup(self) -> None:
        """One throwaway generation so the first real request does not pay for allocator/oneDNN setup."""
        self.generate(np.zeros(self.size, dtype=np.int64), seed=0)
