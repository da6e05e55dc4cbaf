"""The training loop (METHOD 2): MSE between the score and the raw MOS, AdamW, best epoch by
validation SRCC, resumable, data-parallel under torchrun.

:func:`train` in numbered steps:

1. join the torchrun process group, if any, and check the run (:func:`plan_run`: cheap, no model);
2. load the backbone for training and add the trainable parts (:func:`.model.build_model`);
3. AdamW over exactly the trainable parameters; on ``resume``, restore them, its state and the
   position from the recovery file;
4. for each epoch, for each step: this process's share of the batch, in micro-batches, through
   :func:`train_step`; every ``save_every`` steps the recovery file;
5. at each epoch's end: validation SRCC / PLCC with the method's fixed timesteps and noise bank;
   the best epoch exported in the weights format; the log, the curves, the recovery file.

Files in ``out_dir`` (written by process 0 only):

- ``best/``: ``genziqa.safetensors`` + ``config.json``, the weights of the best epoch so far
  (``genziqa score --weights OUT/best``), provenance under ``training`` in ``config.json``;
- ``validation.csv``: ``path, mos, score`` of the validation images at the best epoch;
- ``recovery.safetensors``: the state to resume from (:mod:`.recovery`);
- ``metrics.jsonl`` and ``curves.png`` (:mod:`.log`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..folders import writable_folder
from . import recovery
from .config import TrainConfig
from .distributed import Processes, start, stop, world_size
from .latents import NO_FLIP, LatentSource, unreadable_images
from .log import MetricsLog, plot_curves, read
from .model import TrainableModel, build_model
from .schedule import Draw, draw, epoch_order, steps_per_epoch

RECOVERY_FILE = "recovery.safetensors"
BEST_DIR = "best"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
VALIDATION_FILE = "validation.csv"
MIN_VALIDATION = 3
"""Fewest validation images a correlation is computed on (as in :mod:`genziqa.core.evaluation`)."""


class TrainingSetupError(ValueError):
    """The run cannot start as asked; the message says what to change."""


@dataclass(frozen=True)
class TrainData:
    """What to train and validate on: rows with ``.path`` and ``.mos`` (e.g. :class:`genziqa.core.data.Row`).

    ``validation`` None trains without validation (the last epoch is exported). ``source``
    describes where the rows came from (data set, splits); it goes into the weights' provenance.
    """

    train: tuple
    validation: tuple | None = None
    source: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """16 hex digits over every (path, MOS) of both splits, in order."""
        digest = hashlib.sha256()
        for part, rows in (("train", self.train), ("validation", self.validation or ())):
            for row in rows:
                digest.update(f"{part}\0{row.path}\0{float(row.mos)!r}\n".encode())
        return digest.hexdigest()[:16]

    def readable(self, *, workers: int | None = None, progress: bool = False) -> tuple["TrainData", dict[str, str]]:
        """These data without the images that cannot be decoded, and ``{path: reason}`` for those.

        Call it before :func:`train`, which stops at the first unreadable image it meets (each
        image is decoded once here, in threads).
        """
        rows = [*self.train, *(self.validation or ())]
        bad = unreadable_images([str(r.path) for r in rows], workers=workers, progress=progress)
        if not bad:
            return self, bad

        def keep(part):
            return None if part is None else tuple(r for r in part if str(r.path) not in bad)

        return replace(self, train=keep(self.train), validation=keep(self.validation)), bad

    def summary(self) -> str:
        val = f" + {len(self.validation)} validation" if self.validation else ", no validation"
        return f"{len(self.train)} training{val} images"


@dataclass(frozen=True)
class RunPlan:
    """A checked run: the numbers :func:`train` will use and, when resuming, where it stands."""

    out: Path
    config: TrainConfig
    data: TrainData
    processes: int
    micro_batch: int
    steps_per_epoch: int
    started: dict
    """The run's identity (training knobs, method, model, data), stored in the recovery file."""
    resume_meta: dict | None = None

    @property
    def resumed_position(self) -> recovery.Position | None:
        return recovery.Position(**self.resume_meta["position"]) if self.resume_meta else None

    @property
    def finished(self) -> bool:
        """Resuming a run that has already done ``config.epochs`` epochs."""
        position = self.resumed_position
        return position is not None and position.epoch >= self.config.epochs


