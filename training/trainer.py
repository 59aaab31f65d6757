"""The OASIS training loop: one G step, then one D step with LabelMix, EMA of G, exact checkpoints.

Exactness: every random draw of the loop (noise, LabelMix coin flips) comes from one seeded generator per
rank whose state is checkpointed; data order is a permutation seeded by (seed, epoch) and augmentation a
function of (seed, epoch, index); a resumed run skips the batches already seen. On CPU with
`deterministic=True`, k + k iterations with a resume in between equal 2k straight, bit for bit.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from oasis_core import Discriminator, Generator, colorize, cpu_has_fast_bf16
from oasis_core import noise as noise_ops
from oasis_core.layers import init_spectral_norm, to_device

from . import losses
from .checkpoints import load_checkpoint, restore, warm_start, write_checkpoint
from .data import Augment, SegmentationDataset, dataset_info, validate
from .distributed import DistInfo, any_rank, per_rank_batch_norm
from .errors import TrainingError
from .loader import EpochBatches, leave_stop_signals_to_the_trainer, start_workers
from .options import TrainConfig, option_problems
from .pretrained import PretrainedWeightsError, load_lite

log = logging.getLogger("oasis-train")


def check_options(cfg: TrainConfig, world_size: int, device_type: str) -> None:
    """Refuse a configuration with option values that cannot work, listing every one in one message."""
    problems = option_problems(cfg, world_size, device_type)
    if len(problems) == 1:
        raise TrainingError(problems[0])
    if problems:
        raise TrainingError(f"{len(problems)} options cannot work:\n  " + "\n  ".join(problems))


class Trainer:
    def __init__(self, cfg: TrainConfig, dist_info: DistInfo, resume: bool = False) -> None:
        self.created = time.monotonic()  # --time-limit counts from here: validation and setup use the slot too
        check_options(cfg, dist_info.world_size, dist_info.device.type)
        self.cfg, self.dist = cfg, dist_info
        self.device = dist_info.device
        self.run_dir = cfg.run_dir
        self.stop_requested = False
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(cfg.seed)

        ckpt_path = self.run_dir / "checkpoints" / "latest.pt"
        if resume and not ckpt_path.is_file():
            raise TrainingError(f"--resume: no checkpoint at {ckpt_path}")
        if not resume and ckpt_path.is_file():
            raise TrainingError(f"run folder {self.run_dir} already has a checkpoint: pass --resume or another --name")

        self.diffaug = cfg.diffaug_policies
        self.info = dataset_info(cfg.dataset, cfg.dataroot, cfg.classes_file)
        self.model_config = cfg.model_config(self.info)
        self._setup_data()
        self._setup_models()
        self.noise_gen = torch.Generator().manual_seed(cfg.seed * 7919 + dist_info.rank)
        self.iteration, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.warm_started = False  # from --init-from; checkpointed, so --resume knows it
        if resume:
            restore(self, load_checkpoint(ckpt_path))
        elif cfg.init_from:
            warm_start(self, Path(cfg.init_from))
        if self.dist.main:
            self._setup_run_folder()

    # ---- setup -------------------------------------------------------------------------------------
    def _setup_data(self) -> None:
        cfg, mc = self.cfg, self.model_config
        report = validate(cfg.dataset, cfg.dataroot, "train", cfg.classes_file)
        if self.dist.main:
            print(report.format(), flush=True)
        if not report.pairs:
            raise TrainingError(f"no usable training pairs in {cfg.dataroot}")
        size = (mc.height, mc.width)
        augment = Augment(flip=cfg.flip, crop=cfg.crop, load_scale=cfg.load_scale, scale_jitter=cfg.scale_jitter)
        crop = (cfg.crop_height, cfg.crop_width) if cfg.crop_height > 0 and cfg.crop_width > 0 else None
        self.train_set = SegmentationDataset(
            self.info, report.pairs, size, train=True, augment=augment, seed=cfg.seed, crop_size=crop
        )
        # Fixed, augmentation-free views for sample grids and the EMA's batch-norm statistics.
        self.plain_set = SegmentationDataset(self.info, report.pairs, size, train=False, seed=cfg.seed)
        self.iters_per_epoch = len(report.pairs) // cfg.batch_size
        if self.iters_per_epoch == 0:
            raise TrainingError(f"{len(report.pairs)} training pairs are too few for batch size {cfg.batch_size}")
        self.total_iters = cfg.max_iters or cfg.epochs * self.iters_per_epoch

    def _setup_models(self) -> None:
        cfg, mc = self.cfg, self.model_config
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.G = to_device(self._new_generator(), self.device, memory_format=fmt)
        self.D = to_device(Discriminator(mc), self.device, memory_format=fmt)
        if mc.spectral_norm:
            for net in (self.G, self.D):
                init_spectral_norm(net, cfg.sn_init_gain)
        if mc.d_backbone:  # a checkpoint or --init-from holds the same frozen weights, and loads over these
            try:
                load_lite(self.D.backbone, mc.d_backbone)
            except PretrainedWeightsError as e:
                raise TrainingError(f"--d-backbone: {e}") from e
        self.EMA: Generator | None = None
        if cfg.ema:
            # A fresh module loaded with G's tensors (deepcopy would share spectral-norm state). Its batch norms
            # never sync: only rank 0 draws sample grids, and every rank recomputes the statistics from the same
            # fixed batches, so syncing would add nothing but a collective the other ranks are not in.
            self.EMA = to_device(per_rank_batch_norm(Generator(self.model_config)), self.device, memory_format=fmt)
            self.EMA.load_state_dict(self.G.state_dict())
            self.EMA.requires_grad_(False).eval()
        fused = self.device.type == "cuda"
        betas = (cfg.beta1, cfg.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas, fused=fused)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas, fused=fused)
        prec = cfg.precision
        if prec == "auto":
            if self.device.type == "cuda":
                prec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            else:  # oneDNN's native bf16 convolutions are ~2x fp32 on 2 cores
                prec = "bf16" if cpu_has_fast_bf16() else "fp32"
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
        self.precision = prec
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=prec == "fp16")
        # DDP wrappers train; the raw modules serve the passes whose other network is frozen.
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train: Callable[..., torch.Tensor] = DDP(self.G, device_ids=ids, broadcast_buffers=False)
            self.D_train: Callable[..., torch.Tensor] = DDP(self.D, device_ids=ids)
        else:
            self.G_train, self.D_train = self.G, self.D
        # Passes without parameter gradients (the G step's D, the D step's fresh fake) take the raw modules: DDP
        # must not wait for gradients that never come.
        self.D_frozen: Callable[..., torch.Tensor] = self.D
        self.G_nograd: Callable[..., torch.Tensor] = self.G
        self.real_loss, self.d_losses = losses.real_loss, losses.discriminator_losses
        if cfg.compile:
            import torch._functorch.config as functorch_config

            # A process-wide setting of the partitioner that splits each compiled graph into forward and backward.
            functorch_config.activation_memory_budget = cfg.compile_memory_budget
            self.G_train, self.D_train, self.D_frozen, self.G_nograd = (
                torch.compile(m) for m in (self.G_train, self.D_train, self.D, self.G)
            )
            # The losses read D's (B, N + 1, H, W) logits in fp32: eager, their casts, softmax and weighting are
            # separate passes over maps as large as D's biggest activations, and backward keeps fp32 copies.
            self.real_loss, self.d_losses = torch.compile(losses.real_loss), torch.compile(losses.discriminator_losses)

    def _new_generator(self) -> Generator:
        g = Generator(self.model_config)
        # SyncBatchNorm only syncs CUDA tensors: CPU ranks normalise per process.
        return per_rank_batch_norm(g) if self.device.type == "cpu" and self.dist.enabled else g

    def _setup_run_folder(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("checkpoints", "samples"):
            (self.run_dir / sub).mkdir(exist_ok=True)
        (self.run_dir / "config.json").write_text(self.cfg.to_json())
        (self.run_dir / "model_config.json").write_text(self.model_config.to_json())
        handler = logging.FileHandler(self.run_dir / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        except ImportError:
            log.info("tensorboard is not installed: scalars go to metrics.jsonl only")

    # ---- one iteration -----------------------------------------------------------------------------
    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.compute_dtype, enabled=self.amp_dtype is not None)

    def sample_noise(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Training noise (B, z, H, W) per the noise mode: image-level, per class region, per pixel, or "mix":
        image- or region-level by a coin flip at every step (App. A.7). The model's `noise_pixel_channels` last
        channels are per pixel in every mode.

        The random values come from the CPU generator (checkpointed, the same on every device); only those are
        moved, and the full-size map is built on the device, channels-last and in the compute dtype (what the
        generator's convolutions would cast it to anyway): at 256x256 and batch 32 it is 0.5 GB in fp32.
        """
        mc = self.model_config
        if not mc.noise_3d:
            return None
        b, h, w = labels.shape
        z_dim, n = mc.z_dim, mc.label_nc
        mode = self.cfg.noise_mode
        if mode == "mix":
            mode = ("image", "region")[int(torch.randint(0, 2, (), generator=self.noise_gen))]
        if mode == "image":
            vecs = torch.stack([torch.randn(z_dim, generator=self.noise_gen) for _ in range(b)])
            nhwc = vecs.to(self.device, self.compute_dtype)[:, None, None, :].expand(b, h, w, z_dim)
        elif mode == "region":
            tables = torch.stack([torch.randn(n, z_dim, generator=self.noise_gen) for _ in range(b)])
            tables = tables.to(self.device, self.compute_dtype)
            nhwc = tables[torch.arange(b, device=labels.device)[:, None, None], labels]
        else:
            pixels = torch.stack([torch.randn(z_dim, h, w, generator=self.noise_gen) for _ in range(b)])
            nhwc = pixels.to(self.device, self.compute_dtype).permute(0, 2, 3, 1)
        k = mc.noise_pixel_channels
        if k and mode != "pixel":
            pixels = torch.stack([torch.randn(h, w, k, generator=self.noise_gen) for _ in range(b)])
            nhwc = torch.cat([nhwc[..., : z_dim - k], pixels.to(self.device, self.compute_dtype)], dim=3)
        return nhwc.contiguous().permute(0, 3, 1, 2)  # (B, z, H, W), channels-last in memory

    @property
    def ema_warmup(self) -> bool:
        """The warm-up exists to forget random initial weights; a warm start's EMA is a trained average, and a
        warm-up starting again at decay 0.1 would replace it with the new optimisers' first steps."""
        return self.cfg.ema_warmup and not self.warm_started

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.amp_dtype or torch.float32

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) -> (B, N, H, W) in the compute dtype (exact: 0 and 1), channels-last when configured.

        Scattered straight into the compute dtype: F.one_hot's int64 map would be 2.5 GB at ADE20K's paper size."""
        b, h, w = labels.shape
        x = torch.zeros(b, h, w, self.model_config.label_nc, dtype=self.compute_dtype, device=labels.device)
        x = x.scatter_(3, labels.unsqueeze(3), 1).permute(0, 3, 1, 2)
        return x if self.cfg.channels_last else x.contiguous()

    def step(self, image: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        cfg, mc = self.cfg, self.model_config
        onehot = self._onehot(labels)
        weights = losses.class_weights(labels, mc.label_nc, mc.dont_care_id, cfg.class_balance)

        # G step: D's parameters get no gradients (frozen), only the image does. With DiffAugment G is judged
        # through the same kind of transforms D is trained on (augmenting D's inputs alone lets D learn the
        # augmented distribution while G is graded on another).
        self.D.requires_grad_(False)
        stats = {}
        with self._autocast():
            noise = self.sample_noise(labels)
            if cfg.lambda_diversity and noise is not None:
                # The first half of the layouts once more with other noise, in the same G call: G's batch norm
                # then normalises both variations of a layout with the same statistics.
                k = max(1, len(labels) // 2)
                noise_b = self.sample_noise(labels[:k])
                assert noise_b is not None
                both = self.G_train(torch.cat([onehot, onehot[:k]]), torch.cat([noise, noise_b]))
                fake, fake_b = both[: len(labels)], both[len(labels) :]
                loss_div, ratio = losses.mode_seeking_loss(fake[:k], fake_b, noise[:k], noise_b, cfg.diversity_target)
                stats["G/diversity"] = ratio.item()
            else:
                fake, loss_div = self.G_train(onehot, noise), None
            judged, labels_g, weights_g = fake, labels, weights
            if self.diffaug:
                (judged,), labels_g, _, valid_g = losses.diff_augment(
                    [fake], labels, None, self.diffaug, self.noise_gen
                )
                weights_g = losses.class_weights(labels_g, mc.label_nc, mc.dont_care_id, cfg.class_balance) * valid_g
            loss_g = self.real_loss(self.D_frozen(judged), labels_g, weights_g)
            loss = loss_g if loss_div is None else loss_g + cfg.lambda_diversity * loss_div
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        self.D.requires_grad_(True)

        # D step: a fresh fake from the updated G (or, cheaper, the G step's own); D sees fake, real and
        # the mix in one batched call (D has no batch-dependent layers: equal to three separate calls).
        if cfg.reuse_fake:
            fake = fake.detach()
        else:
            with torch.no_grad(), self._autocast():
                fake = self.G_nograd(onehot, self.sample_noise(labels))
        parts = [fake, image]
        mask = None
        if cfg.labelmix:
            mask = (
                losses.cutmix_mask(labels, self.noise_gen)
                if cfg.cutmix
                else losses.labelmix_mask(labels, mc.label_nc, self.noise_gen)
            )
            parts.append(mask * image + (1 - mask) * fake)
        valid = None
        if self.diffaug:
            # One transform per sample, shared by its fake, real and mixed images and by the targets.
            parts, labels_d, mask, valid = losses.diff_augment(parts, labels, mask, self.diffaug, self.noise_gen)
            weights = losses.class_weights(labels_d, mc.label_nc, mc.dont_care_id, cfg.class_balance) * valid
        else:
            labels_d = labels
        with self._autocast():
            out = self.D_train(torch.cat(parts))
        loss_fake, loss_real, loss_lm = self.d_losses(out, labels_d, weights, mask, valid)
        loss_lm = cfg.lambda_labelmix * loss_lm
        loss_d = loss_fake + loss_real + loss_lm
        self.opt_D.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_D)
        self.scaler.update()

        if self.EMA is not None:
            update_ema(self.EMA, self.G, ema_decay(cfg.ema_decay, self.iteration, self.ema_warmup))
        return {
            "G/adv": loss_g.item(),
            "D/fake": loss_fake.item(),
            "D/real": loss_real.item(),
            "D/labelmix": loss_lm.item(),
            **stats,
        }

    # ---- loop --------------------------------------------------------------------------------------
    def _loader(self) -> DataLoader:
        self.train_set.set_epoch(self.epoch)
        batches = EpochBatches(
            len(self.train_set), self.cfg.batch_size, self.dist, self.cfg.seed, self.epoch, self.batch_in_epoch
        )
        return DataLoader(
            self.train_set,
            batch_sampler=batches,
            num_workers=self.cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            worker_init_fn=leave_stop_signals_to_the_trainer,
        )

    def _request_stop(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True
        log.info("signal %s: saving a checkpoint and stopping after this iteration", signum)

    def train(self) -> str:
        """Run to the end (or a stop: signal, time limit). Returns why it ended."""
        # The handlers hold a reference to the trainer (and its DDP modules); restoring them afterwards lets the
        # trainer be freed before the process group is destroyed, not at interpreter exit (gloo aborts then).
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._train()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _train(self) -> str:
        from tqdm import tqdm

        cfg = self.cfg
        deadline = self.created + cfg.time_limit * 60 if cfg.time_limit > 0 else math.inf
        reserve = 30.0  # seconds kept for the final checkpoint; grows with measured save times
        bar = tqdm(total=self.total_iters, initial=self.iteration, disable=not self.dist.main, dynamic_ncols=True)
        if self.dist.main:
            log.info(
                "training %s: %d iterations of batch %d on %s (%s), %d per epoch",
                cfg.name,
                self.total_iters,
                cfg.batch_size,
                self.device,
                self.precision,
                self.iters_per_epoch,
            )
        reason = "finished"
        step_time = 0.0
        while self.iteration < self.total_iters and reason == "finished":
            for batch in start_workers(self._loader()):  # workers start per epoch: the data order is the epoch's
                t0 = time.monotonic()
                image = batch["image"].to(self.device, non_blocking=True)
                if cfg.channels_last:
                    image = image.contiguous(memory_format=torch.channels_last)
                stats = self.step(image, batch["labels"].to(self.device, non_blocking=True))
                self.iteration += 1
                self.batch_in_epoch += 1
                step_time = time.monotonic() - t0
                bar.update(1)
                bar.set_postfix({k.split("/")[1] if k != "G/adv" else "G": f"{v:.3f}" for k, v in stats.items()})
                if self.dist.main and (self.iteration % cfg.log_every == 0 or self.iteration == 1):
                    self._log_scalars(stats, step_time)
                if self.dist.main and self.iteration % cfg.sample_every == 0:
                    self.save_samples()
                out_of_time = time.monotonic() + reserve + 2 * step_time > deadline
                stop = any_rank(self.stop_requested or out_of_time, self.dist)
                done = self.iteration >= self.total_iters
                if stop or done or self.iteration % cfg.checkpoint_every == 0:
                    t_save = time.monotonic()
                    self.save_checkpoint()
                    reserve = max(reserve, 2 * (time.monotonic() - t_save))
                if done:  # the run's own end, even where a stop was due at the same iteration
                    break
                if stop:
                    reason = "stopped by signal" if self.stop_requested else "time limit"
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        bar.close()
        self._check_ranks_agree()
        if self.dist.main:
            log.info("%s at iteration %d (epoch %d)", reason, self.iteration, self.epoch)
            if self.tb is not None:
                self.tb.close()
        return reason

    def _log_scalars(self, stats: dict[str, float], step_time: float) -> None:
        record = {
            "iteration": self.iteration,
            "epoch": self.epoch,
            "sec_per_iter": step_time,
            "images_per_sec": self.cfg.batch_size / max(step_time, 1e-9),
            **stats,
        }
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if self.tb is not None:
            for k, v in record.items():
                if k != "iteration":
                    self.tb.add_scalar(k, v, self.iteration)

    def _check_ranks_agree(self) -> None:
        """After DDP training every rank must hold the same weights; say so (or fail loudly)."""
        if not self.dist.enabled:
            return
        local = torch.tensor(
            [sum(p.double().sum().item() for p in m.parameters()) for m in (self.G, self.D)],
            dtype=torch.float64,
            device=self.device,
        )
        gathered = [torch.zeros_like(local) for _ in range(self.dist.world_size)]
        torch.distributed.all_gather(gathered, local)
        same = all(torch.equal(g, gathered[0]) for g in gathered)
        if self.dist.main:
            log.info("weights identical on all %d ranks: %s", self.dist.world_size, same)
        if not same:
            raise TrainingError("DDP ranks diverged: weights differ between processes")

    # ---- EMA batch-norm statistics, samples, checkpoint ------------------------------------------
    def _fixed_batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.plain_set[i % len(self.plain_set)] for i in range(start, start + count)]
        image = torch.stack([it["image"] for it in items]).to(self.device)
        labels = torch.stack([it["labels"] for it in items]).to(self.device)
        return image, labels

    def _fixed_noise(self, labels: torch.Tensor, seed: int) -> torch.Tensor | None:
        mc = self.model_config
        if not mc.noise_3d:
            return None
        b, h, w = labels.shape
        k = mc.noise_pixel_channels
        return noise_ops.sample(list(range(seed, seed + b)), mc.z_dim, h, w, pixel_channels=k).to(self.device)

    @torch.no_grad()
    def recompute_ema_bn(self) -> None:
        """Batch-norm statistics of the EMA generator from real batches (its averaged weights never saw the
        running statistics G accumulated). Uses fixed data and noise: no training randomness is consumed."""
        if self.EMA is None or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.EMA.modules()):
            return
        bns = [m for m in self.EMA.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches below
        self.EMA.train()
        bs = min(self.cfg.batch_size, len(self.plain_set))
        for k in range(self.cfg.ema_bn_batches):
            _, labels = self._fixed_batch(k * bs, bs)
            with self._autocast():
                self.EMA(self._onehot(labels), self._fixed_noise(labels, seed=k))
        for bn in bns:
            bn.momentum = 0.1
        self.EMA.eval()

    @torch.no_grad()
    def save_samples(self, count: int = 4) -> Path:
        """A grid per row: labels | real | G | EMA, from fixed training layouts and fixed noise."""
        self.recompute_ema_bn()
        image, labels = self._fixed_batch(0, min(count, len(self.plain_set)))
        z = self._fixed_noise(labels, seed=12345)
        cols = [torch.from_numpy(np.stack([colorize(lab.cpu().numpy(), self.model_config) for lab in labels]))]
        to_u8 = lambda x: ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu()  # noqa: E731
        cols.append(to_u8(image))
        self.G.eval()
        with self._autocast():
            cols.append(to_u8(self.G(self._onehot(labels), z)))
            if self.EMA is not None:
                cols.append(to_u8(self.EMA(self._onehot(labels), z)))
        self.G.train()
        grid = torch.cat([torch.cat(list(c), dim=0) for c in cols], dim=1).numpy()  # rows of samples
        path = self.run_dir / "samples" / f"iter_{self.iteration:07d}.png"
        Image.fromarray(grid).save(path)
        return path

    def save_checkpoint(self) -> None:
        noise_states = [self.noise_gen.get_state()]
        if self.dist.enabled:
            noise_states = [None] * self.dist.world_size  # type: ignore[list-item]
            torch.distributed.all_gather_object(noise_states, self.noise_gen.get_state())
        self.recompute_ema_bn()
        if self.dist.main:
            write_checkpoint(self, noise_states, self.run_dir / "checkpoints" / "latest.pt")


def ema_decay(decay: float, iteration: int, warmup: bool) -> float:
    """`decay`, or with warm-up the smaller (1 + t) / (10 + t): at decay 0.999 an EMA forgets its start only after
    thousands of steps, so a CPU run of ~2k steps would export a blend with the random initial weights. Runs
    warm-started with --init-from have no warm-up (their EMA starts from the model folder's)."""
    if not warmup:
        return decay
    return min(decay, (1 + iteration) / (10 + iteration))


def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (BN statistics, spectral-norm
    vectors) follow the model and are recomputed for the EMA weights before they are used."""
    with torch.no_grad():
        ema_params: list[torch.Tensor] = list(ema.parameters())
        torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)
