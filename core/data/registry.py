"""Which data set a folder holds, and opening it: :func:`detect` and :func:`open_dataset`."""

from __future__ import annotations

import os
from pathlib import Path

from ..messages import suggest
from . import agiqa, clive, flive, generic, kadid, koniq, spaq
from .reader import Reader
from .table import Dataset, DatasetError

READERS: tuple[Reader, ...] = tuple(m.READER for m in (koniq, flive, clive, spaq, kadid, agiqa, generic))
"""Every reader, in the order :func:`detect` tries them (the generic CSV last)."""

NAMES = tuple(r.name for r in READERS)


def reader(name: str) -> Reader:
    """The reader called ``name`` or one of its aliases (case-insensitive)."""
    key = str(name).strip().lower()
    for r in READERS:
        if key == r.name or key in r.aliases:
            return r
    spellings = [s for r in READERS for s in (r.name, *r.aliases)]
    raise DatasetError(f"unknown data set {name!r}; known: {', '.join(NAMES)}.{suggest(key, spellings)}")


def detect(path: str | os.PathLike) -> str:
    """The name of the data set in the folder (or label file) ``path``, recognised by its label files.

    Raises :class:`DatasetError` listing what each data set expects where when nothing matches,
    and naming the candidates when several do.
    """
    return _find(_root(path))[0].name


def open_dataset(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read the data set at ``path`` (the unpacked archive's folder, or a label file) into one table.

    ``name`` picks the reader (see :data:`NAMES`); None recognises it from the files.
    Entries without a usable image or MOS become ``Dataset.bad_rows``; they never stop the read.
    """
    root = _root(path)
    if name is None:
        chosen, label_file = _find(root)
    else:
        chosen = reader(name)
        label_file = chosen.locate(root) if root.is_dir() or chosen is generic.READER else _named_file(chosen, root)
        if label_file is None:
            raise DatasetError(f"{root} does not look like {chosen.title}. Expected:\n{chosen.layout}")
    return chosen.read(label_file, root if root.is_dir() else root.parent)


def _root(path: str | os.PathLike) -> Path:
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"{root} does not exist; pass the folder the data set archive was unpacked into.")
    return root.resolve()


def _named_file(chosen: Reader, file: Path) -> Path | None:
    """``file`` if it is the label file ``chosen`` finds next to it."""
    found = chosen.locate(file.parent)
    return found if found is not None and found.resolve() == file else None


def _find(root: Path) -> tuple[Reader, Path]:
    if root.is_file():
        # A label file named directly: the reader whose label file it is, else a generic CSV.
        for r in READERS[:-1]:
            if (found := _named_file(r, root)) is not None:
                return r, found
        found = generic.locate(root)
        if found is None:
            raise DatasetError(f"{root} is not a label file genziqa knows. Expected:\n{generic.LAYOUT}")
        return generic.READER, found
    matches = [(r, f) for r in READERS if (f := r.locate(root)) is not None]
    if not matches:
        expected = "\n\n".join(r.layout for r in READERS)
        raise DatasetError(f"no known data set found in {root} (searched it and two folders below). Expected one of:\n\n"
                           f"{expected}\n\nOr pass --dataset NAME to say which one it is.")
    if len(matches) > 1:
        shown = ", ".join(f"{r.name} ({f})" for r, f in matches)
        raise DatasetError(f"{root} holds label files of several data sets: {shown}. "
                           "Point at the folder of one of them, or pass its name.")
    return matches[0]


__all__ = ["READERS", "NAMES", "reader", "detect", "open_dataset"]
