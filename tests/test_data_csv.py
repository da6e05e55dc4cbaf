"""The generic path,mos[,split][,content] CSV reader."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, detect, open_dataset

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)



@pytest.fixture
def table(tmp_path):
    root = fixtures.copy("csv", tmp_path)
    fixtures.images(root / "images", ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png"])
    return root / "table.csv"


def test_paths_relative_to_the_csv_with_split_aliases_and_bad_rows(table):
    ds = open_dataset(table)
    assert ds.name == "csv" and ds.official_split
    assert [(Path(r.path).name, r.mos, r.split) for r in ds.rows] == [
        ("a.png", 1.0, "train"), ("b.png", 2.0, "train"), ("c.png", 3.0, "validation"), ("d.png", 4.0, "test")]
    assert ds.rows[0].path == str(table.parent / "images" / "a.png")
    assert ds.rows[0].content == "images/a.png"
    reasons = [str(b) for b in ds.bad_rows]
    assert len(reasons) == 3
    assert "line 6" in reasons[0] and "unknown split 'holdout'" in reasons[0]
    assert "missing.png: no such file" in reasons[1]
    assert "'seven' is not a number" in reasons[2]
    assert ds.mos_range == (1.0, 4.0)


def test_a_folder_with_one_such_csv_is_recognised(table):
    assert detect(table.parent) == "csv"
    assert detect(table) == "csv"


def test_content_column_groups_rows(tmp_path):
    fixtures.images(tmp_path / "img", ["r1a.png", "r1b.png", "r2a.png"])
    (tmp_path / "t.csv").write_text("path,mos,content\nimg/r1a.png,1,r1\nimg/r1b.png,2,r1\nimg/r2a.png,3,\n")
    ds = open_dataset(tmp_path / "t.csv")
    assert [r.content for r in ds.rows] == ["r1", "r1", "img/r2a.png"]
    assert not ds.official_split


def test_missing_columns_are_named(tmp_path):
    (tmp_path / "t.csv").write_text("file,score\na.png,1\n")
    with pytest.raises(DatasetError, match="no column 'path'.*'file', 'score'"):
        open_dataset(tmp_path / "t.csv", "csv")