@dataclass(frozen=True)
class StepInfo:
    """Passed to ``on_step`` after every optimiser step (and after any recovery save it triggered)."""

    epoch: int
    """1-based."""
    step: int
    """Global optimiser step, 1-based."""
    loss: float
    grad_norm: float


@dataclass(frozen=True)
class TrainResult:
    out: Path
    best: Path | None
    """The exported weights folder (None if no epoch finished)."""
    best_epoch: int | None
    best_srcc: float | None
    steps: int
    epochs: int
    """Epochs completed."""
    trainable: dict
    """``{"lora", "context", "total"}`` numbers of trainable values."""
    history: tuple[dict, ...]
    """The ``"epoch"`` records of the metrics log."""


def identity(config: TrainConfig, data: TrainData, *, model_id: str, method: dict) -> dict:
    """What a resume must match (JSON-normalised, as stored)."""
    started = {"train": config.trajectory(), "method": method, "model": model_id, "data": data.fingerprint(),
               "data_summary": data.summary()}
    return json.loads(json.dumps(started))


def plan_run(out_dir: str | os.PathLike, config: TrainConfig, data: TrainData, *, model_id: str, method: dict,
             resume: bool = False, processes: int | None = None) -> RunPlan:
    """Every check that needs no model: batch split, split sizes, the output folder, the resume state.

    ``model_id``: the load plan's ``run_id`` (backbone content, starting weights, method, dtype).
    ``processes``: data-parallel processes (default: torchrun's ``WORLD_SIZE``, else 1).
    """
    processes = processes or world_size()
    try:
        micro = config.micro_batch(processes)
    except ValueError as err:
        raise TrainingSetupError(str(err)) from None
    if len(data.train) < config.batch_size:
        raise TrainingSetupError(f"the training split has {len(data.train)} images, fewer than one batch of "
                                 f"{config.batch_size}; use a larger split or a smaller --batch-size.")
    if data.validation is not None and len(data.validation) < MIN_VALIDATION:
        raise TrainingSetupError(f"the validation split has {len(data.validation)} images; a correlation needs at "
                                 f"least {MIN_VALIDATION}. Use another split, or train without validation.")
    out = writable_folder(out_dir, holds="the run's outputs")
    if config.latent_cache is not None:
        Path(config.latent_cache).expanduser().mkdir(parents=True, exist_ok=True)
    started = identity(config, data, model_id=model_id, method=method)
    rec = out / RECOVERY_FILE
    meta = None
    if resume:
        if not rec.is_file():
            raise TrainingSetupError(f"--resume: {out} holds no {RECOVERY_FILE}, so there is nothing to resume. "
                                     "Leave --resume out to start a new run there.")
        meta = recovery.read_meta(rec)
        recovery.check_same_run(meta, started, rec)
    elif rec.is_file() or (out / BEST_DIR).exists():
        raise TrainingSetupError(f"{out} already holds a training run ({RECOVERY_FILE} / {BEST_DIR}/). Pass --resume to "
                                 "continue it, or choose another --out for a new run.")
    return RunPlan(out=out, config=config, data=data, processes=processes, micro_batch=micro,
                   steps_per_epoch=steps_per_epoch(len(data.train), config.batch_size), started=started,
                   resume_meta=meta)


