"""ComfyUI's batch values and how to take rows of them without losing their alignment.

IMAGE is ``(B, H, W, C) float32 in [0, 1]``; MASK is ``(B, H, W)`` or one ``(H, W)`` /
``(1, H, W)`` mask shared by the whole batch; LATENT is a dict whose ``samples`` are
``(B, C, h, w)`` (or ``(B, C, T, h, w)`` for video), optionally with a ``noise_mask`` (per
sample, or one shared) and a ``batch_index`` list (one entry per sample). Taking rows of a batch
takes the same rows of everything that belongs to it, so the n-th latent still belongs to the
n-th image.
"""

from __future__ import annotations

from typing import Sequence



def batch_size(images) -> int:
    if getattr(images, "ndim", 0) != 4:
        shape = tuple(getattr(images, "shape", ()))
        raise ValueError(f"images: expected a ComfyUI IMAGE batch (B, H, W, C), got shape {shape}. "
                         "Connect an IMAGE output (e.g. VAE Decode or Load Image).")
    return int(images.shape[0])


def check_aligned(n: int, latent=None, mask=None) -> None:
    """Refuse extras that do not belong to a batch of ``n`` images, naming the input."""
    if latent is not None:
        samples = _samples(latent)
        if samples.shape[0] != n:
            raise ValueError(
                f"latent: holds {samples.shape[0]} samples but images holds {n}; connect the latent the "
                "images were decoded from (the same batch), or leave latent unconnected."
            )
    if mask is not None and _mask_rows(mask) not in (1, n):
        raise ValueError(
            f"mask: holds {_mask_rows(mask)} masks but images holds {n}; give one mask per image or one "
            "mask for all of them, or leave mask unconnected."
        )


def take_images(images, positions: Sequence[int]):
    """``(len(positions), H, W, C)``: the images at ``positions``, in that order."""
    return images[_index(images, positions)]


def take_mask(mask, n: int, positions: Sequence[int]):
    """The masks of ``positions``; one mask shared by the batch stays one shared mask."""
    if _mask_rows(mask) == 1:
        return mask
    return mask[_index(mask, positions)]


def take_latent(latent: dict, positions: Sequence[int]) -> dict:
    """A new LATENT dict with the samples (and per-sample noise masks and batch indices) of
    ``positions``; every other key is kept as it is."""
    samples = _samples(latent)
    n = samples.shape[0]
    out = dict(latent)
    out["samples"] = samples[_index(samples, positions)]
    noise_mask = latent.get("noise_mask")
    if noise_mask is not None and noise_mask.ndim >= 3 and noise_mask.shape[0] == n and n > 1:
        out["noise_mask"] = noise_mask[_index(noise_mask, positions)]
    batch_index = latent.get("batch_index")
    if batch_index is not None and len(batch_index) == n:
        out["batch_index"] = [batch_index[i] for i in positions]
    return out


def to_uint8(image):
    """One IMAGE row ``(H, W, C)`` as a numpy ``(H, W, C) uint8``, rounded the way Save Image does."""
    import numpy as np

    return np.clip(255.0 * image.detach().cpu().float().numpy(), 0, 255).astype(np.uint8)


def from_uint8(pictures):
    """``(B, H, W, 3) float32 in [0, 1]`` from numpy ``(H, W, 3) uint8`` arrays of one size."""
    import numpy as np
    import torch

    return torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32) / 255.0 for p in pictures]))


def _samples(latent):
    if not isinstance(latent, dict) or "samples" not in latent:
        raise ValueError("latent: expected a ComfyUI LATENT (a dict with 'samples'); connect a LATENT output.")
    return latent["samples"]


def _mask_rows(mask) -> int:
    return 1 if mask.ndim == 2 else int(mask.shape[0])


def _index(tensor, positions: Sequence[int]):
    import torch

    return torch.as_tensor(list(positions), dtype=torch.long, device=tensor.device)
