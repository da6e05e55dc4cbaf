"""FLIVE / LIVE-FB, the PaQ-2-PiQ picture database (Ying et al., CVPR 2020): 39,810 pictures.

Labels: ``labels_image.csv`` with columns ``name, mos``; ``name`` is relative to the ``database/``
folder (``voc_emotic_ava/AVA__12958.jpg``, ``voc_emotic_ava/EMOTIC__...``,
``voc_emotic_ava/JPEGImages__...``, ``voc_emotic_ava/VOC2012__...``, ``blur_dataset/...``,
``EE371R/rq59.jpg``); MOS on 0..100, higher = better. The release ships labels only: the
pictures come from AVA, VOC2012, EMOTIC and the CUHK blur data set, gathered and renamed by the
release's ``database_prep.ipynb``.

Official split (PaQ-2-PiQ repository, ``database/``): ``labels=640_padded.csv`` lists the
pictures of at most 640x640 pixels with an ``is_valid`` column: False = train, True = validation.
Every other picture is test; those are the 1,827 larger pictures that ``labels640.csv`` lists.
This is how the GenzIQA authors' loader reads it (pyiqa builds the same split from the same files).
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, column, find, read_csv
from .reader import Reader
from .table import Dataset

LABELS = "labels_image.csv"
TRAIN_VALIDATION = "labels=640_padded.csv"
TEST = "labels640.csv"
SOURCE_FOLDERS = ("voc_emotic_ava", "blur_dataset", "EE371R")

LAYOUT = f"""\
FLIVE (PaQ-2-PiQ): {LABELS} and the picture folders {', '.join(f + '/' for f in SOURCE_FOLDERS)} it names,
either side by side or with the folders inside database/ next to it (the FLIVE_Database layout).
Optional official split: {TRAIN_VALIDATION} (PaQ-2-PiQ repository, database/) next to {LABELS}."""

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def locate(root: Path) -> Path | None:
    return find(root, LABELS)


def read(label_file: Path, root: Path) -> Dataset:
    base = _picture_base(label_file.parent)
    header, lines = read_csv(label_file)
    name_col = column(header, label_file, "name")
    mos_col = column(header, label_file, "mos")

    table = Table()
    notes = []
    split_file = _beside(label_file.parent, base, TRAIN_VALIDATION)
    flags = _train_validation(split_file, table) if split_file else {}
    if not split_file:
        notes.append(f"no {TRAIN_VALIDATION} found next to {LABELS}, so no official split: a split is drawn "
                     "by content with a seed, and numbers are not comparable with published FLIVE results.")

    for line, entry in lines:
        name = entry[name_col]
        table.add(f"{LABELS} line {line}", name, entry[mos_col], base / name, split=_split(name, flags))

    test_file = _beside(label_file.parent, base, TEST)
    if flags and test_file is not None:
        listed = {entry.get("name_image", "") for _, entry in read_csv(test_file)[1]}
        outside = sum(1 for r in table.rows if r.split == "test" and _relative(r.path, base) not in listed)
        if outside:
            notes.append(f"{outside} test pictures are in neither {TRAIN_VALIDATION} nor {TEST}; "
                         "they count as test, as in the GenzIQA authors' loader.")
    return table.dataset(name="flive", title="FLIVE (PaQ-2-PiQ)", root=label_file.parent,
                         mos_column=f"{mos_col} ({LABELS})", mos_range=(0.0, 100.0),
                         official_split=bool(flags), notes=notes)


def _picture_base(folder: Path) -> Path:
    """The folder the ``name`` paths are relative to: ``folder`` itself, or ``folder/database``
    when the source folders sit there (labels_image.csv is at the top of the FLIVE_Database
    repository and again inside its database/ folder)."""
    inner = folder / "database"
    if any((inner / f).is_dir() for f in SOURCE_FOLDERS) and not any((folder / f).is_dir() for f in SOURCE_FOLDERS):
        return inner
    return folder


def _beside(labels_folder: Path, base: Path, name: str) -> Path | None:
    """``name`` next to labels_image.csv, else in the picture folder."""
    for place in (labels_folder, base):
        if (place / name).is_file():
            return place / name
    return None


def _train_validation(split_file: Path, table: Table) -> dict[str, bool | None]:
    """name_image -> is_valid (None when the flag is unreadable, which is also a bad row)."""
    header, lines = read_csv(split_file)
    name_col = column(header, split_file, "name_image")
    flag_col = column(header, split_file, "is_valid")
    flags: dict[str, bool | None] = {}
    for line, entry in lines:
        flag = entry[flag_col].lower()
        if flag in _TRUE or flag in _FALSE:
            flags[entry[name_col]] = flag in _TRUE
        else:
            flags[entry[name_col]] = None
            table.bad(f"{split_file.name} line {line}", f"{entry[name_col]}: is_valid {entry[flag_col]!r} is neither "
                      "True nor False; the picture belongs to no split")
    return flags


def _split(name: str, flags: dict[str, bool | None]) -> str | None:
    if not flags:
        return None
    if name not in flags:
        return "test"
    if flags[name] is None:
        return None
    return "validation" if flags[name] else "train"


def _relative(path: str, base: Path) -> str:
    return Path(path).relative_to(base).as_posix()


READER = Reader(name="flive", title="FLIVE (PaQ-2-PiQ)", aliases=("livefb", "live-fb", "paq2piq", "paq-2-piq", "flive"),
                layout=LAYOUT, locate=locate, read=read)