def train(plan, data: TrainData, out_dir: str | os.PathLike, config: TrainConfig = TrainConfig(), *,
          resume: bool = False, progress: bool = True, on_step: Callable[[StepInfo], None] | None = None) -> TrainResult:
    """Train on ``data`` with the backbone of ``plan`` (a :class:`genziqa.core.api.LoadPlan`; its
    trained weights, if any, are the starting point) and write the run into ``out_dir``.

    Run it under ``torchrun --nproc_per_node N`` for data parallelism: the global batch
    ``config.batch_size`` is shared by the processes; process 0 writes every file.
    """
    # 1. Processes and the cheap checks.
    procs = start(plan.device)
    try:
        run = plan_run(out_dir, config, data, model_id=plan.run_id, method=plan.config.to_dict(), resume=resume,
                       processes=procs.world)
        fingerprints = procs.differing(data.fingerprint())
        if fingerprints:  # each process would train on other images: the gradients would not add up
            raise TrainingSetupError(
                f"the processes were given different training data (fingerprints by rank: {', '.join(fingerprints)}), "
                "e.g. an image one of them could read and another could not. Check that every process sees the same "
                "data folder, and start again."
            )
        if run.finished:
            return _result(run, run.resumed_position, {})

        # 2. The model.
        model = build_model(plan, device=procs.device, seed=config.seed,
                            gradient_checkpointing=config.gradient_checkpointing)
        params = list(model.params.values())
        procs.broadcast(params)

        # 3. Optimiser, gradient scaler (float16 only), and the resume state.
        optimizer = torch.optim.AdamW(params, lr=config.lr, betas=tuple(config.betas),
                                      weight_decay=config.weight_decay, eps=config.adam_eps)
        scaler = torch.amp.GradScaler(procs.device.type, enabled=plan.dtype == torch.float16)
        position = recovery.Position()
        if run.resume_meta is not None:
            position = recovery.load(run.out / RECOVERY_FILE, params=model.params, optimizer=optimizer)
            if position.scaler:
                scaler.load_state_dict(position.scaler)
        log = MetricsLog(run.out / METRICS_FILE, keep_bytes=position.log_bytes) if procs.main else None
        latents = LatentSource(model.backbone, plan.config, config.latent_cache)
        loop = _Loop(run, plan, model, optimizer, scaler, latents, procs, log, position, on_step)

        # 4-5. Epochs.
        loop.run(progress=progress and procs.main)
        return _result(run, position, model.counts())
    finally:
        stop(procs)


def train_step(model: TrainableModel, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               samples: Sequence[tuple[str, float, Draw]], latents: LatentSource, *, config: TrainConfig,
               procs: Processes, global_batch: int) -> tuple[float, float]:
    """One optimiser step on this process's ``samples`` (path, MOS, draws); returns the loss of the
    whole global batch (mean squared error on raw MOS) and the gradient norm before clipping.

    Each micro-batch adds ``sum((score - mos)^2) / global_batch`` to the gradient, so the sum over
    micro-batches and processes is the gradient of the batch mean, however the batch is split.
    """
    params = list(model.params.values())
    micro = config.micro_batch(procs.world)
    device = model.device
    local = 0.0
    for start_ in range(0, len(samples), micro):
        chunk = samples[start_:start_ + micro]
        z0 = latents([path for path, _, _ in chunk], [(d.flip_h, d.flip_v) for _, _, d in chunk])  # [m, C, h, w]
        timesteps = torch.tensor([[d.timestep] for _, _, d in chunk], dtype=torch.long, device=device)  # [m, 1]
        noise = torch.stack([d.noise for _, _, d in chunk]).unsqueeze(1).to(device)  # [m, 1, C, h, w]
        mos = torch.tensor([float(m) for _, m, _ in chunk], dtype=torch.float32, device=device)
        scores = model.scores(z0, timesteps, noise)  # [m]
        loss = (scores - mos).pow(2).sum() / global_batch
        model.backward(scaler.scale(loss), tuple(z0.shape[-2:]))
        local += float(loss.detach())
    procs.sum_gradients(params)
    scaler.unscale_(optimizer)
    limit = config.grad_clip if config.grad_clip > 0 else math.inf
    norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return procs.total(local), norm


