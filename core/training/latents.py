"""Training images as latents: decode, resize, flip, encode (METHOD 1.1 and 2), optionally cached.

The VAE is frozen and the latent is the posterior *mode* (or the one seeded draw of the parity
option), so an image's latent is a fixed function of its pixels: caching it changes nothing but
the time. A flip, though, is not a flip of the latent: the encoder's convolutions are not mirror
symmetric, so encode(flip(x)) differs from flip(encode(x)). The flip is therefore applied to the
pixels, as without a cache, and the cache keeps one entry per (image, flip) it has met.

Cache layout: ``<folder>/<namespace>/<key[:2]>/<key>.safetensors``, one ``z0`` tensor each. The
namespace hashes what decides a latent (the encoder's weights, dtype and device kind, resolution,
resize, normalisation, mode or sample), so one folder may serve several backbones safely. The key
hashes the image's absolute path, size, modification time and flip, so an edited image is encoded
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from ..backbone import Backbone
from ..config import GenzIQAConfig
from ..images import ImageError, load_image, to_model_input
from ..method import encode_latents
from ..scoring import exact_float32

Flip = tuple[bool, bool]
"""(horizontal, vertical)."""

NO_FLIP: Flip = (False, False)


class TrainingImageError(ValueError):
    """A training or validation image could not be read; the message names it and says what to do."""


class LatentSource:
    """z0 ``(B, C, h, w)`` float32 on the backbone's device for images and their flips.

    ``encoded`` counts VAE passes, ``cached`` cache hits (the tests check the cache is really used).
    """

    def __init__(self, backbone: Backbone, config: GenzIQAConfig, cache_dir: str | os.PathLike | None = None):
        self.backbone = backbone
        self.config = config
        self.encoded = 0
        self.cached = 0
        self.folder: Path | None = None
        if cache_dir is not None:
            self.folder = Path(cache_dir).expanduser() / _namespace(backbone, config)
            self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, paths: Sequence[str], flips: Sequence[Flip] | None = None) -> torch.Tensor:
        flips = list(flips) if flips is not None else [NO_FLIP] * len(paths)
        return torch.cat([self.one(p, f) for p, f in zip(paths, flips)])

    def one(self, path: str, flip: Flip = NO_FLIP) -> torch.Tensor:
        """``(1, C, h, w)``: the latent of ``path`` flipped by ``flip``."""
        entry = self._entry(path, flip) if self.folder is not None else None
        if entry is not None and entry.is_file():
            from safetensors.torch import load_file

            self.cached += 1
            return load_file(str(entry))["z0"].to(self.backbone.device)
        z0 = self._encode(path, flip)
        if entry is not None:
            _write(entry, z0)
        return z0

    def _encode(self, path: str, flip: Flip) -> torch.Tensor:
        try:
            image = load_image(path, path)
        except ImageError as err:
            raise TrainingImageError(
                f"{err} Training cannot go on without it: fix or replace the file, or drop its row from the label "
                "file (which changes the data, so start a new run rather than --resume)."
            ) from err
        pixels = to_model_input([image], self.config.resolution, resize=self.config.resize)  # [1, 3, R, R]
        dims = [d for d, on in ((-1, flip[0]), (-2, flip[1])) if on]
        if dims:
            pixels = pixels.flip(dims)
        with torch.no_grad(), exact_float32(self.backbone.device, self.backbone.dtype):
            z0 = encode_latents(self.backbone, pixels, self.config)  # [1, C, h, w]
        self.encoded += 1
        return z0

    def _entry(self, path: str, flip: Flip) -> Path:
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError as err:
            raise TrainingImageError(f"{path}: cannot be read ({err.strerror}); is the data set folder still mounted?") from None
        ident = json.dumps([str(resolved), stat.st_size, stat.st_mtime_ns, int(flip[0]), int(flip[1])])
        key = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return self.folder / key[:2] / f"{key}.safetensors"


def unreadable_images(paths: Sequence[str], *, workers: int | None = None, progress: bool = False) -> dict[str, str]:
    """``{path: reason}`` for each image of ``paths`` that cannot be decoded, in the order given.

    Every image is decoded once, in threads (decoding releases the GIL), so that a broken file is
    found before training starts rather than stopping the run when its turn comes.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    def reason(path: str) -> str | None:
        try:
            load_image(path, path)
        except ImageError as err:
            return f"{err.reason}. {err.hint}".strip() if err.hint else err.reason
        except OSError as err:
            return f"cannot be read ({err.strerror or err})"
        return None

    paths = list(dict.fromkeys(paths))
    # Each thread holds one decoded image (~200 MB for a 12 MP photo in float32): a few threads only.
    workers = workers or min(8, os.cpu_count() or 1)
    # load_image adjusts the warning filters per call, which races between threads before Python
    # 3.14; the outer catch_warnings restores the process's own filters once every thread is done.
    with warnings.catch_warnings(), ThreadPoolExecutor(workers) as pool:
        results = pool.map(reason, paths)
        if progress:
            results = tqdm(results, total=len(paths), desc="checking images", unit="img", leave=False)
        return {path: why for path, why in zip(paths, results) if why is not None}


def _write(entry: Path, z0: torch.Tensor) -> None:
    from safetensors.torch import save_file

    entry.parent.mkdir(parents=True, exist_ok=True)
    # Unique temporary name: two processes may encode the same image at once; either copy is right.
    partial = entry.with_name(f"{entry.name}.{os.getpid()}.partial")
    save_file({"z0": z0.detach().to("cpu").contiguous()}, str(partial))
    os.replace(partial, entry)


def _namespace(backbone: Backbone, config: GenzIQAConfig) -> str:
    """16 hex digits over everything that decides a latent (see the module docstring)."""
    digest = hashlib.sha256()
    settings = {"format": 1, "dtype": str(backbone.dtype), "device": backbone.device.type,
                "scaling_factor": float(backbone.vae.config.scaling_factor),
                **{k: getattr(config, k) for k in ("resolution", "resize", "pixel_norm", "latent", "noise_seed")}}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(backbone.vae.state_dict().items()):
        if name.startswith(("encoder.", "quant_conv.")):
            data = tensor.detach().to("cpu").contiguous()
            digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


__all__ = ["LatentSource", "TrainingImageError", "unreadable_images", "Flip", "NO_FLIP"]
