"""Model configuration: one frozen, JSON-serialisable dataclass describes a G/D pair and its palette."""

from __future__ import annotations

import colorsys
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Norm = Literal["batch", "sync-batch", "instance"]
Padding = Literal["zeros", "reflect"]
Modulation = Literal["spade", "shared", "clade"]

# Generator stage widths as multiples of `channels_g` (paper, Table M): 8x8 -> 256x256 for 256x256 outputs.
PAPER_G_MULTS = (16, 16, 16, 8, 4, 2, 1)
# Discriminator encoder widths (paper, Table L); the decoder mirrors them.
PAPER_D_CHANNELS = (128, 128, 256, 256, 512, 512)

FORMAT_VERSION = 1
# Keys every model file has had since format 1: a file without them is damaged, and the paper's defaults would
# silently build another model. Keys added later default to the behaviour of the files written before them.
REQUIRED_KEYS = ("label_nc", "height", "width", "z_dim", "channels_g", "g_mults", "spade_hidden", "norm",
                 "spectral_norm", "noise_3d", "d_channels", "d_last_channels")


class ConfigError(ValueError):
    """A configuration that cannot describe a working model."""


def default_colors(n: int) -> tuple[tuple[int, int, int], ...]:
    """Distinct, stable colours for `n` classes (golden-ratio hue walk)."""
    out = []
    for i in range(n):
        h = (i * 0.618033988749895) % 1.0
        s = 0.55 + 0.35 * ((i // 7) % 2)
        v = 0.95 - 0.3 * ((i // 3) % 2)
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(out)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build, load and drive an OASIS generator/discriminator pair.

    `label_nc` counts every label channel, including a don't-care channel when the dataset has one
    (ADE20K: 150 classes + "other" = 151). The generator's input is the one-hot label map
    concatenated with `z_dim` channels of 3D noise (noise first, as in the paper's code).
    """

    label_nc: int
    height: int = 256
    width: int = 256
    z_dim: int = 64
    channels_g: int = 64
    g_mults: tuple[int, ...] = PAPER_G_MULTS
    spade_hidden: int = 128
    spade_shared: bool = False  # one hidden SPADE embedding per block instead of one per norm
    clade_blocks: int = 0  # the last k blocks (highest resolutions) use class-adaptive 1x1 modulation
    norm: Norm = "sync-batch"
    spectral_norm: bool = True
    d_spectral_norm: bool = True  # with spectral_norm: in D too (off: only G's convolutions are normalised)
    # How 3x3 convs of G and D pad. Zeros (paper) tell the networks where the image border is; small models
    # trained briefly turn that into stripes parallel to the borders. Reflection carries no such signal.
    padding: Padding = "zeros"
    noise_3d: bool = True
    # The last k of the z_dim noise channels are drawn per pixel, the others once per image (paper: 0, all per
    # image). Inside a region of one class, image-level noise and labels are constant, so a small generator's only
    # source of texture is the region's edges: it draws lines parallel to them. Per-pixel channels give it one.
    noise_pixel_channels: int = 0
    d_channels: tuple[int, ...] = PAPER_D_CHANNELS
    d_last_channels: int = 64
    class_names: tuple[str, ...] = ()
    class_colors: tuple[tuple[int, int, int], ...] = ()
    dont_care_id: int | None = None
    name: str = ""
    format_version: int = field(default=FORMAT_VERSION)

    def __post_init__(self) -> None:
        # JSON round trips give lists: store tuples so the config stays hashable and comparable.
        object.__setattr__(self, "g_mults", tuple(int(m) for m in self.g_mults))
        object.__setattr__(self, "d_channels", tuple(int(c) for c in self.d_channels))
        names = tuple(str(n) for n in self.class_names) or tuple(f"class {i}" for i in range(self.label_nc))
        object.__setattr__(self, "class_names", names)
        colors = tuple(tuple(int(v) for v in c) for c in self.class_colors) or default_colors(self.label_nc)
        object.__setattr__(self, "class_colors", colors)
        self._validate()

    def _validate(self) -> None:
        if self.label_nc < 1:
            raise ConfigError(f"label_nc must be >= 1, got {self.label_nc}")
        if self.format_version > FORMAT_VERSION:
            raise ConfigError(
                f"model format version {self.format_version} is newer than this program understands "
                f"({FORMAT_VERSION}); update OASIS Studio"
            )
        if len(self.g_mults) < 2:
            raise ConfigError("g_mults needs at least two stages")
        f = self.upsampling
        if self.height <= 0 or self.width <= 0 or self.height % f or self.width % f:
            raise ConfigError(
                f"output size {self.height}x{self.width} must be a positive multiple of the generator's "
                f"total upsampling {f} (set by the {len(self.g_mults) - 1} SPADE blocks)"
            )
        if self.height % self.d_downsampling or self.width % self.d_downsampling:
            raise ConfigError(
                f"output size {self.height}x{self.width} must be a multiple of the discriminator's total "
                f"downsampling {self.d_downsampling} (set by its {len(self.d_channels)} levels)"
            )
        if not 0 <= self.clade_blocks <= len(self.g_mults) - 1:
            raise ConfigError(f"clade_blocks must be in 0..{len(self.g_mults) - 1} (the number of SPADE blocks)")
        if self.norm not in ("batch", "sync-batch", "instance"):
            raise ConfigError(f"norm must be 'batch', 'sync-batch' or 'instance', got {self.norm!r}")
        if self.padding not in ("zeros", "reflect"):
            raise ConfigError(f"padding must be 'zeros' or 'reflect', got {self.padding!r}")
        if self.padding == "reflect" and min(self.height, self.width) < 2 * max(f, self.d_downsampling // 2):
            raise ConfigError(
                f"reflect padding needs every stage of G and D to be at least 2 pixels wide: output "
                f"{self.height}x{self.width} is too small for upsampling {f} and D's {len(self.d_channels)} levels"
            )
        if len(self.class_names) != self.label_nc:
            raise ConfigError(f"{len(self.class_names)} class names for {self.label_nc} label channels")
        if len(self.class_colors) != self.label_nc or any(
            len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.class_colors
        ):
            raise ConfigError(f"class_colors must be {self.label_nc} RGB triples in 0..255")
        if self.dont_care_id is not None and not 0 <= self.dont_care_id < self.label_nc:
            raise ConfigError(f"dont_care_id {self.dont_care_id} is outside 0..{self.label_nc - 1}")
        if self.z_dim < 0 or (self.noise_3d and self.z_dim == 0):
            raise ConfigError("3D noise needs z_dim > 0")
        if not 0 <= self.noise_pixel_channels <= self.noise_channels:
            raise ConfigError(f"noise_pixel_channels must be in 0..{self.noise_channels} (the noise channels)")

    # ---- derived sizes -------------------------------------------------------------------------
    @property
    def upsampling(self) -> int:
        """Total upsampling of the generator: the first conv runs at (height, width) / upsampling."""
        return 2 ** (len(self.g_mults) - 2)

    @property
    def g_widths(self) -> tuple[int, ...]:
        return tuple(m * self.channels_g for m in self.g_mults)

    def block_modulation(self, index: int) -> Modulation:
        """"spade", "shared" or "clade" for SPADE block `index` (0 = lowest resolution)."""
        if index >= len(self.g_mults) - 1 - self.clade_blocks:
            return "clade"
        return "shared" if self.spade_shared else "spade"

    @property
    def noise_channels(self) -> int:
        return self.z_dim if self.noise_3d else 0

    @property
    def cond_channels(self) -> int:
        """Channels of the conditioning map cat(z, onehot) fed to the first conv and every SPADE."""
        return self.noise_channels + self.label_nc

    @property
    def d_downsampling(self) -> int:
        return 2 ** len(self.d_channels)

    @property
    def semantic_ids(self) -> tuple[int, ...]:
        """Class ids a user can paint and the segmenter can predict (all but don't-care)."""
        return tuple(i for i in range(self.label_nc) if i != self.dont_care_id)

    # ---- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}: is this an OASIS Studio model?")
        if missing := [k for k in REQUIRED_KEYS if k not in data]:
            raise ConfigError(f"config has no {missing}: is this an OASIS Studio model?")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> ModelConfig:
        return type(self).from_dict({**self.to_dict(), **changes})

    # ---- the paper's configurations ------------------------------------------------------------
    @classmethod
    def paper(cls, dataset: str) -> ModelConfig:
        """The exact configurations of the paper (Section 4, Appendix C)."""
        presets: dict[str, dict[str, Any]] = {
            # 150 classes + "other" (id 0, don't-care).
            "ade20k": dict(label_nc=151, height=256, width=256, dont_care_id=0),
            # 34 label ids + unlabeled (id 0, don't-care).
            "cityscapes": dict(label_nc=35, height=256, width=512, dont_care_id=0),
            # 182 raw ids shifted by one; 255 -> 0 (don't-care).
            "coco-stuff": dict(label_nc=183, height=256, width=256, dont_care_id=0),
        }
        if dataset not in presets:
            raise ConfigError(f"unknown dataset {dataset!r}; choose one of {sorted(presets)}")
        return cls(**presets[dataset], name=f"oasis-{dataset}")