class _Loop:
    """The epoch and step loop of one run (state that :func:`train` would otherwise pass around)."""

    def __init__(self, run: RunPlan, plan, model: TrainableModel, optimizer, scaler, latents: LatentSource,
                 procs: Processes, log: MetricsLog | None, position: recovery.Position, on_step):
        self.spec, self.plan, self.model = run, plan, model
        self.optimizer, self.scaler, self.latents = optimizer, scaler, latents
        self.procs, self.log, self.position, self.on_step = procs, log, position, on_step
        self.config = run.config

    def run(self, *, progress: bool) -> None:
        cfg, run, pos = self.config, self.spec, self.position
        total = cfg.epochs * run.steps_per_epoch
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=pos.global_step, unit="step", desc="genziqa train", dynamic_ncols=True)
        try:
            for epoch in range(pos.epoch, cfg.epochs):
                started = time.perf_counter()
                order = epoch_order(len(run.data.train), cfg.seed, epoch)
                for step in range(pos.step_in_epoch, run.steps_per_epoch):
                    self._step(epoch, step, order, bar)
                self._end_epoch(epoch, time.perf_counter() - started)
        finally:
            if bar is not None:
                bar.close()

    def _step(self, epoch: int, step: int, order: list[int], bar) -> None:
        cfg, run, pos, procs = self.config, self.spec, self.position, self.procs
        begun = time.perf_counter()
        batch = cfg.batch_size
        share = batch // procs.world
        first = step * batch + procs.rank * share
        samples = []
        for position in range(first, first + share):
            row = run.data.train[order[position]]
            samples.append((row.path, float(row.mos), draw(cfg.seed, epoch, position, self.model.latent_shape,
                                                           max_timestep=cfg.train_max_timestep, flips=cfg.flips)))
        loss, norm = train_step(self.model, self.optimizer, self.scaler, samples, self.latents, config=cfg,
                                procs=procs, global_batch=batch)
        pos.step_in_epoch = step + 1
        pos.global_step += 1
        pos.epoch_loss_sum += loss
        if self.log is not None:
            self.log.write({"event": "step", "epoch": epoch + 1, "step": pos.global_step, "loss": loss,
                            "grad_norm": norm, "lr": self.optimizer.param_groups[0]["lr"],
                            "seconds": round(time.perf_counter() - begun, 4)})
        if pos.global_step % cfg.save_every == 0:
            self._save()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4g}")
        if self.on_step is not None:
            self.on_step(StepInfo(epoch=epoch + 1, step=pos.global_step, loss=loss, grad_norm=norm))

    def _end_epoch(self, epoch: int, seconds: float) -> None:
        run, pos, procs = self.spec, self.position, self.procs
        rows = run.data.validation
        scores = self._validate(rows) if rows else None
        srcc_value = plcc_value = math.nan
        usable = 0
        if scores is not None:
            srcc_value, plcc_value, usable = _correlations(scores, [float(r.mos) for r in rows])
        improved = rows is None or (not math.isnan(srcc_value)
                                    and (pos.best_srcc is None or srcc_value > pos.best_srcc))
        if improved:
            pos.best_epoch = epoch + 1
            pos.best_srcc = None if math.isnan(srcc_value) else srcc_value
        if procs.main:
            if improved:
                self.model.export(run.out / BEST_DIR, self._provenance(epoch, srcc_value, plcc_value))
                if scores is not None:
                    _write_validation(run.out / VALIDATION_FILE, rows, scores)
            mean_loss = pos.epoch_loss_sum / max(1, run.steps_per_epoch)
            self.log.write({"event": "epoch", "epoch": epoch + 1, "step": pos.global_step, "train_loss": mean_loss,
                            "val_srcc": srcc_value, "val_plcc": plcc_value, "val_images": usable,
                            "best_epoch": pos.best_epoch, "best_srcc": pos.best_srcc, "seconds": round(seconds, 2)})
            plot_curves(read(self.log.path), run.out / CURVES_FILE, title=f"genziqa train · {run.data.summary()}")
        pos.epoch, pos.step_in_epoch, pos.epoch_loss_sum = epoch + 1, 0, 0.0
        self._save()

    def _validate(self, rows) -> list[float]:
        """Scores of every validation row (each process scores every world-th row)."""
        procs = self.procs
        mine = list(rows)[procs.rank::procs.world]
        rows_per_call = self.plan.unet_rows
        group = max(1, rows_per_call // (2 * len(self.plan.config.timesteps))) * 4
        out = []
        for start_ in range(0, len(mine), group):
            chunk = mine[start_:start_ + group]
            z0 = self.latents([r.path for r in chunk], [NO_FLIP] * len(chunk))
            out.append(self.model.validation_scores(z0, rows_per_call).float())
        local = torch.cat(out) if out else torch.empty(0, device=self.model.device)
        return procs.gather(local, len(rows)).tolist()

    def _save(self) -> None:
        if not self.procs.main:
            return
        pos = self.position
        pos.log_bytes = self.log.size
        pos.scaler = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in self.scaler.state_dict().items()}
        recovery.save(self.spec.out / RECOVERY_FILE, params=self.model.params, optimizer=self.optimizer,
                      position=pos, started=self.spec.started)

    def _provenance(self, epoch: int, srcc_value: float, plcc_value: float) -> dict:
        from ... import __version__

        cfg = self.config
        return {
            "genziqa_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "data": self.spec.data.source,
            "images": {"train": len(self.spec.data.train),
                       "validation": len(self.spec.data.validation) if self.spec.data.validation else 0},
            "epoch": epoch + 1,
            "epochs": cfg.epochs,
            "steps": self.position.global_step,
            "seed": cfg.seed,
            "val_srcc": None if math.isnan(srcc_value) else srcc_value,
            "val_plcc": None if math.isnan(plcc_value) else plcc_value,
            "selected_by": "validation SRCC" if self.spec.data.validation else "last epoch (no validation split)",
            "settings": cfg.to_dict(),
            "processes": self.procs.world,
            "dtype": str(self.plan.dtype).removeprefix("torch."),
            "started_from": self.plan.weights.source if self.plan.weights is not None else None,
            "trainable": self.model.counts(),
        }


