"""The one table every data set reader produces: rows of (path, mos, split, content).

Every reader turns its data set's own label files into a :class:`Dataset`. ``Row.mos`` always
points the same way (higher = better quality), whatever the data set calls its column, so code
downstream never needs to know which data set it is looking at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..messages import suggest

SPLITS = ("train", "validation", "test")
"""The split names a row can carry, in the order a seeded split assigns them."""

ALL = "all"
"""The split name that selects every row."""

_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "val": "validation", "valid": "validation",
    "test": "test", "testing": "test",
}


class DatasetError(ValueError):
    """A data set folder or label file cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Row:
    """One image of a data set.

    ``path``: absolute path of the image file. ``mos``: its mean opinion score on the data set's
    own scale (see :attr:`Dataset.mos_range`), oriented so that higher = better quality.
    ``split``: ``"train"``, ``"validation"`` or ``"test"`` from the data set's official split, or
    None where it has none. ``content``: what the image shows; images that share a content (the
    distorted versions of one reference, the generations of one prompt) must stay on the same side
    of a train/test split.
    """

    path: str
    mos: float
    split: str | None
    content: str


@dataclass(frozen=True)
class BadRow:
    """A label entry that could not become a row: ``ref`` says where it is (file and line),
    ``reason`` what was wrong with it."""

    ref: str
    reason: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.reason}"


@dataclass(frozen=True)
class Dataset:
    """A data set read into one table.

    ``name``: the reader's short name (``koniq10k``, ``kadid10k``, ...); ``title``: its usual name.
    ``root``: the folder the label files were found in. ``rows``: every usable image. ``bad_rows``:
    entries that were skipped, with reasons (never fatal). ``mos_column``: what ``Row.mos`` is,
    in the data set's own words. ``mos_range``: (low, high) of the scale it is on.
    ``official_split``: whether rows carry the data set's official split (see
    :func:`genziqa.core.data.split`). ``notes``: what a reader of a report should know about how
    the table was built (images left out on purpose, a split file that was not found, ...).
    """

    name: str
    title: str
    root: Path
    rows: tuple[Row, ...]
    bad_rows: tuple[BadRow, ...]
    mos_column: str
    mos_range: tuple[float, float]
    official_split: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def higher_is_better(self) -> bool:
        """Always True: every reader orients ``Row.mos`` so that higher = better quality (KADID-10k's
        column is called ``dmos`` but already points that way)."""
        return True

    def split_counts(self) -> dict[str, int]:
        """Rows per official split name (empty when the data set has no official split)."""
        counts: dict[str, int] = {}
        for row in self.rows:
            if row.split is not None:
                counts[row.split] = counts.get(row.split, 0) + 1
        return counts


def split_name(text: str, *, allow_all: bool = True) -> str:
    """The canonical split name for ``text`` (``val`` -> ``validation``, ``training`` -> ``train``).

    Raises :class:`DatasetError` for a name that is none of them, with a did-you-mean.
    """
    key = str(text).strip().lower()
    if allow_all and key == ALL:
        return ALL
    if key in _SPLIT_ALIASES:
        return _SPLIT_ALIASES[key]
    choices = [*SPLITS, ALL] if allow_all else list(SPLITS)
    raise DatasetError(f"unknown split {text!r}; use one of {', '.join(choices)}.{suggest(key, _SPLIT_ALIASES)}")


__all__ = ["SPLITS", "ALL", "DatasetError", "Row", "BadRow", "Dataset", "split_name"]
