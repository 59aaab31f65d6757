"""Model configuration: one frozen, JSON-serialisable dataclass describes a G/D pair and its palette."""

from __future__ import annotations

import colorsys
import json
import reprlib
from collections.abc import Callable
from dataclasses import Field, asdict, dataclass, field, fields
from functools import cache
from numbers import Integral
from types import UnionType
from typing import Any, Literal, NoReturn, Protocol, Union, get_args, get_origin, get_type_hints

Norm = Literal["batch", "sync-batch", "instance"]
Padding = Literal["zeros", "reflect"]
Modulation = Literal["spade", "shared", "clade"]

# Generator stage widths as multiples of `channels_g` (paper, Table M): 8x8 -> 256x256 for 256x256 outputs.
PAPER_G_MULTS = (16, 16, 16, 8, 4, 2, 1)
# Discriminator encoder widths (paper, Table L); the decoder mirrors them.
PAPER_D_CHANNELS = (128, 128, 256, 256, 512, 512)

# Frozen ImageNet networks D can be built on (oasis_core.backbone.LITE_SPECS); "" is the paper's own encoder.
DBackbone = Literal["", "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
D_BACKBONES: tuple[str, ...] = get_args(DBackbone)[1:]

FORMAT_VERSION = 1
# Keys every model file has had since format 1: a file without them is damaged, and the paper's defaults would
# silently build another model. Keys added later default to the behaviour of the files written before them.
REQUIRED_KEYS = (
    "label_nc",
    "height",
    "width",
    "z_dim",
    "channels_g",
    "g_mults",
    "spade_hidden",
    "norm",
    "spectral_norm",
    "noise_3d",
    "d_channels",
    "d_last_channels",
)

# Label maps are PNGs of at most 16 bits: 65536 ids.
MAX_LABEL_NC = 2**16
# 64 times the paper's 256: at the paper's widths one activation of G's last stage is then 64 GiB in fp32. A larger
# side is damage or a typo, and is refused before anything is allocated for it.
MAX_SIDE = 16384


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


class _Mismatch(Exception):
    """A value that is not of its field's type."""


def _mismatch() -> NoReturn:
    raise _Mismatch


@cache
def _conformer(hint: Any) -> Callable[[Any], Any]:
    """A function from a value to the value a field of type `hint` holds (lists as tuples, integer types as int) that
    raises _Mismatch for a value of another type. Strict, as JSON is: a bool, a float or a string is no integer, a
    string no list. Built once per type: a config.json may hold 65536 class names and colours."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is bool:
        return lambda v: v if isinstance(v, bool) else _mismatch()
    if hint is int:

        def integer(v: Any) -> int:
            if type(v) is int:  # the common case first: three per class colour
                return v
            if isinstance(v, Integral) and not isinstance(v, bool):  # numpy's integers; a bool is no number here
                return int(v)
            _mismatch()

        return integer
    if hint is str:
        return lambda v: v if isinstance(v, str) else _mismatch()
    if origin is Literal:
        return lambda v: v if isinstance(v, str) and v in args else _mismatch()
    if origin in (Union, UnionType):
        options = [_conformer(a) for a in args if a is not type(None)]

        def one_of(v: Any) -> Any:
            if v is None and type(None) in args:
                return None
            for option in options:
                try:
                    return option(v)
                except _Mismatch:
                    pass
            _mismatch()

        return one_of
    if origin is tuple and args[-1] is Ellipsis:  # tuple[X, ...]
        item = _conformer(args[0])
        return lambda v: tuple(map(item, v)) if isinstance(v, (list, tuple)) else _mismatch()
    if origin is tuple and len(set(args)) == 1:  # tuple[X, X, X]
        item, n = _conformer(args[0]), len(args)
        return lambda v: tuple(map(item, v)) if isinstance(v, (list, tuple)) and len(v) == n else _mismatch()
    raise TypeError(f"no rule for the field type {hint}")


def _describe(hint: Any, plural: bool = False) -> str:
    """What a field of type `hint` takes, in words for a user who edits config.json."""
    origin, args = get_origin(hint), get_args(hint)
    words = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), str: ("a string", "strings")}
    if hint in words:
        return words[hint][plural]
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (Union, UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if args[-1] is Ellipsis:
        return ("lists of " if plural else "a list of ") + _describe(args[0], plural=True)
    return f"{'lists' if plural else 'a list'} of {len(args)} {_describe(args[0], plural=True)}"  # (int, int, int)


class ClassTable(Protocol):
    """A dataset's classes as a model needs them (e.g. training.data.DatasetInfo)."""

    @property
    def label_nc(self) -> int: ...
    @property
    def class_names(self) -> tuple[str, ...]: ...
    @property
    def class_colors(self) -> tuple[tuple[int, int, int], ...] | None: ...  # None: default colours
    @property
    def dont_care_id(self) -> int | None: ...


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build, load and drive an OASIS generator/discriminator pair.

    `label_nc` counts every label channel, including a don't-care channel when the dataset has one
    (ADE20K: 150 classes + "other" = 151). The generator's input is the one-hot label map
    concatenated with `z_dim` channels of 3D noise (noise first, as in the paper's code).

    A field with a "help" in its metadata is a user option: `oasis-train` makes it a flag (type, default, choices and
    help from the field) and a training option, so a new architecture option is one field here.
    """

    label_nc: int
    height: int = field(default=256, metadata={"help": "output height in pixels (paper: 256)"})
    width: int = field(default=256, metadata={"help": "output width in pixels (paper: 256; Cityscapes: 512)"})
    z_dim: int = field(default=64, metadata={"help": "noise channels of G's input (paper: 64)"})
    channels_g: int = field(
        default=64, metadata={"help": "G's base width: its stage widths are --g-mults times this (paper: 64)"}
    )
    g_mults: tuple[int, ...] = field(default=PAPER_G_MULTS, metadata={"help": "e.g. 16,16,16,8,4,2,1"})
    spade_hidden: int = field(default=128, metadata={"help": "width of SPADE's hidden embedding (paper: 128)"})
    spade_shared: bool = field(
        default=False, metadata={"help": "one hidden SPADE embedding per block instead of one per norm (cheaper)"}
    )
    clade_blocks: int = field(
        default=0, metadata={"help": "the last K blocks use class-adaptive 1x1 modulation (cheaper)"}
    )
    norm: Norm = field(
        default="sync-batch",
        metadata={"help": "the parameter-free normalisation in G's SPADE layers (paper: sync-batch)"},
    )
    spectral_norm: bool = field(default=True, metadata={"help": "spectral norm in G and D (paper: on)"})
    d_spectral_norm: bool = field(
        default=True, metadata={"help": "with --spectral-norm: in D too (paper: on; off leaves D unconstrained)"}
    )
    # Zeros (paper) tell the networks where the image border is; small models trained briefly turn that into stripes
    # parallel to the borders. Reflection carries no such signal.
    padding: Padding = field(
        default="zeros",
        metadata={
            "help": "padding of G's and D's 3x3 convs (paper: zeros; reflect gives G no border position to draw "
            "stripes from)"
        },
    )
    noise_3d: bool = field(default=True, metadata={"help": "3D noise input to G (paper: on)"})
    # Inside a region of one class, image-level noise and labels are constant, so a small generator's only source of
    # texture is the region's edges: it draws lines parallel to them. Per-pixel channels give it one.
    noise_pixel_channels: int = field(
        default=0,
        metadata={
            "help": "the last K noise channels are drawn per pixel, the rest per image (paper: 0): a texture source "
            "inside uniform regions for small generators, which otherwise draw lines along region edges"
        },
    )
    d_channels: tuple[int, ...] = field(default=PAPER_D_CHANNELS, metadata={"help": "e.g. 128,128,256,256,512,512"})
    d_last_channels: int = field(default=64, metadata={"help": "width of D's last decoder stage (paper: 64)"})
    # "" is the paper's trainable encoder; a backbone's name puts D's decoder on that frozen ImageNet network's
    # features (five scales, so d_channels has five entries: the decoder's widths per scale).
    d_backbone: DBackbone = field(
        default="",
        metadata={
            "help": "build D on a frozen ImageNet network, an EfficientNet-Lite (training needs the 'train' extra), "
            "or '' for the paper's trainable encoder"
        },
    )
    # Not options: the classes come from the data, the name and version from the program.
    class_names: tuple[str, ...] = ()
    class_colors: tuple[tuple[int, int, int], ...] = ()
    dont_care_id: int | None = None
    name: str = ""
    format_version: int = field(default=FORMAT_VERSION)

    def __post_init__(self) -> None:
        # Values may come from a config.json: each must be of its field's type. JSON's lists are stored as tuples,
        # so the config stays hashable and comparable.
        types = _field_types()
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                object.__setattr__(self, f.name, _conformer(types[f.name])(value))
            except _Mismatch:
                raise ConfigError(f"{f.name} must be {_describe(types[f.name])}, got {reprlib.repr(value)}") from None
        # Before a name and a colour are made for every class, and before anything is sized by them.
        if not 1 <= self.label_nc <= MAX_LABEL_NC:
            raise ConfigError(
                f"label_nc must be in 1..{MAX_LABEL_NC} (label maps are PNGs of at most 16 bits), got {self.label_nc}"
            )
        if max(self.height, self.width) > MAX_SIDE:
            raise ConfigError(f"output size {self.height}x{self.width}: height and width must be at most {MAX_SIDE}")
        object.__setattr__(self, "class_names", self.class_names or tuple(f"class {i}" for i in range(self.label_nc)))
        object.__setattr__(self, "class_colors", self.class_colors or default_colors(self.label_nc))
        self._validate()

    def _validate(self) -> None:
        if self.format_version > FORMAT_VERSION:
            raise ConfigError(
                f"model format version {self.format_version} is newer than this program understands "
                f"({FORMAT_VERSION}); update OASIS Studio"
            )
        if len(self.g_mults) < 2:
            raise ConfigError("g_mults needs at least two stages")
        widths = {
            "channels_g": (self.channels_g,),
            "g_mults": self.g_mults,
            "spade_hidden": (self.spade_hidden,),
            "d_channels": self.d_channels,
            "d_last_channels": (self.d_last_channels,),
        }
        if zero := [k for k, v in widths.items() if min(v, default=0) < 1]:
            raise ConfigError(f"{', '.join(zero)}: every width must be at least 1")
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
        if self.d_backbone and len(self.d_channels) != 5:
            raise ConfigError(
                f"a d_backbone has 5 feature scales: d_channels needs 5 entries, got {len(self.d_channels)}"
            )
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
        """ "spade", "shared" or "clade" for SPADE block `index` (0 = lowest resolution)."""
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

    @classmethod
    def option_fields(cls) -> tuple[Field[Any], ...]:
        """The fields a user chooses (those with a help text), in declaration order."""
        return tuple(f for f in fields(cls) if "help" in f.metadata)

    @classmethod
    def from_dataset(cls, classes: ClassTable, **options: Any) -> ModelConfig:
        """The model for a dataset's classes: `options` are option fields (and `name`); the rest are defaults."""
        return cls(
            label_nc=classes.label_nc,
            class_names=classes.class_names,
            class_colors=classes.class_colors or (),
            dont_care_id=classes.dont_care_id,
            **options,
        )

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


@cache
def _field_types() -> dict[str, Any]:
    """ModelConfig's field types, resolved once (the annotations are strings until then)."""
    return get_type_hints(ModelConfig)
