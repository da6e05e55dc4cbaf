"""Train / validation / test rows: the official split where a data set has one, otherwise a seeded
split by content, so the distorted versions of one reference (or the images of one prompt) never
straddle train and test."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from .table import ALL, SPLITS, Dataset, DatasetError, Row, split_name

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split(dataset: Dataset, name: str, seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> list[Row]:
    """The rows of split ``name`` (``train``, ``validation``, ``test`` or ``all``), in table order.

    Where ``dataset.official_split`` is set the official split is used and ``seed`` and
    ``fractions`` are ignored. Otherwise every content group goes whole to one split: groups are
    shuffled with ``random.Random(seed)`` (independent of row order) and cut by the
    (train, validation, test) ``fractions`` of the number of groups.
    """
    wanted = split_name(name)
    if wanted == ALL:
        return list(dataset.rows)
    if dataset.official_split:
        rows = [r for r in dataset.rows if r.split == wanted]
        if not rows:
            have = ", ".join(f"{k} ({v})" for k, v in dataset.split_counts().items())
            raise DatasetError(f"{dataset.title} has no {wanted!r} images in its official split; it has {have}.")
        return rows
    assignment = content_split(dataset.rows, seed, fractions)
    return [r for r in dataset.rows if assignment[r.content] == wanted]


def content_split(rows: Sequence[Row], seed: int = 0, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict[str, str]:
    """content -> split name for a seeded split by content (see :func:`split`)."""
    fractions = _check(fractions)
    groups = sorted({r.content for r in rows})
    random.Random(seed).shuffle(groups)
    n_train = round(fractions[0] * len(groups))
    n_validation = round(fractions[1] * len(groups))
    n_train = min(n_train, len(groups))
    n_validation = min(n_validation, len(groups) - n_train)
    assignment = {}
    for index, group in enumerate(groups):
        if index < n_train:
            assignment[group] = SPLITS[0]
        elif index < n_train + n_validation:
            assignment[group] = SPLITS[1]
        else:
            assignment[group] = SPLITS[2]
    return assignment


def _check(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(not math.isfinite(f) or f < 0 for f in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise DatasetError(f"split fractions {tuple(fractions)} must be three non-negative numbers "
                           "(train, validation, test) that add up to 1, e.g. (0.8, 0.1, 0.1).")
    return values


__all__ = ["DEFAULT_FRACTIONS", "split", "content_split"]
