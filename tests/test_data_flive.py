"""FLIVE (PaQ-2-PiQ) reader: labels_image.csv (name, mos) and the official split files."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import detect, open_dataset, split

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


LISTED = ["blur_dataset/motion0044.jpg", "blur_dataset/out_of_focus0059.jpg", "voc_emotic_ava/AVA__129332.jpg",
          "voc_emotic_ava/AVA__12958.jpg", "voc_emotic_ava/EMOTIC__cwpvmtkuw83q2or3za.jpg",
          "voc_emotic_ava/JPEGImages__2008_000123.jpg", "voc_emotic_ava/VOC2012__2008_000123.jpg",
          "EE371R/rq59.jpg", "EE371R/rq73.jpg", "voc_emotic_ava/AVA__999999.jpg"]  # AVA__555555.jpg is missing


@pytest.fixture
def flive(tmp_path):
    root = fixtures.copy("flive", tmp_path)
    fixtures.images(root / "database", LISTED)
    return root


def test_official_split_as_the_authors_read_it(flive):
    ds = open_dataset(flive)
    assert ds.name == "flive" and ds.official_split and ds.mos_range == (0.0, 100.0)
    splits = {r.path.split("database/")[1]: r.split for r in ds.rows}
    assert splits == {
        "blur_dataset/motion0044.jpg": "train", "blur_dataset/out_of_focus0059.jpg": "train",
        "voc_emotic_ava/AVA__129332.jpg": "validation", "voc_emotic_ava/AVA__12958.jpg": "train",
        # Not in labels=640_padded.csv: test (it is the one picture of labels640.csv).
        "voc_emotic_ava/EMOTIC__cwpvmtkuw83q2or3za.jpg": "test",
        # is_valid 'maybe': a bad row of the split file, and the picture belongs to no split.
        "voc_emotic_ava/JPEGImages__2008_000123.jpg": None,
        "voc_emotic_ava/VOC2012__2008_000123.jpg": "validation",
        "EE371R/rq59.jpg": "train", "EE371R/rq73.jpg": "train",
    }
    assert ds.split_counts() == {"train": 5, "validation": 2, "test": 1}
    reasons = " | ".join(str(b) for b in ds.bad_rows)
    assert "labels=640_padded.csv line 6" in reasons and "'maybe'" in reasons
    assert "labels_image.csv line 11" in reasons and "no MOS" in reasons
    assert "AVA__555555.jpg: no such file" in reasons
    assert not any("neither" in n for n in ds.notes)
    assert [Path(r.path).name for r in split(ds, "validation")] == ["AVA__129332.jpg", "VOC2012__2008_000123.jpg"]


def test_labels_at_the_top_with_the_pictures_in_database(flive):
    # The FLIVE_Database repository keeps a copy of labels_image.csv above database/.
    (flive / "database" / "labels_image.csv").rename(flive / "labels_image.csv")
    ds = open_dataset(flive)
    assert all("/database/" in r.path for r in ds.rows) and len(ds.rows) == 9


def test_test_pictures_outside_both_split_files_are_noted(flive):
    (flive / "database" / "labels640.csv").write_text((flive / "database" / "labels640.csv").read_text().splitlines()[0] + "\n")
    ds = open_dataset(flive)
    assert any("1 test pictures are in neither" in n for n in ds.notes)


def test_without_the_split_file_there_is_no_official_split(flive):
    (flive / "database" / "labels=640_padded.csv").unlink()
    ds = open_dataset(flive)
    assert not ds.official_split and all(r.split is None for r in ds.rows)
    assert any("not comparable with published FLIVE results" in n for n in ds.notes)
    assert detect(flive) == "flive"
