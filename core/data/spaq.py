"""SPAQ, smartphone photography (Fang et al., CVPR 2020): 11,125 photos from 66 phones.

Labels: ``Annotations/MOS and Image attribute scores.xlsx``, one sheet with the columns
``Image name, MOS, Brightness, Colorfulness, Contrast, Noisiness, Sharpness``; MOS on 0..100,
higher = better. Images: ``TestImage/00001.jpg`` .. ``11125.jpg`` (full camera resolution; most
loaders resize them). No official split: papers draw random 80/20 splits.

Reading ``.xlsx`` needs the small ``openpyxl`` package (``pip install openpyxl``, or the
``genziqa[data]`` extra). Without it, a CSV export of the sheet with the same columns, saved next
to the workbook as ``MOS and Image attribute scores.csv``, works too (many loaders ship one).
"""

from __future__ import annotations

import re
from pathlib import Path

from .files import Table, column, folders, read_csv
from .reader import Reader
from .table import Dataset, DatasetError

LABEL_STEM = "MOS and Image attribute scores"
IMAGES = "TestImage"

LAYOUT = f"""\
SPAQ: Annotations/{LABEL_STEM}.xlsx (or a .csv export of it) and TestImage/ with the photos,
up to two folders below --data (the workbook needs openpyxl: pip install openpyxl)."""


def _key(name: str) -> str:
    # The archive spells the file with spaces; copies renamed with underscores are common.
    return re.sub(r"[\s_]+", " ", name).strip().lower()


def locate(root: Path) -> Path | None:
    wanted = _key(LABEL_STEM)
    for folder in folders(root):
        if folder.name.lower() != "annotations":
            continue
        found = sorted(p for p in folder.iterdir() if p.is_file() and _key(p.stem) == wanted
                       and p.suffix.lower() in (".xlsx", ".csv"))
        # The CSV export first: it needs no extra package and says the same.
        found.sort(key=lambda p: p.suffix.lower() != ".csv")
        if found:
            return found[0]
    return None


def read(label_file: Path, root: Path) -> Dataset:
    images = next((f / IMAGES for f in folders(root) if (f / IMAGES).is_dir()), None)
    if images is None:
        raise DatasetError(f"{root}: found {label_file.name} but no {IMAGES}/ folder up to two folders below "
                           f"{root}; unpack the SPAQ images there.")
    header, lines = _read_xlsx(label_file) if label_file.suffix.lower() == ".xlsx" else read_csv(label_file)
    name_col = column(header, label_file, "Image name", "Image_name", "image")
    mos_col = column(header, label_file, "MOS")
    where = "row" if label_file.suffix.lower() == ".xlsx" else "line"
    table = Table()
    for line, entry in lines:
        name = entry[name_col]
        table.add(f"{label_file.name} {where} {line}", name, entry[mos_col], images / name)
    return table.dataset(name="spaq", title="SPAQ", root=label_file.parent.parent,
                         mos_column=f"{mos_col} ({label_file.name})", mos_range=(0.0, 100.0))


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and rows of the first sheet, as :func:`read_csv` gives them (row numbers as Excel shows them)."""
    try:
        import openpyxl
    except ImportError:
        raise DatasetError(
            f"{path} is an Excel workbook and reading it needs openpyxl: pip install openpyxl "
            f"(or save the sheet as CSV next to it, named '{LABEL_STEM}.csv')."
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises zipfile, KeyError and its own errors for broken files
        raise DatasetError(f"{path} is not a readable .xlsx workbook ({type(err).__name__}: {err}).") from None
    try:
        sheet = book.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        header = [_text(v) for v in next(cells, ())]
        rows = []
        for number, values in enumerate(cells, start=2):
            if not any(_text(v) for v in values):
                continue
            rows.append((number, {h: _text(values[i]) if i < len(values) else "" for i, h in enumerate(header)}))
    finally:
        book.close()
    if not any(header):
        raise DatasetError(f"{path}: the first sheet is empty; expected a header row with 'Image name' and 'MOS'.")
    return header, rows


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


READER = Reader(name="spaq", title="SPAQ", aliases=("spaq",), layout=LAYOUT, locate=locate, read=read)
