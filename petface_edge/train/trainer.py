"""``train(TrainConfig)``: data -> splits -> ArcFace (or triplet) training -> checkpoints in the output dir.

Writes ``config.json``, ``splits.json``, ``history.json``, ``train.log``, ``best_model.pt``,
``last_checkpoint.pt`` and ``pet_embedder.pt`` (the best model, for export). The same code
runs single-process and under torchrun (DistributedDataParallel); a run stopped after any
epoch continues with ``resume=True`` to exactly the weights an uninterrupted run reaches on CPU.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..atomic import write_json_atomic
from ..data import DataError, Item, load_splits, scan_identities, split_identities, write_splits
from ..errors import PetfaceError
from ..models import (
    ArcFaceHead,
    CheckpointError,
    EmbedderNet,
    TrainingModel,
    create_embedder,
    load_embedder,
    save_embedder,
)
from . import checkpoints
from .checkpoints import BEST, LAST
from .config import RESUMABLE_CHANGES, TrainConfig
from .datasets import PKBatchSampler, TrainImages
from .distributed import Context, setup
from .losses import triplet_loss
from .progress import LOG_FILE, Reporter
from .schedule import arcface_margin, lr_scheduler
from .validation import Pairs, precise_batchnorm, validate, verification_pairs

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
SPLITS_FILE = "splits.json"
EMBEDDER_FILE = "pet_embedder.pt"
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, SPLITS_FILE, BEST, LAST, EMBEDDER_FILE, LOG_FILE)
# A run that finished at least one epoch; a start that failed before it leaves nothing worth keeping.
TRAINED_FILES = (HISTORY_FILE, BEST, LAST, EMBEDDER_FILE)
HISTORY_FORMAT = "petface-train-history"
# Console lines listing skipped files; train.log gets all of them.
SHOWN_SKIPPED = 5


class TrainError(PetfaceError, ValueError):
    """A run that cannot start (bad data, output dir, settings); the message says what to change."""


def train(config: TrainConfig) -> Path:
    """Train an embedder as ``config`` says; return the output directory."""
    cfg = config.resolved()
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TrainError("device cuda: no CUDA GPU is available here; use device cpu")
    ctx = setup(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        return _Run(cfg, ctx).run()
    finally:
        ctx.close()


def _backbone_of(embedder: EmbedderNet) -> nn.Module:
    """The feature extractor the backbone LR multiplier and freezing apply to."""
    for name in ("backbone", "features"):  # MobileNetV3 (timm) / MobileFaceNet
        module = getattr(embedder, name, None)
        if isinstance(module, nn.Module):
            return module
    raise TrainError(f"{embedder.name}: no backbone module to tell apart from the embedding head")


def _check_resume_settings(cfg: TrainConfig, out: Path) -> None:
    try:
        saved = json.loads((out / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainError(f"{out / CONFIG_FILE}: cannot read the run's settings ({exc.__class__.__name__})") from None
    current = cfg.to_json()
    changed = [k for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if changed:
        detail = ", ".join(f"{k} {current[k]!r} (run: {saved.get(k)!r})" for k in changed)
        raise TrainError(f"resume: settings differ from the run in {out}: {detail}; resume with the run's "
                         f"settings (--config {out / CONFIG_FILE} --resume) or use a new output dir")


def _prepare(cfg: TrainConfig, reporter: Reporter) -> dict[str, list[Item]]:
    """Rank 0: check the output dir, scan and split the data (or reload the run's split), write the setup."""
    out = cfg.output_dir
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a directory")
    present = [name for name in RUN_FILES if (out / name).exists()]
    if cfg.resume:
        if not (out / LAST).is_file():
            raise TrainError(f"{out}: no {LAST} to resume from; start a new run without resume")
        _check_resume_settings(cfg, out)
        reporter.attach_log(out / LOG_FILE)
        splits = load_splits(out / SPLITS_FILE)
        missing = [rel for s in splits.values() for rel, _ in s if not (cfg.data_dir / rel).is_file()]
        if missing:
            raise TrainError(f"{len(missing)} images of {out / SPLITS_FILE} are missing under {cfg.data_dir} "
                             f"(first: {missing[0]}); pass the data dir the run was trained on")
        reporter.log(f"resuming the run in {out}")
    else:
        trained = [name for name in TRAINED_FILES if name in present]
        if trained and not cfg.overwrite:
            raise TrainError(f"{out} holds another training run ({', '.join(trained)}); "
                             "resume it with --resume or replace it with --overwrite")
        scan = scan_identities(cfg.data_dir)
        splits = split_identities(scan, cfg.split_mode, cfg.seed, data_dir=cfg.data_dir)
        for name in present:  # only once the new run is known to be able to start
            (out / name).unlink()
        out.mkdir(parents=True, exist_ok=True)
        reporter.attach_log(out / LOG_FILE)
        reporter.log(f"data {cfg.data_dir}: {len(scan)} identities, {scan.num_images} images")
        if scan.unreadable:
            reporter.log(f"warning: skipped {len(scan.unreadable)} unreadable image files (corrupt, truncated or "
                         f"empty); all are listed in {out / LOG_FILE}")
            for i, (path, reason) in enumerate(scan.unreadable):
                reporter.log(f"  skipped {reason}", console=i < SHOWN_SKIPPED)
        if scan.ignored:
            reporter.log(f"ignored {len(scan.ignored)} files that are not images (e.g. {scan.ignored[0].name})")
        used = {label for s in splits.values() for _, label in s}
        if len(used) < len(scan):
            need = 2 if cfg.split_mode == "identity" else 3
            reporter.log(f"warning: left out {len(scan) - len(used)} identities with fewer than {need} images")
        write_splits(out / SPLITS_FILE, splits, cfg.data_dir, cfg.split_mode, cfg.seed)
    write_json_atomic(out / CONFIG_FILE, cfg.to_json())
    return splits


@dataclass
class _Batching:
    loader: DataLoader
    sampler: Any  # DistributedSampler or PKBatchSampler: both have set_epoch


class _Run:
    def __init__(self, cfg: TrainConfig, ctx: Context) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.device = ctx.device
        self.cuda = self.device.type == "cuda"
        self.out = cfg.output_dir
        self.reporter = Reporter(ctx.is_main, cfg.progress)
        if self.cuda:
            torch.backends.cudnn.benchmark = True  # fixed input size: pick the fastest kernels once

    # -- setup -----------------------------------------------------------------------------------

    def _shared_splits(self) -> dict[str, list[Item]]:
        """Rank 0 decides; every rank gets the split or the same error."""
        result: dict[str, Any] = {}
        if self.ctx.is_main:
            try:
                result = {"splits": _prepare(self.cfg, self.reporter)}
            except (TrainError, DataError) as exc:
                result = {"error": str(exc)}
        result = self.ctx.broadcast(result)
        if "error" in result:
            raise TrainError(result["error"])
        return result["splits"]

    def _build_model(self, num_classes: int) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        if cfg.init_from:
            try:
                embedder = load_embedder(cfg.init_from)
            except CheckpointError as exc:
                raise TrainError(f"init_from: {exc}") from None
            if embedder.name != cfg.backbone or embedder.image_size != cfg.image_size:
                raise TrainError(f"init_from {cfg.init_from} is {embedder.name} at {embedder.image_size} px; pass "
                                 f"--backbone {embedder.name} --image-size {embedder.image_size}")
            embedder.train()
        else:
            extra = {"pretrained_weights": str(cfg.pretrained_weights)} if cfg.pretrained_weights else {}
            try:
                embedder = create_embedder(cfg.backbone, image_size=cfg.image_size, **extra)
            except (ValueError, FileNotFoundError) as exc:
                raise TrainError(str(exc)) from None
        self.embedder = embedder
        self.head = ArcFaceHead(embedder.embedding_dim, num_classes, cfg.arcface_scale, 0.0) \
            if cfg.loss == "arcface" else None
        self.model: nn.Module = TrainingModel(embedder, self.head) if self.head is not None else embedder
        # Channels-last: faster on GPUs and, measured, on this CPU too (oneDNN convolutions).
        self.model.to(self.device, memory_format=torch.channels_last)
        self.backbone = _backbone_of(embedder)
        backbone_ids = {id(p) for p in self.backbone.parameters()}
        groups = [
            {"name": "backbone", "params": list(self.backbone.parameters()), "lr": cfg.lr * cfg.backbone_lr_mult},
            {"name": "head", "params": [p for p in self.model.parameters() if id(p) not in backbone_ids],
             "lr": cfg.lr},
        ]
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda)
        # Each rank its own dropout stream; rank 0's is the single-process one.
        torch.manual_seed(cfg.seed + self.ctx.rank)

    def _batching(self, train: list[tuple[Path, int]]) -> _Batching:
        cfg, ctx = self.cfg, self.ctx
        if cfg.batch_size % ctx.world_size:
            raise TrainError(f"batch_size {cfg.batch_size} does not divide among {ctx.world_size} processes")
        per_rank = cfg.batch_size // ctx.world_size
        dataset = TrainImages([p for p, _ in train], [c for _, c in train], cfg.image_size, cfg.seed)
        common = {"num_workers": cfg.workers, "pin_memory": self.cuda}
        if cfg.loss == "triplet":
            if per_rank % cfg.triplet_k or per_rank // cfg.triplet_k < 2:
                raise TrainError(f"triplet batches are P identities x K={cfg.triplet_k} images with P >= 2: "
                                 f"batch_size per process ({per_rank}) must be a multiple of {cfg.triplet_k} "
                                 f"and at least {2 * cfg.triplet_k}")
            sampler = PKBatchSampler(dataset.labels, per_rank // cfg.triplet_k, cfg.triplet_k, cfg.seed,
                                     ctx.rank, ctx.world_size)
            loader = DataLoader(dataset, batch_sampler=sampler, **common)
        else:
            sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                         seed=cfg.seed)
            loader = DataLoader(dataset, batch_size=per_rank, sampler=sampler, drop_last=True, **common)
        if len(loader) == 0:
            raise TrainError(f"{len(train)} training images ({len(set(c for _, c in train))} identities) do not "
                             f"fill one batch of {per_rank} per process; lower batch_size")
        return _Batching(loader, sampler)

    def _wrap(self, frozen: bool) -> nn.Module:
        """The module to call: DDP over what currently trains (DDP fixes its parameter set when built)."""
        for p in self.backbone.parameters():
            p.requires_grad_(not frozen)
        if not self.ctx.distributed:
            return self.model
        return DistributedDataParallel(self.model, device_ids=[self.device.index] if self.cuda else None)

    # -- checkpoints -----------------------------------------------------------------------------

    def _state(self, embedder: Optional[EmbedderNet] = None) -> dict[str, Any]:
        embedder = embedder or self.embedder
        return {"embedder": embedder.state_dict(), "head": self.head.state_dict() if self.head else {},
                "backbone": self.cfg.backbone, "embedder_config": dict(self.embedder.config),
                "classes": self.classes, "config": self.cfg.to_json()}

    def _restore(self, sched: torch.optim.lr_scheduler.LRScheduler) -> tuple[int, list, dict]:
        try:
            ckpt = checkpoints.load(self.out / LAST)
        except checkpoints.TrainCheckpointError as exc:
            raise TrainError(str(exc)) from None
        if ckpt["classes"] != self.classes:
            raise TrainError(f"{self.out / LAST}: trained on other identities than {self.out / SPLITS_FILE} lists")
        self.embedder.load_state_dict(ckpt["embedder"])
        if self.head is not None:
            self.head.load_state_dict(ckpt["head"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        checkpoints.set_rng_state(ckpt["rng"])
        if ckpt["epoch"] >= self.cfg.epochs:
            raise TrainError(f"{self.out}: the run already finished {ckpt['epoch']} epochs; "
                             "raise epochs to train further")
        return ckpt["epoch"], ckpt["history"], ckpt["best"]

    def _validate(self, pairs: Pairs, train_paths: list[Path]) -> tuple[dict, EmbedderNet]:
        """Val metrics of the model as it would ship: with BatchNorm statistics made exact."""
        cfg = self.cfg
        embedder = self.embedder
        if cfg.precise_bn_images:
            pick = np.random.default_rng([cfg.seed, 11]).permutation(len(train_paths))[:cfg.precise_bn_images]
            embedder = precise_batchnorm(embedder, [train_paths[i] for i in pick], cfg.image_size, self.device,
                                         workers=cfg.workers)
        return validate(embedder, pairs, cfg.image_size, self.device, cfg.workers), embedder

    def _save_best(self, epoch: int, metrics: dict, embedder: EmbedderNet) -> None:
        checkpoints.save(self.out / BEST, {**self._state(embedder), "epoch": epoch, "val": metrics})
        save_embedder(embedder, self.out / EMBEDDER_FILE, epoch=epoch, val=metrics, loss=self.cfg.loss,
                      split_mode=self.cfg.split_mode, seed=self.cfg.seed, train_identities=len(self.classes),
                      source="petface-train")

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> Path:
        cfg, ctx, log = self.cfg, self.ctx, self.reporter.log
        splits = self._shared_splits()
        self.classes = sorted({label for _, label in splits["train"]})
        index = {name: i for i, name in enumerate(self.classes)}
        train = [(cfg.data_dir / rel, index[label]) for rel, label in splits["train"]]
        query = [(cfg.data_dir / rel, label) for rel, label in splits["val"]]
        reference = [(p, self.classes[c]) for p, c in train] if cfg.split_mode == "image" else []
        try:  # on every rank, so a failure stops them all (only rank 0 validates)
            pairs = verification_pairs(query, reference, cfg.val_pairs, cfg.seed)
        except ValueError as exc:
            raise TrainError(str(exc)) from None

        self._build_model(len(self.classes))
        batching = self._batching(train)
        steps = len(batching.loader)
        total_steps = steps * cfg.epochs
        sched = lr_scheduler(self.optimizer, total_steps, round(cfg.warmup_epochs * steps), cfg.lr, cfg.min_lr)
        start, history, best = 0, [], {}
        if cfg.resume:
            start, history, best = self._restore(sched)
        run_info = {
            "backbone": cfg.backbone, "image_size": cfg.image_size, "loss": cfg.loss, "device": str(self.device),
            "world_size": ctx.world_size, "train_identities": len(self.classes), "train_images": len(train),
            "val_images": len(query), "val_pairs": len(pairs), "steps_per_epoch": steps,
            "batch_size_per_process": cfg.batch_size // ctx.world_size, "torch": torch.__version__,
        }
        log(f"{cfg.backbone} {cfg.image_size}px, {cfg.loss}: {len(self.classes)} train identities "
            f"({len(train)} images), {len(query)} val images, {steps} steps/epoch on {self.device}"
            f"{f' x{ctx.world_size} processes' if ctx.distributed else ''}")

        frozen: Optional[bool] = None
        for epoch in range(start, cfg.epochs):
            number = epoch + 1
            if frozen != (epoch < cfg.freeze_backbone_epochs):
                frozen = epoch < cfg.freeze_backbone_epochs
                module = self._wrap(frozen)
            self.model.train()
            if frozen:
                self.backbone.eval()  # frozen means BatchNorm statistics too
            batching.sampler.set_epoch(epoch)
            batching.loader.dataset.set_epoch(epoch)
            record = self._train_epoch(module, batching.loader, sched, epoch, steps, total_steps)
            record["frozen_backbone"] = frozen
            if number % cfg.val_every == 0 or number == cfg.epochs:
                if ctx.is_main:
                    record["val"], evaluated = self._validate(pairs, [p for p, _ in train])
                    if record["val"]["accuracy"] > best.get("accuracy", -1.0):
                        best = {"epoch": number, **record["val"]}
                        self._save_best(number, record["val"], evaluated)
                v = record.get("val")
                if v:
                    log(f"epoch {number}/{cfg.epochs} val accuracy {v['accuracy']:.4f} at threshold "
                        f"{v['threshold']:.2f} (precision {v['precision']:.3f}, recall {v['recall']:.3f}, "
                        f"F1 {v['f1']:.3f}); best {best['accuracy']:.4f} at epoch {best['epoch']}")
            history.append(record)
            if ctx.is_main:
                write_json_atomic(self.out / HISTORY_FILE, {"format": HISTORY_FORMAT, "run": run_info,
                                                            "epochs": history, "best": best})
                checkpoints.save(self.out / LAST, {
                    **self._state(), "epoch": number, "global_step": number * steps,
                    "optimizer": self.optimizer.state_dict(), "scheduler": sched.state_dict(),
                    "scaler": self.scaler.state_dict(), "rng": checkpoints.rng_state(), "history": history,
                    "best": best})
            ctx.barrier()
            if cfg.stop_after is not None and number == cfg.stop_after and number < cfg.epochs:
                log(f"stopped after epoch {number} as asked; continue with --resume")
                break
        else:
            log(f"done: best val accuracy {best.get('accuracy', float('nan')):.4f} at epoch {best.get('epoch')}; "
                f"{self.out / EMBEDDER_FILE}")
        return self.out

    def _train_epoch(self, module: nn.Module, loader: DataLoader, sched, epoch: int, steps: int,
                     total_steps: int) -> dict[str, Any]:
        cfg = self.cfg
        smoothing = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        progress = self.reporter.epoch(epoch + 1, cfg.epochs, steps)
        loss_sum, images, margin, lrs = 0.0, 0, 0.0, [0.0, 0.0]
        started = time.perf_counter()
        for step, (pixels, labels) in enumerate(loader, 1):
            global_step = epoch * steps + step - 1
            x = pixels.to(self.device, non_blocking=True).float().contiguous(memory_format=torch.channels_last)
            y = labels.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, enabled=self.cuda):
                if self.head is not None:
                    margin = arcface_margin(global_step, total_steps, cfg.arcface_margin, cfg.margin_warmup_fraction)
                    self.head.margin = margin
                    loss = smoothing(module(x, y).float(), y)
                else:
                    loss = triplet_loss(module(x), y, cfg.triplet_mining, cfg.triplet_margin, cfg.gor_weight)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.grad is not None], cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            lrs = [group["lr"] for group in self.optimizer.param_groups]  # what this step used
            sched.step()
            loss_sum += loss.item()
            images += len(y)
            rate = images * self.ctx.world_size / (time.perf_counter() - started)
            progress.update(step, rate, loss_sum / step, lrs[1])
        progress.close()
        seconds = time.perf_counter() - started
        loss_total, count, images_total = self.ctx.sum(loss_sum, steps, images)
        record = {
            "epoch": epoch + 1,
            "loss": loss_total / count,
            "lr": lrs[1],
            "backbone_lr": lrs[0],
            "margin": margin if self.head is not None else None,
            "images_per_s": images_total / seconds,
            "seconds": seconds,
        }
        self.reporter.log(f"epoch {epoch + 1}/{cfg.epochs} loss {record['loss']:.4f} lr {record['lr']:.2e} "
                          + (f"margin {margin:.3f} " if self.head is not None else "")
                          + f"{record['images_per_s']:.1f} img/s ({seconds:.0f} s)")
        return record
