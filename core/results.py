"""What scoring returns: frozen records, numpy arrays made read-only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import heatmaps


@dataclass(frozen=True)
class ScoredImage:
    """One input's outcome. Exactly one of ``score`` and ``error`` is set."""

    source: str
    score: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Analysis:
    """Everything the method computes for one image.

    Arrays are read-only. T = number of timesteps, L = cross-attention layers (16 in SD),
    K = prompt tokens (77), (h, w) = latent grid (64x64 at 512px).
    """

    source: str
    score: float
    """The GenzIQA score (zero-shot: minus the mean denoising-error gap). Higher is better."""
    zero_shot: bool
    model: str
    """Human-readable label of weights and backbone; starts with ``zero-shot`` when untrained."""
    image_size: tuple[int, int]
    """(width, height) of the original image; every map is resized to it on request."""
    timesteps: tuple[int, ...]
    per_timestep: np.ndarray
    """(T,) s_t = mean_l m_l + b_t (trained); zero-shot: -b_t."""
    layer_stats: np.ndarray
    """(T, L) m_l: soft-max-pooled cross-attention logits, mean over prompts, heads and tokens."""
    layer_names: tuple[str, ...]
    error_gap: np.ndarray
    """(T,) b_t = ||eps - eps_good|| - ||eps - eps_bad|| (negative: the good prompt denoises better)."""
    tokens: tuple[tuple[str, ...], tuple[str, ...]]
    """Token strings of the (good, bad) prompts, padding included."""
    token_maps: np.ndarray
    """(2, K, h, w) softmax cross-attention per (prompt, token), mean over heads, layers, timesteps."""
    quality_latent: np.ndarray
    """(h, w) mean over timesteps of |eps - eps_bad|^2 - |eps - eps_good|^2 per latent cell."""

    def __post_init__(self) -> None:
        for name in ("per_timestep", "layer_stats", "error_gap", "token_maps", "quality_latent"):
            getattr(self, name).setflags(write=False)

    def token_map(self, token: str | int = "good", prompt: str = "auto") -> np.ndarray:
        """``(H, W)`` float32 map of one token at the original image size.

        ``token`` is a word of the prompt (``"Good"``, ``"Bad"``, ``"Photo"``, ``"X"`` for the
        context tokens, ``"<end>"``) or a position. ``prompt`` is ``"good"``, ``"bad"`` or
        ``"auto"`` (the prompt that contains the word, the good one when both do).
        """
        p, positions = heatmaps.find_token(self.tokens, token, prompt)
        grid = self.token_maps[p, positions].mean(axis=0)
        return heatmaps.resize(grid, self.image_size)

    def quality_map(self) -> np.ndarray:
        """``(H, W)`` float32: positive where the image pulls the score up (the good prompt
        explains it better than the bad one), negative where it pulls it down."""
        return heatmaps.resize(self.quality_latent, self.image_size)
