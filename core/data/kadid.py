"""KADID-10k (Lin, Hosu, Saupe, QoMEX 2019): 81 pristine references x 25 distortions x 5 levels.

Labels: ``dmos.csv`` with columns ``dist_img, ref_img, dmos, var``; images (distorted
``I01_01_01.png`` and references ``I01.png``) in ``images/``. Despite its name, ``dmos`` is a
mean of degradation-category ratings on 1..5 where 5 = imperceptible: *higher = better*, so it is
used as the MOS unchanged (pyiqa treats it the same way; distance metrics such as DSSIM correlate
negatively with it). The 81 references themselves carry no score and are not rows.

No official split. ``content`` is ``ref_img``, so a split by content keeps all 125 distorted
versions of a reference on one side.
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, column, find, header_has, read_csv
from .reader import Reader
from .table import Dataset, DatasetError

LABELS = "dmos.csv"

LAYOUT = """\
KADID-10k: dmos.csv and images/ next to it (the kadid10k folder of kadid10k.zip, or a folder above it)."""


def locate(root: Path) -> Path | None:
    path = find(root, LABELS)
    return path if path is not None and _is_kadid(path) else None


def _is_kadid(path: Path) -> bool:
    # Other data sets name their labels dmos.csv too; KADID's header names distorted and reference images.
    return header_has(path, "dist_img", "ref_img")


def read(label_file: Path, root: Path) -> Dataset:
    images = label_file.parent / "images"
    if not images.is_dir():
        raise DatasetError(f"{label_file.parent}: found dmos.csv but no images/ folder next to it.")
    header, lines = read_csv(label_file)
    dist_col = column(header, label_file, "dist_img")
    ref_col = column(header, label_file, "ref_img")
    mos_col = column(header, label_file, "dmos")
    table = Table()
    for line, entry in lines:
        # The reference's stem (I01), also when ref_img is blank: I01_01_01.png names it first.
        ref = Path(entry[ref_col]).stem if entry[ref_col] else entry[dist_col].split("_")[0]
        table.add(f"{LABELS} line {line}", entry[dist_col], entry[mos_col], images / entry[dist_col], content=ref)
    return table.dataset(name="kadid10k", title="KADID-10k", root=label_file.parent,
                         mos_column=f"{mos_col} ({LABELS}; 1..5, higher = better despite the name)",
                         mos_range=(1.0, 5.0))


READER = Reader(name="kadid10k", title="KADID-10k", aliases=("kadid", "kadid-10k", "kadid10k"),
                layout=LAYOUT, locate=locate, read=read)
