"""CLIVE, the LIVE In the Wild Image Quality Challenge Database (Ghadiyaram & Bovik, IEEE TIP 2016).

Release layout (``ChallengeDB_release/``): ``Data/AllImages_release.mat`` (variable
``AllImages_release``, a 1169 x 1 cell array of file names), ``Data/AllMOS_release.mat``
(``AllMOS_release``, 1 x 1169 MOS on 0..100, higher = better), ``Data/AllStdDev_release.mat``,
``Images/`` with the 1,162 test images and ``Images/trainingImages/`` with 7 more. The release's
readme says the 1169 entries are 1162 test images + 7 training images; the 7 training images come
first, were only shown to subjects to teach them the task, and every loader of the literature
drops them (``[7:1169]``). "All 1162 CLIVE images" - the set the GenzIQA paper tests on - is the
other 1162, and so is this table.

No official train/test split: papers use random 80/20 splits, or the whole set for cross-data-set
tests.
"""

from __future__ import annotations

from pathlib import Path

from .files import Table, find
from .reader import Reader
from .table import Dataset, DatasetError

IMAGES_MAT = "Data/AllImages_release.mat"
MOS_MAT = "Data/AllMOS_release.mat"
TRAINING_IMAGES = 7

LAYOUT = """\
CLIVE (LIVE In the Wild Challenge): Data/AllImages_release.mat, Data/AllMOS_release.mat and Images/
(the ChallengeDB_release folder, or a folder up to two levels above it)."""


def locate(root: Path) -> Path | None:
    return find(root, MOS_MAT)


def read(label_file: Path, root: Path) -> Dataset:
    base = label_file.parent.parent
    names = _mat_names(base / IMAGES_MAT)
    mos = _mat_vector(base / MOS_MAT, "AllMOS_release")
    if len(names) != len(mos):
        raise DatasetError(f"{base / IMAGES_MAT} names {len(names)} images but {base / MOS_MAT} has {len(mos)} scores; "
                           "the two files must come from the same release.")
    images = base / "Images"
    table = Table()
    for index, (name, value) in enumerate(zip(names, mos)):
        if index < TRAINING_IMAGES:
            continue
        table.add(f"AllImages_release.mat entry {index + 1}", name, value, images / name)
    left_out = ", ".join(names[:TRAINING_IMAGES])
    notes = [f"the first {TRAINING_IMAGES} entries ({left_out}) are the training images of the subjective study "
             "(Images/trainingImages/) and are left out, as in the literature's 1162-image CLIVE set."]
    return table.dataset(name="clive", title="CLIVE (LIVE In the Wild Challenge)", root=base,
                         mos_column="AllMOS_release (Data/AllMOS_release.mat)", mos_range=(0.0, 100.0), notes=notes)


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    if not path.is_file():
        raise DatasetError(f"{path} is missing; CLIVE needs both Data/AllImages_release.mat and Data/AllMOS_release.mat.")
    try:
        return loadmat(path)
    except NotImplementedError:  # scipy's answer for MATLAB v7.3 (HDF5) files
        raise DatasetError(f"{path} is a MATLAB v7.3 file; use the release's original .mat files.") from None
    except (ValueError, TypeError, OSError) as err:
        raise DatasetError(f"{path} is not a readable MATLAB file ({err}).") from None


def _variable(path: Path, key: str):
    content = _loadmat(path)
    if key not in content:
        found = [k for k in content if not k.startswith("__")]
        raise DatasetError(f"{path} has no variable {key!r} (it has {found}); is it the release's file?")
    return content[key]


def _mat_names(path: Path) -> list[str]:
    import numpy as np

    cells = _variable(path, "AllImages_release")
    # A MATLAB cell array of strings loads as an object array (N, 1); each cell is a 1-element
    # array holding the string.
    names = []
    for cell in np.asarray(cells, dtype=object).ravel():
        values = np.asarray(cell).ravel()
        names.append(str(values[0]).strip() if values.size else "")
    return names


def _mat_vector(path: Path, key: str) -> list[float]:
    import numpy as np

    values = np.asarray(_variable(path, key))
    if values.dtype == object or values.dtype.kind not in "fiu":
        raise DatasetError(f"{path}: {key} holds {values.dtype} values, expected numbers.")
    return [float(v) for v in values.ravel()]


READER = Reader(name="clive", title="CLIVE (LIVE In the Wild Challenge)",
                aliases=("livec", "live-c", "live-challenge", "livechallenge", "live-itw", "challengedb"),
                layout=LAYOUT, locate=locate, read=read)
