"""What every training step sees: the data order and each image's random draws.

Everything random in training is a pure function of ``(seed, epoch, position)``, where position
counts the images of an epoch in their shuffled order. Nothing draws from a global generator, so

- resuming needs only the position (the recovery file's "RNG state" is the step counter);
- any number of processes and micro-batches sees the same draws for the same image of the same
  step, which is why one process and two give the same weights up to float rounding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Draw:
    """The random choices for one training image at one step (METHOD 2)."""

    flip_h: bool
    flip_v: bool
    timestep: int
    """t ~ U{0 .. train_max_timestep-1}."""
    noise: torch.Tensor
    """(C, h, w) float32 on the CPU: eps ~ N(0, I), fresh for this image and step."""


def generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded from ``parts`` (e.g. ``(seed, epoch, "order")``), independent of any other."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def epoch_order(n_images: int, seed: int, epoch: int) -> list[int]:
    """The images of epoch ``epoch`` (0-based) in shuffled order: a permutation of ``range(n_images)``."""
    return torch.randperm(n_images, generator=generator(seed, epoch, "order")).tolist()


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Full batches per epoch; the last partial batch is dropped (its images come up in later epochs)."""
    return n_images // batch_size


def draw(seed: int, epoch: int, position: int, latent_shape: tuple[int, ...], *, max_timestep: int,
         flips: bool) -> Draw:
    """The draws of the image at ``position`` of epoch ``epoch``; ``latent_shape`` is (C, h, w)."""
    gen = generator(seed, epoch, position, "draw")
    # Flips are drawn even when switched off, so switching them off changes nothing else.
    flip_h, flip_v = (torch.randint(0, 2, (2,), generator=gen) == 1).tolist()
    timestep = int(torch.randint(0, max_timestep, (1,), generator=gen))
    noise = torch.randn(latent_shape, generator=gen)
    return Draw(flip_h=flips and flip_h, flip_v=flips and flip_v, timestep=timestep, noise=noise)


__all__ = ["Draw", "generator", "epoch_order", "steps_per_epoch", "draw"]
