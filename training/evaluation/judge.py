"""The mIoU judge: a semantic segmenter that scores how well generated images follow their layouts.

The paper's judges (UperNet101, DRN-D-105, DeepLabV2) are not available offline, so ``oasis-eval
train-judge`` trains :class:`JudgeNet` -- a compact encoder-decoder CNN of its own (batch norm, a
dilated context block at 1/16 resolution, one skip connection at 1/4, logits upsampled bilinearly;
about 1.2 M parameters with the default widths), unrelated to the OASIS discriminator -- on the *real*
training split, with cross-entropy that ignores the don't-care class and flip / scale-crop augmentation.
Reports always print the judge's mIoU on the real validation images next to the generated images' mIoU,
so a weak judge is visible.

A judge folder holds ``config.json`` (format ``oasis-eval-judge``, classes, training size, widths, the
training split's per-class pixel shares, the training record) and ``model.safetensors``.

A user-supplied judge may also be a TorchScript file. **TorchScript files contain code that runs when
loaded; only use files you trust.** Its contract: input (B, 3, H, W) float32 RGB in [0, 1] at the size
the evaluation runs at (the model's size), output (B, label_nc, h, w) logits (any h, w: they are resized
bilinearly to H x W). A ``.pt2`` file saved by ``torch.export.save`` is accepted on the same terms
(TorchScript is deprecated in recent PyTorch releases).

``espnet-camvid:PATH`` names the published ESPNet (p=2, q=8) CamVid weights, run by our own re-implementation
(:mod:`.espnet`): an independent judge for 12-class CamVid models, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ..data import SegmentationDataset

__all__ = ["Judge", "JudgeConfig", "JudgeError", "JudgeNet", "load_judge", "train_judge"]

FORMAT = "oasis-eval-judge"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ESPNET_CAMVID_PREFIX = "espnet-camvid:"


class JudgeError(RuntimeError):
    """A judge that cannot be used (missing files, other classes)."""


@dataclass
class JudgeConfig:
    num_classes: int
    class_names: list[str]
    dont_care_id: int | None
    height: int
    width: int
    widths: tuple[int, ...] = (32, 64, 96, 128)
    decoder_width: int = 64
    class_pixel_share: list[float] = field(default_factory=list)  # of the real training split (for Tables B-D)
    dataset: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeConfig:
        if data.get("format") != FORMAT:
            raise JudgeError(f"not an {FORMAT} folder (config.json format is {data.get('format')!r})")
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in data.items() if k in known}
        data["widths"] = tuple(data.get("widths", cls.widths))
        return cls(**data)


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class JudgeNet(nn.Module):
    """Encoder (strides 2, 4, 8, 16), a dilated context block with image pooling (a small ASPP), a
    decoder that fuses the 1/4 features, and bilinear upsampling of the logits to the input size.
    Input: (B, 3, H, W) RGB in [-1, 1]; output: (B, num_classes, H, W) logits."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (32, 64, 96, 128), decoder_width: int = 64) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.stem = nn.Sequential(_cbr(3, w1, 2), _cbr(w1, w1))  # 1/2
        self.enc2 = nn.Sequential(_cbr(w1, w2, 2), _cbr(w2, w2))  # 1/4
        self.enc3 = nn.Sequential(_cbr(w2, w3, 2), _cbr(w3, w3))  # 1/8
        self.enc4 = nn.Sequential(_cbr(w3, w4, 2), _cbr(w4, w4, dilation=2))  # 1/16
        self.ctx = nn.ModuleList([_cbr(w4, w4 // 2, dilation=d) for d in (1, 2, 4)])
        self.pool_proj = nn.Sequential(
            nn.Conv2d(w4, w4 // 2, 1, bias=False), nn.BatchNorm2d(w4 // 2), nn.ReLU(inplace=True)
        )
        self.ctx_proj = nn.Sequential(
            nn.Conv2d(2 * w4, decoder_width, 1, bias=False), nn.BatchNorm2d(decoder_width), nn.ReLU(inplace=True)
        )
        self.skip = nn.Sequential(nn.Conv2d(w2, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.dec = nn.Sequential(_cbr(decoder_width + 32, decoder_width), _cbr(decoder_width, decoder_width))
        self.classifier = nn.Conv2d(decoder_width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        f2 = self.enc2(self.stem(x))
        f4 = self.enc4(self.enc3(f2))
        pooled = self.pool_proj(f4.mean((2, 3), keepdim=True)).expand(-1, -1, *f4.shape[-2:])
        c = self.ctx_proj(torch.cat([*(m(f4) for m in self.ctx), pooled], 1))
        c = F.interpolate(c, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        y = self.classifier(self.dec(torch.cat([c, self.skip(f2)], 1)))
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


# ---- the judge as the evaluation uses it ------------------------------------------------------------


class Judge:
    """Wraps a judge network: ``predict(images uint8 (B, H, W, 3)) -> (B, H, W) int64 class ids``.

    Folder judges run at their training size (inputs are resized bilinearly, logits resized back);
    TorchScript judges get the images as they are. The ESPNet judge runs at 480x360 and its label map
    (``resize_labels``), not its logits, is resized back, nearest-neighbour. A given ``dont_care_id`` is never
    predicted; the ESPNet judge gives none, as its published pipeline takes the argmax over void too.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        dont_care_id: int | None,
        *,
        kind: str,
        source: str,
        size: tuple[int, int] | None,
        input_range: str,
        config: JudgeConfig | None = None,
        details: dict[str, Any] | None = None,
        resize_labels: bool = False,
        device: str | torch.device = "cpu",
    ) -> None:
        self.net = net.to(device)
        try:
            self.net.eval()
        except (NotImplementedError, RuntimeError):  # exported programs refuse train()/eval(); they are fixed already
            pass
        self.num_classes = num_classes
        self.dont_care_id = dont_care_id
        self.kind = kind
        self.source = source
        self.size = size
        self.input_range = input_range  # "minus1_1" (folder judges) or "0_1" (TorchScript, ESPNet)
        self.config = config
        self.details = details or {}  # extra describe() entries (architecture, training data)
        self.resize_labels = resize_labels
        self.device = torch.device(device)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "source": self.source,
            "input_size": list(self.size) if self.size else None,
        }
        if self.config is not None:
            out["architecture"] = "JudgeNet (compact encoder-decoder, trained by oasis-eval train-judge)"
            out["trained_on"] = self.config.dataset
            val = self.config.training.get("val_miou")
            if val is not None:
                out["val_miou_at_training"] = val
        out.update(self.details)
        return out

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, at_input_size: bool = True) -> torch.Tensor:
        """(B, 3, H, W) float RGB in [0, 1] -> (B, num_classes, H, W) float logits (at the judge's own
        size if not ``at_input_size``), the don't-care class (if any) at -inf."""
        h, w = images.shape[-2:]
        x = images.to(self.device, torch.float32)
        if self.size is not None and tuple(self.size) != (h, w):
            x = F.interpolate(x, size=tuple(self.size), mode="bilinear", align_corners=False, antialias=True)
        if self.input_range == "minus1_1":
            x = x * 2 - 1
        y = self.net(x)
        if isinstance(y, (tuple, list)):
            y = y[0]
        elif isinstance(y, dict):
            y = y.get("out", next(iter(y.values())))
        if y.dim() != 4 or y.shape[1] != self.num_classes:
            raise JudgeError(
                f"the judge returned shape {tuple(y.shape)}; expected (B, {self.num_classes}, h, w) logits"
            )
        y = y.float()
        if at_input_size and y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        if self.dont_care_id is not None:
            y[:, self.dont_care_id] = float("-inf")
        return y

    def predict(self, images: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255)
        if not self.resize_labels:
            return self.logits(t).argmax(1).cpu().numpy()
        labels = self.logits(t, at_input_size=False).argmax(1, keepdim=True)
        if labels.shape[-2:] != t.shape[-2:]:  # nearest-exact: pixel centres aligned, as the dataset's labels
            labels = F.interpolate(labels.float(), size=t.shape[-2:], mode="nearest-exact").long()
        return labels[:, 0].cpu().numpy()


def load_judge(
    path: str | os.PathLike[str],
    num_classes: int,
    dont_care_id: int | None,
    class_names: tuple[str, ...] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[Judge, list[str]]:
    """A judge folder, a TorchScript file or ``espnet-camvid:PATH`` -> (Judge, warnings). Classes must
    match the model's."""
    warnings: list[str] = []
    if str(path).startswith(ESPNET_CAMVID_PREFIX):
        return _load_espnet_camvid_judge(str(path)[len(ESPNET_CAMVID_PREFIX) :], num_classes, class_names, device)
    path = Path(path)
    if path.is_dir():
        cfg_path, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not cfg_path.is_file() or not weights.is_file():
            raise JudgeError(f"{path}: a judge folder needs {CONFIG_NAME} and {WEIGHTS_NAME}")
        cfg = JudgeConfig.from_dict(json.loads(cfg_path.read_text(encoding="utf-8")))
        if cfg.num_classes != num_classes:
            raise JudgeError(f"judge {path} knows {cfg.num_classes} classes but the model has {num_classes}")
        if class_names is not None and tuple(cfg.class_names) != tuple(class_names):
            warnings.append(f"judge class names {cfg.class_names} differ from the model's {list(class_names)}")
        from safetensors.torch import load_file

        net = JudgeNet(cfg.num_classes, cfg.widths, cfg.decoder_width)
        net.load_state_dict(load_file(str(weights)))
        judge = Judge(
            net, num_classes, cfg.dont_care_id if cfg.dont_care_id is not None else dont_care_id,
            kind="folder", source=str(path), size=(cfg.height, cfg.width), input_range="minus1_1", config=cfg,
            device=device,
        )  # fmt: skip
        return judge, warnings
    if path.is_file():
        kind = "torch.export" if path.suffix == ".pt2" else "torchscript"
        program: nn.Module  # an exported graph or a TorchScript module: any module that maps images to logits
        try:
            if kind == "torch.export":
                program = torch.export.load(str(path)).module()
            else:
                program = torch.jit.load(str(path), map_location=device)  # runs code: trusted files only (documented)
        except Exception as e:
            hint = f"; for the ESPNet CamVid weights pass {ESPNET_CAMVID_PREFIX}{path}" if path.suffix == ".pth" else ""
            raise JudgeError(f"{path}: not a judge folder and not loadable as {kind} ({e}){hint}") from e
        judge = Judge(
            program,
            num_classes,
            dont_care_id,
            kind=kind,
            source=str(path),
            size=None,
            input_range="0_1",
            device=device,
        )
        return judge, warnings
    raise JudgeError(f"judge {path} does not exist")


def _load_espnet_camvid_judge(
    path: str, num_classes: int, class_names: tuple[str, ...] | None, device: str | torch.device
) -> tuple[Judge, list[str]]:
    from .espnet import CAMVID_CLASS_NAMES, CAMVID_SIZE, load_espnet_camvid

    if num_classes != len(CAMVID_CLASS_NAMES):
        raise JudgeError(
            f"the ESPNet CamVid judge knows {len(CAMVID_CLASS_NAMES)} classes (11 + void) but the model has "
            f"{num_classes}"
        )
    warnings: list[str] = []
    if class_names is not None and tuple(class_names) != CAMVID_CLASS_NAMES:
        warnings.append(f"judge class names {list(CAMVID_CLASS_NAMES)} differ from the model's {list(class_names)}")
    judge = Judge(
        # dont_care_id None: argmax over all 12 outputs, void included, as the published pipeline (and its
        # reference figures) does; a void prediction counts as a miss of the pixel's true class.
        load_espnet_camvid(path), num_classes, None, kind="espnet-camvid", source=path, size=CAMVID_SIZE,
        input_range="0_1", resize_labels=True, device=device,
        details={"architecture": "ESPNet p=2, q=8 (Mehta et al., ECCV 2018), our re-implementation",
                 "trained_on": "CamVid train (SegNet split), published weights"},
    )  # fmt: skip
    return judge, warnings


def save_judge(net: JudgeNet, cfg: JudgeConfig, out: Path) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_NAME), metadata={"format": FORMAT})
    data = asdict(cfg)
    data["widths"] = list(cfg.widths)
    (out / CONFIG_NAME).write_text(json.dumps(data, indent=2), encoding="utf-8")


# ---- training ---------------------------------------------------------------------------------------


def _class_pixel_counts(info, pairs, size: tuple[int, int]) -> np.ndarray:
    """Pixel counts per class over a split's labels at the training size (nearest resize)."""
    from ..data import _nearest_index, load_label

    counts = np.zeros(info.label_nc, np.int64)
    h, w = size
    for pair in pairs:
        raw = load_label(pair.label)
        ids = info.map_labels(
            raw[_nearest_index(h, raw.shape[0], 0, h)[:, None], _nearest_index(w, raw.shape[1], 0, w)[None]]
        )
        counts += np.bincount(ids[ids >= 0].ravel(), minlength=info.label_nc)[: info.label_nc]
    return counts


def evaluate_segmenter(judge: Judge, loader, num_classes: int, ignore_id: int | None) -> float:
    from .metrics import confusion_matrix, iou_from_confusion

    cm = np.zeros((num_classes, num_classes), np.int64)
    for batch in loader:
        images = (batch["image"] + 1) / 2
        pred = judge.logits(images).argmax(1).cpu()
        cm += confusion_matrix(pred, batch["labels"], num_classes, ignore_id)
    return iou_from_confusion(cm, exclude=[ignore_id] if ignore_id is not None else []).miou


@dataclass
class _Fit:
    """What a judge's training loop did: its record in the judge's config."""

    iterations: int
    epochs_started: int
    losses: list[float]
    stopped_by: str
    seconds: float


def _fit(
    net: JudgeNet,
    train_ds: SegmentationDataset,
    ignore: int,
    iters: int,
    batch_size: int,
    lr: float,
    workers: int,
    time_limit: float | None,
    seed: int,
    progress: bool,
) -> _Fit:
    """Train `net` in place on `train_ds` for `iters` steps or `time_limit` seconds, whichever ends first."""
    from tqdm import tqdm

    dev = next(net.parameters()).device
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4, foreach=True)
    warm = max(1, min(100, iters // 20))

    def lr_at(i: int) -> float:
        if i < warm:
            return lr * (i + 1) / warm
        done = (i - warm) / max(1, iters - warm)
        if time_limit:  # the cosine follows whichever budget runs out first
            done = max(done, (time.perf_counter() - t0) / time_limit)
        return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    drop_last = len(train_ds) >= batch_size
    t0 = time.perf_counter()
    it, epoch = 0, 0
    losses: list[float] = []
    bar = tqdm(total=iters, desc="train-judge", disable=not progress, unit="it")
    stopped = "iterations"
    while it < iters and stopped == "iterations":
        train_ds.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(
            train_ds,
            batch_size,
            shuffle=True,
            num_workers=workers,
            drop_last=drop_last,
            generator=torch.Generator().manual_seed(seed + epoch),
        )
        for batch in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(it)
            net.train()
            x = batch["image"].to(dev, non_blocking=True)
            y = batch["labels"].to(dev, non_blocking=True)
            loss = F.cross_entropy(net(x), y, ignore_index=ignore)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            it += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            if it >= iters:
                break
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                stopped = f"time limit {time_limit:.0f}s"
                break
        epoch += 1
    bar.close()
    net.eval()
    return _Fit(it, epoch, losses, stopped, time.perf_counter() - t0)


def train_judge(
    kind: str,
    dataroot: str | Path,
    out: str | Path,
    classes_file: str | Path | None = None,
    size: tuple[int, int] = (192, 256),
    iters: int = 2000,
    batch_size: int = 16,
    lr: float = 2e-3,
    device: str | torch.device = "auto",
    workers: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    widths: tuple[int, ...] = (32, 64, 96, 128),
    progress: bool = True,
    log=print,
) -> tuple[JudgeConfig, float]:
    """Train a judge on the real training split and save it to ``out``; returns (config, val mIoU).

    AdamW with a linear warm-up and cosine decay; cross-entropy ignoring the don't-care class; training
    samples get a random horizontal flip and a random crop after a 1.0-1.5x resize (``training.data``'s
    deterministic augmentation). ``time_limit`` (seconds) stops early; the cosine decay then follows the
    elapsed time, so a time-limited run still ends at a low learning rate. The validation mIoU (one confusion
    matrix over the val split at the training size) is stored in the config.
    """
    from oasis_core import select_device

    from ..data import Augment, SegmentationDataset, validate

    dev = select_device(device).device
    torch.manual_seed(seed)
    train_rep = validate(kind, dataroot, "train", classes_file)
    val_rep = validate(kind, dataroot, "val", classes_file)
    info = train_rep.info
    if not train_rep.pairs:
        raise JudgeError(f"no usable training pairs in {dataroot}:\n{train_rep.format()}")
    for rep in (train_rep, val_rep):
        if rep.problems:
            log(f"note: {len(rep.problems)} problem(s) in the {rep.split} split; those pairs are skipped")
    counts = _class_pixel_counts(info, train_rep.pairs, size)
    augment = Augment(flip=True, crop=True, load_scale=1.0, scale_jitter=0.5)
    train_ds = SegmentationDataset(info, train_rep.pairs, size, train=True, augment=augment, seed=seed)
    if workers is None:
        workers = 0 if dev.type == "cpu" else min(8, os.cpu_count() or 1)
    net = JudgeNet(info.label_nc, widths).to(dev)
    ignore = info.dont_care_id if info.dont_care_id is not None else -100
    fit = _fit(net, train_ds, ignore, iters, batch_size, lr, workers, time_limit, seed, progress)
    cfg = JudgeConfig(
        num_classes=info.label_nc, class_names=list(info.class_names), dont_care_id=info.dont_care_id,
        height=size[0], width=size[1], widths=tuple(widths), class_pixel_share=(counts / max(1, counts.sum())).tolist(),
        dataset=f"{kind}:{dataroot}",
    )  # fmt: skip
    val_miou = float("nan")
    if val_rep.pairs:
        judge = Judge(
            net,
            info.label_nc,
            info.dont_care_id,
            kind="folder",
            source=str(out),
            size=size,
            input_range="minus1_1",
            device=dev,
        )
        val_ds = SegmentationDataset(info, val_rep.pairs, size, train=False)
        val_loader = torch.utils.data.DataLoader(val_ds, batch_size=batch_size, num_workers=workers)
        val_miou = evaluate_segmenter(judge, val_loader, info.label_nc, info.dont_care_id)
    losses = fit.losses
    cfg.training = {
        "iterations": fit.iterations, "epochs_started": fit.epochs_started, "batch_size": batch_size, "lr": lr,
        "stopped_by": fit.stopped_by, "seconds": round(fit.seconds, 1), "device": str(dev),
        "train_pairs": len(train_rep.pairs), "val_pairs": len(val_rep.pairs),
        "final_loss": float(np.mean(losses[-20:])) if losses else None,
        "first_loss": float(np.mean(losses[:5])) if losses else None,
        "val_miou": None if math.isnan(val_miou) else round(val_miou, 4), "val_size": list(size),
    }  # fmt: skip
    save_judge(net.cpu(), cfg, Path(out))
    return cfg, val_miou
