"""Rebuild the demo's example images from scikit-image's bundled photos (``pip install scikit-image``).

    python gradio_app/examples/make_examples.py

Two CC0 photographs from scikit-image (``chelsea``: Stefan van der Walt; ``coffee``: Rachel
Michetti), each as a clean JPEG and three distorted versions made with scikit-image and Pillow:
Gaussian blur, Gaussian noise and heavy JPEG compression. Everything is seeded, so a rebuild gives
the same pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).parent
PHOTOS = ("chelsea", "coffee")
SIDE = 384  # longest side: small files, and the model resizes to 512 anyway
CLEAN_QUALITY = 92


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _as_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def main() -> None:
    from skimage import data, filters, transform, util

    for name in PHOTOS:
        photo = getattr(data, name)()  # [H, W, 3] uint8
        scale = SIDE / max(photo.shape[:2])
        small = transform.rescale(photo, scale, channel_axis=2, anti_aliasing=True)  # float in [0, 1]
        clean = _as_uint8(small)
        versions = {
            "clean": _jpeg(clean, CLEAN_QUALITY),
            "blur": _jpeg(_as_uint8(filters.gaussian(small, sigma=3.0, channel_axis=2)), CLEAN_QUALITY),
            "noise": _jpeg(_as_uint8(util.random_noise(small, mode="gaussian", var=0.01, rng=0)), CLEAN_QUALITY),
            "jpeg": _jpeg(clean, 4),
        }
        for kind, encoded in versions.items():
            (HERE / f"{name}_{kind}.jpg").write_bytes(encoded)
            print(f"{name}_{kind}.jpg  {len(encoded) // 1024} KiB")


if __name__ == "__main__":
    main()
