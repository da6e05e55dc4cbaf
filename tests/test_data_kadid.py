"""KADID-10k reader: dmos.csv (dist_img, ref_img, dmos, var) with images/ beside it."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, detect, open_dataset

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)



@pytest.fixture
def kadid(tmp_path):
    root = fixtures.copy("kadid10k", tmp_path)
    names = [line.split(",")[0] for line in (root / "dmos.csv").read_text().splitlines()[1:]]
    fixtures.images(root / "images", [n for n in names if not n.startswith("I05")] + ["I01.png", "I02.png"])
    return root


def test_dmos_is_used_as_higher_is_better_mos_with_the_reference_as_content(kadid):
    ds = open_dataset(kadid)
    assert ds.name == "kadid10k" and ds.mos_range == (1.0, 5.0) and ds.higher_is_better
    assert len(ds.rows) == 12 and not ds.official_split
    first = ds.rows[0]
    assert Path(first.path).name == "I01_01_01.png" and first.mos == pytest.approx(4.2) and first.content == "I01"
    assert {r.content for r in ds.rows} == {"I01", "I02", "I03"}
    # Levels of one distortion: higher level = stronger distortion = lower dmos in the fixture, as in KADID.
    assert [r.mos for r in ds.rows[:2]] == sorted([r.mos for r in ds.rows[:2]], reverse=True)
    reasons = [str(b) for b in ds.bad_rows]
    assert any("line 14" in r and "no MOS" in r for r in reasons)
    assert any("line 15" in r and "'abc' is not a number" in r for r in reasons)
    assert any("I05_01_01.png: no such file" in r for r in reasons)


def test_a_dmos_csv_of_another_layout_is_not_taken_for_kadid(tmp_path):
    (tmp_path / "dmos.csv").write_text("name,dmos\na.bmp,30\n")
    with pytest.raises(DatasetError, match="no known data set"):
        detect(tmp_path)


def test_no_images_folder(tmp_path):
    root = fixtures.copy("kadid10k", tmp_path)
    with pytest.raises(DatasetError, match="no images/ folder"):
        open_dataset(root)
