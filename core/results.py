"""What scoring returns: frozen records, numpy arrays made read-only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import heatmaps


@dataclass(frozen=True)
class ScoredImage:
    """One image's outcome, in memory and as a row of a results file. Exactly one of ``score``
    and ``error`` is set. ``model`` (the scorer's label) and ``run`` (what identifies its numbers,
    see :mod:`genziqa.core.identity`) are filled in where rows are written."""

    source: str
    score: float | None
    error: str | None = None
    model: str = ""
    run: str = ""

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

    def token_choices(self, prompt: str = "auto") -> list[str]:
        """The words :meth:`token_map` accepts (for ``prompt``), e.g. ``['good', 'photo', '<end>']``."""
        return heatmaps.token_words(self.tokens, prompt)

    def to_dict(self, *, maps: bool = False) -> dict:
        """JSON-ready: score, label, per-timestep and per-layer numbers; the latent-grid maps
        (``token_maps`` (2, K, h, w), ``quality_latent`` (h, w)) as nested lists when ``maps``."""
        out = {
            "source": self.source, "score": self.score, "zero_shot": self.zero_shot, "model": self.model,
            "image_size": list(self.image_size), "timesteps": list(self.timesteps),
            "per_timestep": self.per_timestep.tolist(), "error_gap": self.error_gap.tolist(),
            "layer_names": list(self.layer_names), "layer_stats": _finite_or_none(self.layer_stats),
            "tokens": {"good": list(self.tokens[0]), "bad": list(self.tokens[1])},
        }
        if maps:
            out["token_maps"] = self.token_maps.tolist()
            out["quality_latent"] = self.quality_latent.tolist()
        return out

    def quality_map(self) -> np.ndarray:
        """``(H, W)`` float32: positive where the image pulls the score up (the good prompt
        explains it better than the bad one), negative where it pulls it down."""
        return heatmaps.resize(self.quality_latent, self.image_size)


def _finite_or_none(array: np.ndarray) -> list:
    """Nested lists with NaN (a statistic that was not computed) as None, which JSON can hold."""
    return np.where(np.isfinite(array), array, None).tolist()
