"""Any data set as a CSV file: ``path,mos[,split][,content]``.

``path`` is relative to the CSV file's folder (absolute paths work too), ``mos`` is a number
with higher = better, ``split`` (optional) is ``train``, ``validation`` or ``test`` (``val``,
``training`` and ``testing`` are understood), and ``content`` (optional) groups images that must
stay on one side of a split, such as the distorted versions of one reference. When no row has a
split, a split is drawn by content (by image when there is no content column).
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, column, read_csv
from .reader import Reader
from .table import Dataset, DatasetError, split_name

LAYOUT = """\
CSV: a .csv file (or a folder holding exactly one) with the header path,mos and optionally split and content;
paths relative to the CSV's folder, mos higher = better."""


def locate(root: Path) -> Path | None:
    if root.is_file():
        return root if root.suffix.lower() == ".csv" else None
    found = [p for p in sorted(root.glob("*.csv")) if _is_generic(p)]
    return found[0] if len(found) == 1 else None


def _is_generic(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig") as f:
            names = {h.strip().lower() for h in f.readline().split(",")}
    except (OSError, UnicodeDecodeError):
        return False
    return {"path", "mos"} <= names


def read(label_file: Path, root: Path) -> Dataset:
    header, lines = read_csv(label_file)
    path_col = column(header, label_file, "path")
    mos_col = column(header, label_file, "mos")
    split_col = next((h for h in header if h.lower() == "split"), None)
    content_col = next((h for h in header if h.lower() == "content"), None)
    base = label_file.parent
    table = Table()
    for line, entry in lines:
        ref = f"{label_file.name} line {line}"
        split = None
        if split_col and entry[split_col]:
            try:
                split = split_name(entry[split_col], allow_all=False)
            except DatasetError as err:
                table.bad(ref, f"{entry[path_col]}: {err}")
                continue
        content = entry[content_col] if content_col and entry[content_col] else None
        table.add(ref, entry[path_col], entry[mos_col], base / entry[path_col], split=split, content=content)
    dataset = table.dataset(name="csv", title=label_file.name, root=base, mos_column=f"{mos_col} ({label_file.name})",
                            mos_range=_range(table), official_split=any(r.split for r in table.rows))
    return dataset


def _range(table: Table) -> tuple[float, float]:
    values = [r.mos for r in table.rows] or [0.0]
    return (min(values), max(values))


READER = Reader(name="csv", title="CSV table", aliases=("generic", "table"), layout=LAYOUT, locate=locate, read=read)
