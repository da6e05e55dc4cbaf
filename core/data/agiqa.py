"""AGIQA-3K (Li et al., IEEE TCSVT 2023): 2,982 images from 6 text-to-image models on 300 prompts.

Labels: ``data.csv`` with columns ``name, prompt, adj1, adj2, style, mos_quality, std_quality,
mos_align, std_align``. ``mos_quality`` (perceptual quality, 0..5, higher = better) is the MOS
here; ``mos_align`` rates text-image alignment, which is not what GenzIQA predicts. Images
(``AttnGAN_normal_000.jpg``, ``sd1.5_...``, ``midjourney_...``) sit next to ``data.csv`` or in
one folder beside it, depending on how the archive was unpacked.

No official split. ``content`` is the prompt, so a split by content keeps every generator's
image of one prompt on the same side.
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, column, folders, header_has, read_csv
from .reader import Reader
from .table import Dataset, DatasetError

LABELS = "data.csv"

LAYOUT = """\
AGIQA-3K: data.csv (columns name, prompt, mos_quality, ...) with the images next to it or in one folder beside it."""


def locate(root: Path) -> Path | None:
    for folder in folders(root):
        path = folder / LABELS
        if path.is_file() and _is_agiqa(path):
            return path
    return None


def _is_agiqa(path: Path) -> bool:
    return header_has(path, "mos_quality", "prompt")


def read(label_file: Path, root: Path) -> Dataset:
    header, lines = read_csv(label_file)
    name_col = column(header, label_file, "name")
    prompt_col = column(header, label_file, "prompt")
    mos_col = column(header, label_file, "mos_quality")
    images = _image_folder(label_file.parent, [entry[name_col] for _, entry in lines[:50]])
    table = Table()
    for line, entry in lines:
        name = entry[name_col]
        table.add(f"{LABELS} line {line}", name, entry[mos_col], images / name, content=entry[prompt_col] or name)
    return table.dataset(name="agiqa3k", title="AGIQA-3K", root=label_file.parent,
                         mos_column=f"{mos_col} ({LABELS})", mos_range=(0.0, 5.0))


def _image_folder(folder: Path, names: list[str]) -> Path:
    """``folder`` or the sub-folder of it that holds the most of the first listed images."""
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]
    best = max(candidates, key=lambda c: sum((c / n).is_file() for n in names if n))
    if not any((best / n).is_file() for n in names if n):
        raise DatasetError(f"{folder}: found {LABELS} but none of the images it lists ({names[0] if names else '-'}, ...) "
                           "next to it or in a folder beside it.")
    return best


READER = Reader(name="agiqa3k", title="AGIQA-3K", aliases=("agiqa", "agiqa-3k", "agiqa3k"),
                layout=LAYOUT, locate=locate, read=read)
