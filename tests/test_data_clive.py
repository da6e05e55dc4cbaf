"""CLIVE reader on .mat files written in the release's structure (cell array of names, 1 x N MOS)."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, detect, open_dataset

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

import numpy as np
from scipy.io import loadmat, savemat

TRAINING = [f"t{i}.bmp" for i in range(1, 8)]
TEST = ["3.bmp", "10.bmp", "100.bmp", "1001.bmp", "1002.bmp"]


def write_release(root: Path, names, mos, *, images=None) -> Path:
    """ChallengeDB_release/ as the archive unpacks: Data/*.mat, Images/ and Images/trainingImages/."""
    base = root / "ChallengeDB_release"
    (base / "Data").mkdir(parents=True)
    cells = np.empty((len(names), 1), dtype=object)  # a MATLAB cell array, N x 1, as in the release
    for i, name in enumerate(names):
        cells[i, 0] = np.array([name])
    savemat(base / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    savemat(base / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.asarray(mos, dtype=np.float64).reshape(1, -1)})
    savemat(base / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": np.full((1, len(names)), 10.0)})
    fixtures.images(base / "Images" / "trainingImages", TRAINING)
    fixtures.images(base / "Images", TEST if images is None else images, seed=1)
    return base


def test_the_mat_files_have_the_release_structure(tmp_path):
    base = write_release(tmp_path, TRAINING + TEST, np.arange(12.0))
    names = loadmat(base / "Data" / "AllImages_release.mat")["AllImages_release"]
    mos = loadmat(base / "Data" / "AllMOS_release.mat")["AllMOS_release"]
    # What loaders of the literature index: names[i][0][0], mos[0][i].
    assert names.shape == (12, 1) and names[7][0][0] == "3.bmp" and mos.shape == (1, 12) and mos[0][7] == 7.0


def test_the_seven_training_images_are_left_out(tmp_path):
    mos = [50.0] * 7 + [63.5, 20.25, 80.0, 45.0, float("nan")]
    base = write_release(tmp_path, TRAINING + TEST, mos, images=TEST[:3] + TEST[4:])
    ds = open_dataset(tmp_path)
    assert ds.name == "clive" and ds.root == base.resolve() and ds.mos_range == (0.0, 100.0)
    assert [Path(r.path).name for r in ds.rows] == ["3.bmp", "10.bmp", "100.bmp"]
    assert [r.mos for r in ds.rows] == [63.5, 20.25, 80.0]
    assert ds.rows[0].path == str(base.resolve() / "Images" / "3.bmp")
    assert not ds.official_split
    assert [str(b) for b in ds.bad_rows] == [
        f"AllImages_release.mat entry 11: 1001.bmp: no such file {base.resolve() / 'Images' / '1001.bmp'}",
        "AllImages_release.mat entry 12: 1002.bmp: MOS 'nan' is not a finite number",
    ]
    assert "t1.bmp" in ds.notes[0] and "1162" in ds.notes[0]
    assert detect(base) == "clive"


def test_mismatched_files_are_refused(tmp_path):
    write_release(tmp_path, TRAINING + TEST, [1.0] * 11)
    with pytest.raises(DatasetError, match="names 12 images but .* has 11 scores"):
        open_dataset(tmp_path, "livec")


def test_wrong_variable_is_named(tmp_path):
    base = write_release(tmp_path, TRAINING + TEST, [1.0] * 12)
    savemat(base / "Data" / "AllMOS_release.mat", {"scores": np.ones((1, 12))})
    with pytest.raises(DatasetError, match="no variable 'AllMOS_release'"):
        open_dataset(base)
