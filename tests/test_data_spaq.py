"""SPAQ reader: the annotation workbook (or its CSV export) and TestImage/."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, detect, open_dataset

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


PHOTOS = ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg", "00006.jpg", "00007.jpg"]  # 00005.jpg missing


@pytest.fixture
def spaq(tmp_path):
    root = fixtures.copy("spaq", tmp_path)
    fixtures.images(root / "TestImage", PHOTOS)
    return root


def check(ds, where):
    assert ds.name == "spaq" and ds.mos_range == (0.0, 100.0) and not ds.official_split
    assert [Path(r.path).name for r in ds.rows] == ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg", "00007.jpg"]
    assert ds.rows[0].mos == pytest.approx(48.86)
    reasons = [str(b) for b in ds.bad_rows]
    assert any("00005.jpg: no such file" in r for r in reasons)
    assert any(f"{where} 7" in r and "00006.jpg: no MOS" in r for r in reasons)


def test_csv_export(spaq):
    check(open_dataset(spaq), "line")


def test_xlsx_workbook(spaq):
    openpyxl = pytest.importorskip("openpyxl", reason="reading SPAQ's .xlsx needs openpyxl (pip install openpyxl)")
    csv_file = spaq / "Annotations" / "MOS and Image attribute scores.csv"
    book = openpyxl.Workbook()
    sheet = book.active
    for i, line in enumerate(csv_file.read_text().splitlines()):
        cells = line.split(",")
        sheet.append(cells if i == 0 else [cells[0]] + [float(c) if c else None for c in cells[1:]])
    book.save(spaq / "Annotations" / "MOS and Image attribute scores.xlsx")
    csv_file.unlink()
    check(open_dataset(spaq), "row")
    assert detect(spaq) == "spaq"


def test_xlsx_without_openpyxl_says_what_to_do(spaq, monkeypatch):
    import builtins

    csv_file = spaq / "Annotations" / "MOS and Image attribute scores.csv"
    csv_file.rename(csv_file.with_suffix(".xlsx"))
    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError("No module named 'openpyxl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    with pytest.raises(DatasetError, match="pip install openpyxl"):
        open_dataset(spaq)


def test_underscored_copy_of_the_annotations(tmp_path):
    # A common re-packing: SPAQ/SPAQ_dataset/Annotations/MOS_and_Image_attribute_scores.csv + SPAQ/TestImage/.
    source = fixtures.HERE / "spaq" / "Annotations" / "MOS and Image attribute scores.csv"
    target = tmp_path / "SPAQ" / "SPAQ_dataset" / "Annotations" / "MOS_and_Image_attribute_scores.csv"
    target.parent.mkdir(parents=True)
    target.write_text(source.read_text())
    fixtures.images(tmp_path / "SPAQ" / "TestImage", PHOTOS)
    assert len(open_dataset(tmp_path / "SPAQ").rows) == 5
