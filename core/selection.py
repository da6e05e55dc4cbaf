"""Choosing images by their scores: which to keep, and in which order.

Pure index logic over a list of scores (higher = better), shared by every adapter that filters
or ranks a batch. Nothing here knows what a batch holds: callers apply the returned positions to
their images and to whatever must stay aligned with them (latents, masks, file names).

Ties are broken by position (the earlier image first), so the same scores always give the same
selection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Split", "by_threshold", "best_fraction", "ranking"]


@dataclass(frozen=True)
class Split:
    """Positions of the kept and the rejected images, each in the batch's own order."""

    kept: tuple[int, ...]
    rejected: tuple[int, ...]


def by_threshold(scores: Sequence[float], threshold: float) -> Split:
    """Keep every image whose score is ``>= threshold``."""
    values = _checked(scores)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold={threshold} is not a finite number; give the lowest score to keep.")
    kept = tuple(i for i, s in enumerate(values) if s >= threshold)
    return _split(len(values), kept)


def best_fraction(scores: Sequence[float], fraction: float) -> Split:
    """Keep the best ``fraction`` of the batch: ``ceil(fraction * n)`` images, so any fraction
    above 0 keeps at least one image; 0 keeps none, 1 keeps all."""
    values = _checked(scores)
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction} is outside [0, 1]; 0.25 keeps the best quarter of the batch.")
    # round() first: 0.3 * 10 is 3.0000000000000004 in floating point, which must keep 3, not 4.
    count = math.ceil(round(fraction * len(values), 9))
    kept = tuple(sorted(ranking(values)[:count]))
    return _split(len(values), kept)


def ranking(scores: Sequence[float], *, best_first: bool = True, top_k: int = 0) -> tuple[int, ...]:
    """Positions sorted by score (best first, or worst first), cut to the first ``top_k``
    (0 = all). Equal scores keep their batch order in either direction."""
    values = _checked(scores)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k={top_k!r} must be a whole number >= 0 (0 keeps all images).")
    sign = -1.0 if best_first else 1.0
    order = sorted(range(len(values)), key=lambda i: (sign * values[i], i))
    return tuple(order[:top_k] if top_k else order)


def _checked(scores: Sequence[float]) -> list[float]:
    values = [float(s) for s in scores]
    bad = [i for i, s in enumerate(values) if not math.isfinite(s)]
    if bad:
        raise ValueError(f"scores at positions {bad[:5]} are not finite numbers; only real scores can be compared.")
    return values


def _split(n: int, kept: tuple[int, ...]) -> Split:
    chosen = set(kept)
    return Split(kept=kept, rejected=tuple(i for i in range(n) if i not in chosen))
