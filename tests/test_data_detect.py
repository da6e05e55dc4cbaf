"""Recognising a data set from its folder, and naming readers."""

import importlib.util
from pathlib import Path

import pytest

from genziqa.core.data import NAMES, DatasetError, detect, open_dataset, reader

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


@pytest.mark.parametrize("name, expected", [("koniq10k", "koniq10k"), ("flive", "flive"), ("kadid10k", "kadid10k"),
                                            ("agiqa3k", "agiqa3k"), ("spaq", "spaq"), ("csv", "csv")])
def test_each_fixture_is_recognised_from_its_files(tmp_path, name, expected):
    root = fixtures.copy(name, tmp_path)
    assert detect(root) == expected
    if name != "csv":  # a plain CSV is named directly, not searched for
        assert detect(tmp_path) == expected  # one folder above, as when an archive unpacks into its own folder


def test_nothing_known_lists_what_each_data_set_expects(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError) as err:
        detect(tmp_path)
    message = str(err.value)
    for expected in ("koniq10k_scores_and_distributions.csv", "labels_image.csv", "Data/AllMOS_release.mat",
                     "MOS and Image attribute scores.xlsx", "dmos.csv", "data.csv", "path,mos", "--dataset"):
        assert expected in message


def test_two_data_sets_in_one_folder_are_named(tmp_path):
    fixtures.copy("kadid10k", tmp_path)
    fixtures.copy("agiqa3k", tmp_path)
    with pytest.raises(DatasetError, match="several data sets: kadid10k .*agiqa3k"):
        detect(tmp_path)


def test_named_reader_that_does_not_match_shows_its_layout(tmp_path):
    fixtures.copy("kadid10k", tmp_path)
    with pytest.raises(DatasetError, match="does not look like KonIQ-10k. Expected:\nKonIQ-10k: koniq10k_scores"):
        open_dataset(tmp_path, "koniq")


def test_names_aliases_and_did_you_mean():
    assert NAMES == ("koniq10k", "flive", "clive", "spaq", "kadid10k", "agiqa3k", "csv")
    assert reader("LIVE-FB").name == "flive" and reader("livec").name == "clive" and reader("KADID").name == "kadid10k"
    with pytest.raises(DatasetError, match="unknown data set 'kadid10'.*Did you mean 'kadid10k'"):
        reader("kadid10")


def test_a_label_file_can_be_named_directly(tmp_path):
    root = fixtures.copy("kadid10k", tmp_path)
    fixtures.images(root / "images", ["I01_01_01.png"])
    assert detect(root / "dmos.csv") == "kadid10k"
    assert open_dataset(root / "dmos.csv", "kadid").name == "kadid10k"
    assert open_dataset(root / "dmos.csv").name == "kadid10k"
    with pytest.raises(DatasetError, match="does not look like AGIQA-3K"):
        open_dataset(root / "dmos.csv", "agiqa3k")


def test_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")
