"""The training knobs, in one place: :class:`TrainConfig` (METHOD 2, the authors' settings).

The method's own numbers (what a score means) live in :class:`genziqa.core.config.GenzIQAConfig`;
everything here only decides how the trainable parameters get their values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

# Knobs that change the trajectory of the weights: a run may only be resumed with the same values.
TRAJECTORY_KEYS = ("lr", "betas", "weight_decay", "adam_eps", "grad_clip", "batch_size", "train_max_timestep",
                   "flips", "seed")


@dataclass(frozen=True)
class TrainConfig:
    """How to train the context vectors and the cross-attention LoRA; defaults are the paper's."""

    # -- optimiser: AdamW, constant learning rate
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    """Largest L2 norm of the gradient of all trainable parameters together; 0 switches clipping off."""

    # -- data
    batch_size: int = 16
    """Images per optimiser step, over all processes together (the global batch)."""
    accumulate: int = 1
    """Micro-batches each process splits its share of a step into (memory, not maths: the step is
    the same up to float rounding). ``batch_size`` must divide by processes x ``accumulate``."""
    epochs: int = 10
    flips: bool = True
    """Random horizontal and vertical flips, each with probability 1/2, independently (training only)."""

    # -- the forward during training (METHOD 1.2): one timestep t ~ U{0 .. train_max_timestep-1}
    # and fresh noise per image per step
    train_max_timestep: int = 100

    # -- run
    seed: int = 0
    """Seeds the initial context vectors and LoRA, the data order, the flips, timesteps and noise."""
    gradient_checkpointing: bool = True
    """Recompute UNet activations in the backward pass (METHOD 2): each block runs twice, and far
    less memory is held (CPU benchmark, 512 px, float32: 4 images per pass peaked at 11.7 GiB with
    it, 1 image at 9.2 GiB without). The gradients are the same (tests check it)."""
    save_every: int = 100
    """Optimiser steps between writes of the recovery file (also written at every epoch's end)."""
    latent_cache: str | None = None
    """Folder for encoded latents (one file per image and flip), or None to encode every time."""

    def __post_init__(self) -> None:
        _positive("lr", self.lr)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas={self.betas!r}: give two numbers in [0, 1), e.g. (0.9, 0.999).")
        _at_least("weight_decay", self.weight_decay, 0.0)
        _positive("adam_eps", self.adam_eps)
        _at_least("grad_clip", self.grad_clip, 0.0)
        for name in ("batch_size", "accumulate", "epochs", "save_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a whole number of at least 1.")
        if self.batch_size % self.accumulate:
            raise ValueError(f"batch_size={self.batch_size} does not divide into accumulate={self.accumulate} "
                             "micro-batches; choose an accumulate that divides it (e.g. 16 = 4 x 4).")
        if isinstance(self.train_max_timestep, bool) or not 1 <= self.train_max_timestep <= 1000:
            raise ValueError(f"train_max_timestep={self.train_max_timestep!r} must be in 1..1000 (the paper: 100, "
                             "i.e. t ~ U{0..99}).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a whole number of 0 or more.")

    def micro_batch(self, processes: int = 1) -> int:
        """Images per forward/backward pass in each of ``processes`` processes."""
        if self.batch_size % (processes * self.accumulate):
            raise ValueError(
                f"batch_size={self.batch_size} does not split evenly over {processes} process(es) x "
                f"accumulate={self.accumulate}; the batch must be a multiple of {processes * self.accumulate}."
            )
        return self.batch_size // (processes * self.accumulate)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def trajectory(self) -> dict:
        """The values that must match for a run to be resumed."""
        data = self.to_dict()
        return {k: (list(data[k]) if isinstance(data[k], tuple) else data[k]) for k in TRAJECTORY_KEYS}


def _positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number.")


def _at_least(name: str, value: float, low: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < low:
        raise ValueError(f"{name}={value!r} must be a number of at least {low}.")


__all__ = ["TrainConfig", "TRAJECTORY_KEYS"]
