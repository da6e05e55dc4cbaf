"""What a data set reader is: how to find its label file in an unpacked archive and how to read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .table import Dataset


@dataclass(frozen=True)
class Reader:
    """One public data set's reader.

    ``name``: the short name users pass as ``--dataset``; ``aliases``: other spellings accepted.
    ``layout``: what files the reader expects where (shown when nothing matches, and in the README).
    ``locate(root)``: the label file that identifies the data set under the folder ``root``
    (searched a few levels down), or None. ``read(label_file, root)``: the table.
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    layout: str
    locate: Callable[[Path], Path | None]
    read: Callable[[Path, Path], Dataset]


__all__ = ["Reader"]
