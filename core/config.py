"""The method's numbers, in one place (GenzIQA, arXiv 2406.04654; ../shared/METHOD.md).

Everything that decides what a score means lives in :class:`GenzIQAConfig` and nowhere else;
training knobs (optimizer, epochs, batch) live in :mod:`genziqa.core.training`. The options whose
non-default value reproduces the authors' code are marked *parity option*.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Eight timesteps, 12 apart, in the low-noise range 0..99 of the 1000-step schedule.
TEST_TIMESTEPS: tuple[int, ...] = (9, 21, 33, 45, 57, 69, 81, 93)

# CLIP's normalisation, used by the authors' code instead of [-1, 1] (parity option).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class GenzIQAConfig:
    """Every number of the method, with the paper's (and the authors' code's) values as defaults."""

    # -- image to latent (METHOD 1.1)
    resolution: int = 512
    """Side of the square the image is resized to (bicubic, aspect not kept)."""
    resize: str = "torch"
    """``"torch"``: antialiased bicubic on float pixels. ``"pil"``: PIL's bicubic on the 8-bit
    image, rounded and clipped, as the authors' torchvision pipeline does (parity option)."""
    pixel_norm: str = "symmetric"
    """``"symmetric"``: x*2-1, the SD VAE's range. ``"clip"``: CLIP mean/std (parity option)."""
    latent: str = "mode"
    """``"mode"`` of the VAE posterior, or one seeded ``"sample"`` per image (parity option)."""

    # -- noise (METHOD 1.2)
    timesteps: tuple[int, ...] = TEST_TIMESTEPS
    noise_seed: int = 0
    """Seed of the fixed noise bank, one tensor per timestep shared by every image."""

    # -- prompts (METHOD 1.3)
    n_ctx: int = 16
    ctx_init_std: float = 0.02
    placeholder: str = "X"
    class_words: tuple[str, str] = ("Good Photo.", "Bad Photo.")
    """Class words of the (good, bad) prompt, after the context placeholders."""

    # -- LoRA (METHOD 1.4): rank 4, scale 1, on the cross-attention projections only
    lora_rank: int = 4
    lora_alpha: float = 4.0
    lora_targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")

    # -- statistic (METHOD 1.5)
    lse_lambda: float = 0.14
    """Temperature of the soft maximum over pixels of the cross-attention logits."""

    def __post_init__(self) -> None:
        _choice("pixel_norm", self.pixel_norm, ("symmetric", "clip"))
        _choice("latent", self.latent, ("mode", "sample"))
        _choice("resize", self.resize, ("torch", "pil"))
        if self.resolution < 64 or self.resolution % 8:
            raise ValueError(
                f"resolution={self.resolution} is not usable: it must be a multiple of 8 and at "
                "least 64 (the method uses 512)."
            )
        if not self.timesteps or any(not 0 <= t < 1000 for t in self.timesteps):
            raise ValueError(f"timesteps={self.timesteps!r}: give one or more integers in 0..999.")
        if self.lse_lambda <= 0:
            raise ValueError(f"lse_lambda={self.lse_lambda} must be positive (the method uses 0.14).")
        if len(self.class_words) != 2:
            raise ValueError(f"class_words={self.class_words!r}: give exactly (good, bad).")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GenzIQAConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown GenzIQA config keys {unknown}; known keys are {sorted(known)}. "
                "Was this file written by a newer genziqa?"
            )
        values = dict(data)
        for key in ("timesteps", "class_words", "lora_targets"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def authors_parity(self) -> "GenzIQAConfig":
        """This config with every parity option set as in the authors' code."""
        return dataclasses.replace(self, pixel_norm="clip", latent="sample", resize="pil")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {allowed}.")
