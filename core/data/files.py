"""What every reader needs: finding files in an unpacked archive, reading CSV label files with
line numbers, and collecting rows and bad rows.

Archives unpack in different ways (``kadid10k.zip`` holds a ``kadid10k/`` folder, KonIQ-10k comes
as two zips, people rename folders), so readers look for their label files in the folder the user
named and a couple of levels below it rather than at one fixed place.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .table import BadRow, Dataset, DatasetError, Row

SEARCH_DEPTH = 2
"""How many folder levels below the user's folder a reader looks for its files."""


def folders(root: Path, depth: int = SEARCH_DEPTH) -> Iterator[Path]:
    """``root`` and its sub-folders down to ``depth`` levels, shallowest first, names sorted.

    Hidden folders (``.git``, ``__MACOSX`` resource forks) are skipped.
    """
    level = [root]
    for _ in range(depth + 1):
        below: list[Path] = []
        for folder in level:
            yield folder
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            below.extend(Path(e.path) for e in entries if e.is_dir() and not _hidden(e.name))
        level = below


def find(root: Path, relative: str | Iterable[str], depth: int = SEARCH_DEPTH) -> Path | None:
    """The shallowest existing ``folder / relative`` for a folder of :func:`folders` (several
    ``relative`` candidates are tried in order in each folder), or None."""
    candidates = [relative] if isinstance(relative, str) else list(relative)
    for folder in folders(root, depth):
        for candidate in candidates:
            path = folder / candidate
            if path.exists():
                return path
    return None


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def header_has(path: Path, *words: str) -> bool:
    """Whether the first line of the text file ``path`` names every one of ``words`` (case-blind);
    False for a file that cannot be read as text."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = f.readline().lower()
    except (OSError, UnicodeDecodeError):
        return False
    return all(word in first for word in words)


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the rows of a CSV file, each row with its line number (the header is line 1).

    Header names are stripped (a UTF-8 byte-order mark too); rows map header name -> stripped cell.
    Blank lines are skipped. Raises :class:`DatasetError` when the file cannot be read as CSV.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = []
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                rows.append((reader.line_num, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start}); "
                           "is it the data set's original label file?") from None
    except csv.Error as err:
        raise DatasetError(f"{path}: not readable as CSV ({err}).") from None
    if not header or not any(header):
        raise DatasetError(f"{path}: the file is empty; expected a header line naming the columns.")
    return header, rows


def column(header: list[str], path: Path, *names: str) -> str:
    """The header name that matches one of ``names`` (case-insensitive), in the header's spelling.

    Raises :class:`DatasetError` naming the columns that were expected and the ones found.
    """
    lowered = {h.lower(): h for h in header}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    raise DatasetError(f"{path}: no column {' or '.join(repr(n) for n in names)}; "
                       f"its header has {', '.join(repr(h) for h in header)}.")


def parse_mos(text: object) -> tuple[float | None, str | None]:
    """``(value, None)`` for a finite number, else ``(None, reason)``."""
    raw = "" if text is None else str(text).strip()
    if not raw:
        return None, "no MOS"
    try:
        value = float(raw)
    except ValueError:
        return None, f"MOS {raw!r} is not a number"
    if not math.isfinite(value):
        return None, f"MOS {raw!r} is not a finite number"
    return value, None


class Table:
    """Collects the rows of one data set and the entries that could not become rows.

    An entry becomes a bad row when its name is empty, its MOS is not a finite number, its image
    file does not exist, or it repeats an image already in the table. Whether an image can be
    *decoded* is left to scoring time (the scorer reports per-image errors).
    """

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.bad_rows: list[BadRow] = []
        self._seen: set[str] = set()
        self._listings: dict[str, frozenset[str]] = {}

    def add(self, ref: str, name: str, mos: object, image: Path, *, split: str | None = None,
            content: str | None = None) -> None:
        """Add the entry ``ref`` (where it is, e.g. ``"dmos.csv line 12"``) for the image file
        ``image`` named ``name`` in the label file, with MOS text or number ``mos``."""
        if not str(name).strip():
            self.bad_rows.append(BadRow(ref, "no image name"))
            return
        value, problem = parse_mos(mos)
        if problem:
            self.bad_rows.append(BadRow(ref, f"{name}: {problem}"))
            return
        path = str(image)
        if path in self._seen:
            self.bad_rows.append(BadRow(ref, f"{name}: listed again (the first entry is kept)"))
            return
        if not self._exists(image):
            self.bad_rows.append(BadRow(ref, f"{name}: no such file {path}"))
            return
        self._seen.add(path)
        self.rows.append(Row(path=path, mos=value, split=split, content=content if content is not None else str(name)))

    def bad(self, ref: str, reason: str) -> None:
        self.bad_rows.append(BadRow(ref, reason))

    def _exists(self, image: Path) -> bool:
        # One listing per folder instead of one stat per image: tens of thousands of rows then cost
        # a few directory reads, which matters on network file systems.
        folder = str(image.parent)
        if folder not in self._listings:
            try:
                self._listings[folder] = frozenset(e.name for e in os.scandir(folder) if not e.is_dir())
            except OSError:
                self._listings[folder] = frozenset()
        return image.name in self._listings[folder]

    def dataset(self, *, name: str, title: str, root: Path, mos_column: str, mos_range: tuple[float, float],
                official_split: bool = False, notes: Iterable[str] = ()) -> Dataset:
        if not self.rows:
            shown = "; ".join(str(b) for b in self.bad_rows[:3])
            more = f" (first problems: {shown})" if shown else ""
            raise DatasetError(f"{root}: no usable {title} image was found{more}. Check that the images were "
                               "unpacked next to the label file as described in the README's data set section.")
        return Dataset(name=name, title=title, root=root, rows=tuple(self.rows), bad_rows=tuple(self.bad_rows),
                       mos_column=mos_column, mos_range=mos_range, official_split=official_split, notes=tuple(notes))


__all__ = ["SEARCH_DEPTH", "folders", "find", "read_csv", "column", "parse_mos", "Table"]