def _correlations(scores: list[float], mos: list[float]) -> tuple[float, float, int]:
    """(SRCC, PLCC, images used) over the finite scores (a float16 overflow gives a non-finite one)."""
    from ..evaluation.metrics import plcc, srcc

    pairs = [(s, m) for s, m in zip(scores, mos) if math.isfinite(s)]
    if len(pairs) < MIN_VALIDATION:
        return math.nan, math.nan, len(pairs)
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    return srcc(x, y), plcc(x, y), len(pairs)


def _write_validation(path: Path, rows, scores: list[float]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "mos", "score"])
    for row, score in zip(rows, scores):
        writer.writerow([row.path, repr(float(row.mos)), repr(float(score)) if math.isfinite(score) else ""])
    partial = path.with_name(path.name + ".partial")
    partial.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(partial, path)


def _result(run: RunPlan, position: recovery.Position, trainable: dict) -> TrainResult:
    history = tuple(r for r in read(run.out / METRICS_FILE) if r.get("event") == "epoch")
    best = run.out / BEST_DIR
    return TrainResult(out=run.out, best=best if best.is_dir() else None, best_epoch=position.best_epoch,
                       best_srcc=position.best_srcc, steps=position.global_step, epochs=position.epoch,
                       trainable=trainable, history=history)


__all__ = ["train", "train_step", "plan_run", "identity", "TrainData", "RunPlan", "TrainResult", "StepInfo",
           "TrainingSetupError", "RECOVERY_FILE", "BEST_DIR", "METRICS_FILE", "CURVES_FILE", "VALIDATION_FILE"]
