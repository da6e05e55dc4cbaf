"""AGIQA-3K reader: data.csv (name, prompt, ..., mos_quality, ...) with the images beside it."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import DatasetError, open_dataset

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)



def names(root):
    return [line.split(",")[0] for line in (root / "data.csv").read_text().splitlines()[1:]]


@pytest.mark.parametrize("layout", ["beside", "folder"])
def test_mos_quality_with_the_prompt_as_content(tmp_path, layout):
    root = fixtures.copy("agiqa3k", tmp_path)
    folder = root if layout == "beside" else root / "AGIQA-3K"
    fixtures.images(folder, names(root))
    ds = open_dataset(root)
    assert ds.name == "agiqa3k" and ds.mos_range == (0.0, 5.0) and "mos_quality" in ds.mos_column
    assert len(ds.rows) == 7
    assert ds.rows[3].content == "artwork with only triangles, anime style"  # quoted, with a comma
    assert ds.rows[3].mos == pytest.approx(0.919776796)
    assert Path(ds.rows[0].path).parent == folder
    assert [b.ref for b in ds.bad_rows] == ["data.csv line 9"] and "'n/a' is not a number" in ds.bad_rows[0].reason
    assert {r.content for r in ds.rows} == {"statue of a man", "artwork with only triangles, anime style",
                                            "die cut sticker of a pair of lips , warm color"}


def test_listed_images_nowhere(tmp_path):
    root = fixtures.copy("agiqa3k", tmp_path)
    with pytest.raises(DatasetError, match="none of the images it lists"):
        open_dataset(root)
