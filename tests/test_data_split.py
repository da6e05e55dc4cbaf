"""Splits: official where a data set has one, else seeded by content (never straddling)."""

from pathlib import Path

import pytest

from genziqa.core.data import Dataset, DatasetError, Row, content_split, split


def table(rows, official=False) -> Dataset:
    return Dataset(name="t", title="T", root=Path("/t"), rows=tuple(rows), bad_rows=(), mos_column="mos",
                   mos_range=(1.0, 5.0), official_split=official)


def kadid_like(references=20, versions=6) -> Dataset:
    return table(Row(path=f"/t/I{r:02d}_{v:02d}.png", mos=1.0 + v / 2, split=None, content=f"I{r:02d}")
                 for r in range(references) for v in range(versions))


def test_content_split_never_straddles_and_covers_every_row():
    ds = kadid_like()
    parts = {name: split(ds, name, seed=3) for name in ("train", "validation", "test")}
    assert sum(len(p) for p in parts.values()) == len(ds.rows)
    contents = {name: {r.content for r in rows} for name, rows in parts.items()}
    assert not contents["train"] & contents["test"]
    assert not contents["train"] & contents["validation"]
    assert not contents["validation"] & contents["test"]
    # 20 references at 0.8 / 0.1 / 0.1: 16 / 2 / 2 whole references.
    assert [len(contents[n]) for n in ("train", "validation", "test")] == [16, 2, 2]
    assert all(len([r for r in parts["test"] if r.content == c]) == 6 for c in contents["test"])


def test_seeded_split_is_reproducible_independent_of_row_order_and_changes_with_the_seed():
    ds = kadid_like()
    shuffled = table(reversed(ds.rows))
    assert content_split(ds.rows, seed=7) == content_split(shuffled.rows, seed=7)
    assert content_split(ds.rows, seed=7) != content_split(ds.rows, seed=8)
    assert split(ds, "test", seed=7) == split(ds, "test", seed=7)


def test_fractions():
    ds = kadid_like(references=10)
    assert len({r.content for r in split(ds, "train", fractions=(0.5, 0.0, 0.5))}) == 5
    assert split(ds, "validation", fractions=(0.5, 0.0, 0.5)) == []
    with pytest.raises(DatasetError, match="add up to 1"):
        split(ds, "train", fractions=(0.8, 0.3, 0.1))
    with pytest.raises(DatasetError, match="three non-negative"):
        split(ds, "train", fractions=(1.0, 0.0))


def test_official_split_is_used_and_an_empty_official_split_is_an_error():
    rows = [Row("/a", 1.0, "train", "a"), Row("/b", 2.0, "test", "b"), Row("/c", 3.0, None, "c")]
    ds = table(rows, official=True)
    assert split(ds, "train", seed=99) == [rows[0]]
    assert split(ds, "TEST") == [rows[1]]
    assert split(ds, "all") == rows
    with pytest.raises(DatasetError, match="no 'validation' images in its official split; it has train \\(1\\), test \\(1\\)"):
        split(ds, "val")


def test_unknown_split_name():
    with pytest.raises(DatasetError, match="unknown split 'tset'.*Did you mean 'test'"):
        split(kadid_like(), "tset")
