"""KonIQ-10k (Hosu, Lin, Sziranyi, Saupe, IEEE TIP 2020): 10,073 in-the-wild photos, crowd MOS.

Labels: ``koniq10k_scores_and_distributions.csv`` with columns ``image_name, c1..c5, c_total,
MOS, SD, MOS_zscore``: ``c1..c5`` count the 1..5 ratings, ``MOS`` is their mean on 1..5,
``MOS_zscore`` the mean of per-rater z-scored ratings rescaled to 0..100. The literature (and
pyiqa) report on the 0..100 scale, so ``MOS_zscore`` is the MOS here; higher = better.

Official split: the authors' ``koniq10k_distributions_sets.csv`` (in their GitHub repository's
``metadata/`` folder, not in the download archive) has ``image_name, c1..c5, c_total, MOS, SD,
set`` with ``set`` = training (7,058) / validation (1,000) / test (2,015). Its ``MOS`` column is on
the same 0..100 scale. When it lies anywhere in the data folder its split is used; it can also
stand in for the scores file.

Images: ``1024x768/`` (the original resolution, preferred) or ``512x384/``.
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, column, find, read_csv
from .reader import Reader
from .table import Dataset, DatasetError, split_name

SCORES = "koniq10k_scores_and_distributions.csv"
SETS = "koniq10k_distributions_sets.csv"
IMAGE_FOLDERS = ("1024x768", "512x384")

LAYOUT = f"""\
KonIQ-10k: {SCORES} (from koniq10k_scores_and_distributions.zip) and the images folder
1024x768/ (koniq10k_1024x768.zip) or 512x384/, anywhere up to two folders below --data.
Optional official split: {SETS} (the authors' GitHub repository, metadata/)."""


def locate(root: Path) -> Path | None:
    return find(root, [SCORES, SETS])


def read(label_file: Path, root: Path) -> Dataset:
    images = next((p for p in (find(root, f) for f in IMAGE_FOLDERS) if p is not None and p.is_dir()), None)
    if images is None:
        raise DatasetError(f"{root}: found {label_file.name} but no image folder {' or '.join(IMAGE_FOLDERS)}/ "
                           "up to two folders below it; unpack koniq10k_1024x768.zip there.")
    header, lines = read_csv(label_file)
    name_col = column(header, label_file, "image_name")
    if label_file.name == SETS:
        mos_col = column(header, label_file, "MOS")
    else:
        mos_col = column(header, label_file, "MOS_zscore")

    notes = []
    sets_file = label_file if label_file.name == SETS else find(root, SETS)
    table = Table()
    official: dict[str, str] = {}
    if sets_file is not None:
        official = _official_split(sets_file, table)
    else:
        notes.append(f"no {SETS} found, so no official split: a split is drawn by content with a seed.")

    for line, entry in lines:
        name = entry[name_col]
        table.add(f"{label_file.name} line {line}", name, entry[mos_col], images / name, split=official.get(name))
    if official:
        unsplit = sum(1 for r in table.rows if r.split is None)
        if unsplit:
            notes.append(f"{unsplit} images are not in {SETS} and belong to no split.")
    notes.append(f"images from {images.name}/.")
    return table.dataset(name="koniq10k", title="KonIQ-10k", root=label_file.parent,
                         mos_column=f"{mos_col} ({label_file.name})", mos_range=(0.0, 100.0),
                         official_split=bool(official), notes=notes)


def _official_split(sets_file: Path, table: Table) -> dict[str, str]:
    """image_name -> split name from the ``set`` column; unknown values become bad rows."""
    header, lines = read_csv(sets_file)
    name_col = column(header, sets_file, "image_name")
    set_col = column(header, sets_file, "set")
    split: dict[str, str] = {}
    for line, entry in lines:
        try:
            split[entry[name_col]] = split_name(entry[set_col], allow_all=False)
        except DatasetError:
            table.bad(f"{sets_file.name} line {line}", f"{entry[name_col]}: unknown set {entry[set_col]!r} "
                      "(expected training, validation or test); the image belongs to no split")
    return split


READER = Reader(name="koniq10k", title="KonIQ-10k", aliases=("koniq", "koniq-10k", "koniq10k"),
                layout=LAYOUT, locate=locate, read=read)
