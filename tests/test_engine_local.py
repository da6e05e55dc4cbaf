"""The local engine: resumable CSV / JSONL results files (core/engines/local.py), with a tiny real backbone."""

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

import genziqa
from genziqa.core.engines.local import (
    BatchError, check_output, collect_images, output_format, read_results, score_to_file,
)
from genziqa.core.engines.rows import SCORE_DECIMALS
from genziqa.core.results import ScoredImage
from genziqa.core.config import GenzIQAConfig


@pytest.fixture(scope="module")
def scorer(tiny_sd2_dir):
    return genziqa.load(backbone=str(tiny_sd2_dir), config=replace(GenzIQAConfig(), resolution=64),
                        device="cpu", unet_rows=64)


class Counting:
    """Passes calls to a scorer and records which images it was asked to score."""

    def __init__(self, scorer, label=None, fail_on_call=None, run_id=None):
        self.scorer = scorer
        self.label = label or scorer.label
        self.run_id = run_id or scorer.run_id
        self.images_per_call = getattr(scorer, "images_per_call", 1)
        self.asked: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def score_each(self, images, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("simulated crash")
        self.asked.extend(str(i) for i in images)
        return self.scorer.score_each(images, **kwargs)


def photos(folder: Path, names=("astronaut", "chelsea")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        paths.append(path)
    return paths


def corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


# -- collecting inputs -----------------------------------------------------------------------


def test_collect_recurses_sorted_skips_hidden_keeps_explicit_files(tmp_path, monkeypatch):
    for name in ["b.png", "A.JPG", "notes.txt", ".hidden.png", "sub/c.WebP", "sub/d.tiff",
                 ".cache/e.png", "sub/.git/f.png", "g.gif", "h.jpeg", "i.bmp", "j.tif"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    explicit = tmp_path / "notes.txt"
    monkeypatch.chdir(tmp_path)
    # The folder twice, a file inside it again (relative) and a file with an unknown suffix.
    got = collect_images([tmp_path, str(tmp_path), "./b.png", explicit, ".hidden.png"])
    names = [str(p.relative_to(tmp_path)) for p in got]
    assert names == ["A.JPG", "b.png", "g.gif", "h.jpeg", "i.bmp", "j.tif", "sub/c.WebP", "sub/d.tiff",
                     "notes.txt", ".hidden.png"]
    assert all(p.is_absolute() for p in got)
    assert collect_images([tmp_path]) == got[:8]  # deterministic


def test_collect_names_every_missing_path(tmp_path):
    photos(tmp_path, ["chelsea"])
    with pytest.raises(BatchError, match="'nope.png'.*'gone/'") as err:
        collect_images([tmp_path, "nope.png", "gone/"])
    assert "not found" in str(err.value)


def test_collect_empty_folder_is_an_error(tmp_path):
    (tmp_path / "readme.md").write_text("no pictures here")
    with pytest.raises(BatchError, match="no images found"):
        collect_images([tmp_path])


def test_output_suffix_must_be_csv_or_jsonl(tmp_path):
    assert output_format("a.CSV") == "csv" and output_format(Path("a.jsonl")) == "jsonl"
    with pytest.raises(ValueError, match=r"'\.txt'.*\.csv, \.jsonl"):
        output_format(tmp_path / "scores.txt")


# -- writing rows ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_score_good_images_and_report_the_corrupt_one(scorer, tmp_path, suffix):
    good = photos(tmp_path / "in")
    bad = corrupt(tmp_path / "in" / "broken.jpg")
    out = tmp_path / f"scores{suffix}"
    summary = score_to_file(scorer, [tmp_path / "in"], out, progress=False)
    assert (summary.total, summary.scored, summary.failed, summary.skipped) == (3, 2, 1, 0)
    assert summary.out == out and [f.source for f in summary.failures] == [str(bad)]

    text = out.read_text()
    if suffix == ".csv":
        assert text.splitlines()[0] == "path,score,model,run,error"
        rows = list(csv.DictReader(text.splitlines()))
        scores = {r["path"]: r["score"] for r in rows}
        errors = {r["path"]: r["error"] for r in rows}
    else:
        rows = [json.loads(line) for line in text.splitlines()]
        assert all(list(r) == ["path", "score", "model", "run", "error"] for r in rows)
        scores = {r["path"]: r["score"] for r in rows}
        errors = {r["path"]: r["error"] for r in rows}
    assert [r["path"] for r in rows] == sorted(map(str, [*good, bad]))  # one row each, path order
    assert all(r["model"] == scorer.label and r["model"].startswith("zero-shot") for r in rows)
    assert all(r["run"] == scorer.run_id and "weights=zero-shot" in r["run"] for r in rows)
    assert scores[str(bad)] in ("", None) and "cannot be read" in errors[str(bad)]
    expected = scorer.score(good)
    for path, value in zip(good, expected):
        written = scores[str(path)]
        assert errors[str(path)] in ("", None)
        # Written to SCORE_DECIMALS decimals: below that is float32 rounding, not information.
        assert float(written) == round(value, SCORE_DECIMALS)
    # read_results reads both formats back to the same rows.
    assert read_results(out) == [
        ScoredImage(str(p), float(scores[str(p)]) if p != bad else None, errors[str(p)] or None,
                    model=scorer.label, run=scorer.run_id) for p in sorted([*good, bad])]


# -- resuming --------------------------------------------------------------------------------


def test_rerun_skips_scored_images_and_scores_only_new_ones(scorer, tmp_path):
    first = photos(tmp_path / "in", ["astronaut", "chelsea"])
    out = tmp_path / "scores.csv"
    score_to_file(scorer, [tmp_path / "in"], out, progress=False, save_every=1)
    before = out.read_text().splitlines()

    new = photos(tmp_path / "in", ["coffee"])[0]
    counting = Counting(scorer)
    summary = score_to_file(counting, [tmp_path / "in"], out, progress=False)
    assert counting.asked == [str(new)]
    assert (summary.total, summary.scored, summary.skipped, summary.failed) == (3, 1, 2, 0)
    after = out.read_text().splitlines()
    assert len(after) == 4 and all(line in after for line in before)  # old rows kept verbatim
    assert {r.source for r in read_results(out)} == {str(p) for p in [*first, new]}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_torn_last_row_is_dropped_and_rescored(scorer, tmp_path, suffix):
    images = photos(tmp_path / "in")
    out = tmp_path / f"scores{suffix}"
    score_to_file(scorer, images, out, progress=False)
    full = out.read_bytes()
    out.write_bytes(full[:-15])  # a crash in the middle of the last row
    assert [r.source for r in read_results(out)] == [str(images[0])]

    counting = Counting(scorer)
    summary = score_to_file(counting, images, out, progress=False)
    assert counting.asked == [str(images[1])] and summary.skipped == 1
    assert out.read_bytes().endswith(b"\n")
    assert [r.source for r in read_results(out)] == [str(p) for p in images]


def test_csv_row_cut_inside_a_quoted_field_is_torn(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text('path,score,model,run,error\n/a.png,0.5,m,r,\n"/odd\n')  # a path with a newline, cut
    assert read_results(out) == [ScoredImage("/a.png", 0.5, None, model="m", run="r")]


def test_a_crash_between_chunks_keeps_complete_rows(scorer, tmp_path):
    images = photos(tmp_path / "in", ["astronaut", "chelsea", "coffee"])
    out = tmp_path / "scores.jsonl"
    crashing = Counting(scorer, fail_on_call=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        score_to_file(crashing, images, out, progress=False, save_every=1)
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith("\n") and json.loads(lines[0])["path"] == str(images[0])

    counting = Counting(scorer)
    summary = score_to_file(counting, images, out, progress=False, save_every=1)
    assert counting.asked == [str(images[1]), str(images[2])] and summary.skipped == 1
    assert len(read_results(out)) == 3


def test_rows_are_saved_after_every_image_on_cpu_by_default(scorer, tmp_path):
    # At real size a CPU scores about one image a minute: every image is saved as it is done.
    images = photos(tmp_path / "in", ["astronaut", "chelsea", "coffee"])
    out = tmp_path / "scores.csv"
    scorer.unet_rows = 4  # the CPU default: a quarter of an image per UNet call
    try:
        assert scorer.images_per_call == 1
        crashing = Counting(scorer, fail_on_call=3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            score_to_file(crashing, images, out, progress=False)
    finally:
        scorer.unet_rows = 64
    assert [r.source for r in read_results(out)] == [str(images[0]), str(images[1])]


def test_failed_rows_are_retried_and_replaced(scorer, tmp_path):
    good = photos(tmp_path / "in", ["chelsea"])[0]
    bad = corrupt(tmp_path / "in" / "later.png")
    out = tmp_path / "scores.csv"
    first = score_to_file(scorer, [tmp_path / "in"], out, progress=False)
    assert first.failed == 1 and read_results(out)[1].error is not None

    Image.fromarray(data.coffee()).save(bad)  # the user repairs the file
    counting = Counting(scorer)
    summary = score_to_file(counting, [tmp_path / "in"], out, progress=False)
    assert counting.asked == [str(bad)]
    assert (summary.scored, summary.failed, summary.skipped) == (1, 0, 1)
    rows = read_results(out)
    assert [r.source for r in rows] == [str(good), str(bad)]  # each path once: the retry replaced the error
    assert all(r.ok for r in rows)


def test_a_file_of_another_run_is_refused_untouched_naming_what_differs(scorer, tiny_sd2_dir, tmp_path):
    images = photos(tmp_path / "in", ["chelsea"])
    out = tmp_path / "scores.csv"
    score_to_file(scorer, images, out, progress=False)
    before = out.read_bytes()
    # The same backbone at another resolution makes other numbers: it must not join the file.
    other_plan = genziqa.prepare(backbone=str(tiny_sd2_dir), config=replace(GenzIQAConfig(), resolution=128), device="cpu")
    other = Counting(scorer, run_id=other_plan.run_id)
    with pytest.raises(BatchError, match="made differently.*resolution: 128 here, 64 in the file") as err:
        score_to_file(other, images + photos(tmp_path / "in", ["coffee"]), out, progress=False)
    assert "another output" in str(err.value)
    assert other.asked == [] and out.read_bytes() == before
    with pytest.raises(BatchError, match="resolution"):  # the same check, before any model is loaded
        check_output(out, other_plan.run_id)
    # dtype is part of the identity too.
    bf16 = genziqa.prepare(backbone=str(tiny_sd2_dir), config=replace(GenzIQAConfig(), resolution=64), device="cpu",
                           dtype="bfloat16")
    with pytest.raises(BatchError, match="dtype: bfloat16 here, float32 in the file"):
        check_output(out, bf16.run_id)


def test_a_moved_backbone_resumes_its_own_file(scorer, tiny_sd2_dir, tmp_path):
    import shutil

    images = photos(tmp_path / "in", ["chelsea", "coffee"])
    out = tmp_path / "scores.jsonl"
    score_to_file(scorer, images[:1], out, progress=False)
    moved = shutil.copytree(tiny_sd2_dir, tmp_path / "elsewhere" / "model")
    again = genziqa.prepare(backbone=str(moved), config=replace(GenzIQAConfig(), resolution=64), device="cpu")
    assert again.run_id == scorer.run_id  # content, not location, identifies the backbone
    assert [r.source for r in check_output(out, again.run_id)] == [str(images[0])]


def test_a_file_of_genziqa_0_1_is_refused_with_a_reason(tmp_path):
    out = tmp_path / "old.csv"
    out.write_text("path,score,model,error\n/a.png,0.5,m,\n")
    with pytest.raises(BatchError, match="genziqa 0.1.*another file"):
        read_results(out)


@pytest.mark.parametrize("name, content", [
    ("people.csv", "name,age\nann,3\n"),
    ("people.csv", "name,age"),
    ("events.jsonl", '{"event": "x"}\n'),
    ("events.jsonl", '{"path": "/a.png", "score": 1.0, "model": "m", "run": "r", "error": null}\nnot json\n{"path"'),
])
def test_a_foreign_or_damaged_file_is_refused_untouched(tmp_path, name, content):
    out = tmp_path / name
    out.write_text(content)
    images = photos(tmp_path / "in", ["chelsea"])
    asked = Counting(scorer=None, label="m", run_id="r")
    with pytest.raises(BatchError, match="not a genziqa results file"):
        score_to_file(asked, images, out, progress=False)
    assert out.read_text() == content and asked.asked == []


def test_output_folder_is_created_and_no_temp_files_remain(scorer, tmp_path):
    images = photos(tmp_path / "in", ["chelsea"])
    out = tmp_path / "results" / "deep" / "scores.jsonl"
    summary = score_to_file(scorer, images, out, progress=False)
    assert summary.scored == 1 and out.is_file()
    assert sorted(os.listdir(out.parent)) == ["scores.jsonl"]


def test_a_non_finite_score_is_written_as_a_failure_to_retry(tmp_path):
    from genziqa.core.results import ScoredImage

    class Broken:
        label = "m"
        run_id = "r"

        def score_each(self, images, **kwargs):
            return [ScoredImage(str(i), float("nan")) for i in images]

    images = photos(tmp_path / "in", ["chelsea"])
    out = tmp_path / "scores.jsonl"
    summary = score_to_file(Broken(), images, out, progress=False)
    assert (summary.scored, summary.failed) == (0, 1)
    [row] = read_results(out)
    assert row.score is None and "non-finite" in row.error
    assert "NaN" not in out.read_text()  # the file stays strict JSON
