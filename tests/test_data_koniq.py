"""KonIQ-10k reader on label files in the real format (tests/fixtures/datasets/koniq10k)."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, detect, open_dataset, split

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


PRESENT = ["10004473376.jpg", "10007357496.jpg", "10028673056.jpg", "10046213125.jpg", "10098000105.jpg",
           "10103343505.jpg", "10113512254.jpg"]  # 10123455666.jpg stays missing


@pytest.fixture
def koniq(tmp_path):
    root = fixtures.copy("koniq10k", tmp_path)
    fixtures.images(root / "1024x768", PRESENT)
    return root


def test_reads_mos_zscore_with_the_official_split_and_reports_bad_rows(koniq):
    ds = open_dataset(koniq)
    assert ds.name == "koniq10k" and ds.mos_range == (0.0, 100.0) and ds.higher_is_better
    assert "MOS_zscore" in ds.mos_column
    by_name = {Path(r.path).name: r for r in ds.rows}
    # 9 entries: one MOS that is no number, one image that is not there, one repeat.
    assert sorted(by_name) == sorted(set(PRESENT) - {"10113512254.jpg"})
    assert by_name["10004473376.jpg"].mos == pytest.approx(77.38362069)
    assert by_name["10004473376.jpg"].path == str(koniq / "1024x768" / "10004473376.jpg")
    reasons = " | ".join(str(b) for b in ds.bad_rows)
    assert "line 8" in reasons and "not-a-number" in reasons
    assert "10123455666.jpg: no such file" in reasons
    assert "listed again" in reasons
    # The split comes from koniq10k_distributions_sets.csv; its unknown set value is a bad row too.
    assert ds.official_split
    assert {n: r.split for n, r in by_name.items()} == {
        "10004473376.jpg": "train", "10007357496.jpg": "test", "10028673056.jpg": "train",
        "10046213125.jpg": "validation", "10098000105.jpg": "train", "10103343505.jpg": "test"}
    assert "holdout" in reasons
    assert [Path(r.path).name for r in split(ds, "test")] == ["10007357496.jpg", "10103343505.jpg"]


def test_without_the_sets_file_there_is_no_official_split(koniq):
    (koniq / "metadata" / "koniq10k_distributions_sets.csv").unlink()
    ds = open_dataset(koniq)
    assert not ds.official_split and all(r.split is None for r in ds.rows)
    assert any("no koniq10k_distributions_sets.csv" in n for n in ds.notes)


def test_found_one_level_down_and_prefers_1024x768(koniq, tmp_path):
    fixtures.images(koniq / "512x384", PRESENT)
    ds = open_dataset(tmp_path)  # the folder above the data set
    assert all("/1024x768/" in r.path for r in ds.rows)
    assert detect(tmp_path) == "koniq10k"


def test_no_image_folder_is_a_clear_error(tmp_path):
    root = fixtures.copy("koniq10k", tmp_path)
    with pytest.raises(DatasetError, match="no image folder 1024x768 or 512x384"):
        open_dataset(root)
