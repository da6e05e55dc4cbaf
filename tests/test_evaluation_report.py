"""evaluate(): scores a data set's rows with a scorer and writes report.json, predictions.csv, scatter.png."""

import csv
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from genziqa import __version__
from genziqa.core.data import DatasetError, open_dataset
from genziqa.core.evaluation import check_out_dir, compute, evaluate, select

_spec = importlib.util.spec_from_file_location("fixture_tools", Path(__file__).parent / "fixtures" / "datasets" / "fixture_tools.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


@dataclass(frozen=True)
class Result:  # what Scorer.score_each returns per image: source, score, error
    source: str
    score: float | None
    error: str | None = None


class FakeScorer:
    """Scores an image by a made-up rule of its name; fails on names containing 'broken'."""

    label = "zero-shot · fake backbone"
    zero_shot = True

    def __init__(self, scores):
        self.scores = scores
        self.calls = []

    def score_each(self, paths, *, progress=False):
        self.calls.append((list(paths), progress))
        return [Result(p, None, f"{p}: cannot identify image file") if "broken" in p else Result(p, self.scores[Path(p).name])
                for p in paths]


@pytest.fixture
def kadid(tmp_path):
    root = fixtures.copy("kadid10k", tmp_path)
    names = [line.split(",")[0] for line in (root / "dmos.csv").read_text().splitlines()[1:]]
    fixtures.images(root / "images", [n for n in names if not n.startswith("I05")])
    return open_dataset(root)


def scores_for(dataset):
    # An increasing function of the MOS with a little noise.
    return {Path(r.path).name: 0.5 * r.mos + (0.004 if i % 3 else -0.004) for i, r in enumerate(dataset.rows)}


def test_report_predictions_and_scatter(kadid, tmp_path):
    scorer = FakeScorer(scores_for(kadid))
    result = evaluate(scorer, kadid, out_dir=tmp_path / "out", progress=True, run_id="abc123")
    assert scorer.calls[0] == ([r.path for r in kadid.rows], True)
    assert result.ok and result.scored == 12 and result.failed == ()

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    expected = compute([scorer.scores[Path(r.path).name] for r in kadid.rows], [r.mos for r in kadid.rows])
    assert report["metrics"] == {"n": 12, **expected.values()}
    assert report["metrics"]["srcc"] > 0.9
    assert report["model"] == scorer.label and report["zero_shot"] is True and report["run_id"] == "abc123"
    assert report["genziqa_version"] == __version__
    assert report["dataset"]["name"] == "kadid10k" and report["dataset"]["mos"]["higher_is_better"] is True
    assert report["split"] == {"name": "all", "kind": "all", "seed": None, "fractions": None, "description": "all images"}
    assert report["images"] == {"in_table": 12, "selected": 12, "scored": 12, "failed": 0, "bad_rows": 3}
    assert [b["ref"] for b in report["bad_rows"]] == ["dmos.csv line 14", "dmos.csv line 15", "dmos.csv line 16"]
    assert report["fit"]["method"] in ("logistic", "linear")

    with open(tmp_path / "out" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == [r.path for r in kadid.rows]
    assert float(rows[0]["mos"]) == kadid.rows[0].mos
    assert float(rows[0]["prediction"]) == scorer.scores["I01_01_01.png"] and rows[0]["error"] == ""

    with Image.open(tmp_path / "out" / "scatter.png") as png:
        png.verify()
    with Image.open(tmp_path / "out" / "scatter.png") as png:
        assert png.format == "PNG" and png.size[0] > 300
    assert not list((tmp_path / "out").glob("*.partial"))


def test_failed_images_are_reported_not_fatal(tmp_path):
    fixtures.images(tmp_path / "img", ["a.png", "b.png", "c.png", "broken.png", "d.png"])
    (tmp_path / "t.csv").write_text("path,mos\nimg/a.png,1\nimg/b.png,2\nimg/broken.png,3\nimg/c.png,4\nimg/d.png,5\n")
    ds = open_dataset(tmp_path / "t.csv")
    result = evaluate(FakeScorer({"a.png": 0.1, "b.png": 0.3, "c.png": 0.2, "d.png": 0.9}), ds, out_dir=tmp_path / "out")
    assert not result.ok and result.scored == 4
    assert result.failed == ((str(tmp_path / "img" / "broken.png"), f"{tmp_path / 'img' / 'broken.png'}: cannot identify image file"),)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["images"]["failed"] == 1 and report["metrics"]["n"] == 4
    assert report["failed_images"][0]["error"].endswith("cannot identify image file")
    rows = list(csv.DictReader((tmp_path / "out" / "predictions.csv").read_text().splitlines()))
    assert rows[2]["prediction"] == "" and "cannot identify" in rows[2]["error"]
    assert report["metrics"]["srcc"] == pytest.approx(0.8)


def test_nothing_scored_still_writes_every_file_with_reasons(kadid, tmp_path):
    class Broken(FakeScorer):
        def score_each(self, paths, *, progress=False):
            return [Result(p, None, f"{p}: out of memory") for p in paths]

    result = evaluate(Broken({}), kadid, out_dir=tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert not result.ok and report["metrics"]["srcc"] is None
    assert report["metric_notes"]["srcc"] == "no image was scored"
    assert (tmp_path / "out" / "scatter.png").stat().st_size > 0


def test_seeded_split_selection_is_recorded(kadid, tmp_path):
    selection = select(kadid, "test", seed=1, fractions=(0.34, 0.33, 0.33))
    assert {r.content for r in selection.rows} and len({r.content for r in selection.rows}) == 1
    result = evaluate(FakeScorer(scores_for(kadid)), kadid, "test", tmp_path / "out", seed=1, fractions=(0.34, 0.33, 0.33))
    assert result.report["split"]["kind"] == "seeded" and result.report["split"]["seed"] == 1
    assert result.report["images"]["selected"] == 4
    assert "drawn by content (seed 1" in result.report["split"]["description"]


def test_cheap_checks(kadid, tmp_path):
    with pytest.raises(DatasetError, match="unknown split"):
        select(kadid, "dev")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_out_dir(tmp_path / "file")
    assert check_out_dir(tmp_path / "a" / "b").is_dir()
