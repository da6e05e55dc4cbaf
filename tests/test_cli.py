"""The ``genziqa`` command (core/cli.py), run in-process through ``main`` and once as a process."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from genziqa.core.batch import read_results
from genziqa.core.cli import main

FAST = ["--resolution", "64", "--batch-size", "64", "--device", "cpu"]


@pytest.fixture
def model(tiny_sd2_dir):
    """Model options for a fast zero-shot scorer on the tiny backbone."""
    return ["--backbone", str(tiny_sd2_dir), *FAST]


def photo(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    Image.fromarray(getattr(data, name)()).save(path)
    return path


def test_score_writes_every_row_says_zero_shot_and_resumes(model, tmp_path, capsys):
    images = [photo(tmp_path / "in", "chelsea"), photo(tmp_path / "in", "coffee")]
    out = tmp_path / "scores.csv"
    assert main(["score", str(tmp_path / "in"), "--out", str(out), "--no-progress", *model]) == 0
    err = capsys.readouterr().err
    assert "genziqa zero-shot" in err and "untrained, for ranking only" in err
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["path"] for r in rows] == [str(p) for p in images]
    assert all(r["model"].startswith("zero-shot") and float(r["score"]) < 0 and r["error"] == "" for r in rows)

    # The same command again scores nothing and leaves the scores as they were.
    before = out.read_text()
    assert main(["score", str(tmp_path / "in"), "--out", str(out), "--no-progress", *model]) == 0
    assert "2 already in the file" in capsys.readouterr().err
    assert out.read_text() == before


def test_score_exits_1_naming_the_bad_image_and_keeps_the_others(model, tmp_path, capsys):
    good = photo(tmp_path / "in", "astronaut")
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(good), str(bad), "--out", str(out), *model]) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and str(bad) in failed[0]
    assert "scored 1, failed 1" in err
    rows = {r.path: r for r in read_results(out)}
    assert rows[str(good)].score is not None and rows[str(bad)].error is not None


@pytest.mark.parametrize("argv, message", [
    (["score", "missing.png", "--out", "s.csv"], "not found: 'missing.png'"),
    (["score", "{img}", "--out", "s.txt"], "unknown suffix '.txt'"),
    (["score", "{img}", "--out", "s.csv", "--backbone", "./no/such/model"], "does not exist"),
    (["score", "{img}", "--out", "s.csv", "--backbone", "{bb}", "--resolution", "60"], "multiple of 8"),
    (["score", "{img}", "--out", "s.csv", "--batch-size", "0"], "must be at least 1"),
    (["score", "{img}"], "--out"),  # argparse: required option missing
    (["score", "{img}", "--out", "s.csv", "--colour"], "unrecognized arguments"),
    (["heatmap", "{img}", "--out", "h.jpg"], "ending in .png"),
    (["heatmap", "{img}", "--out", "h.png", "--cmap", "infern"], "Did you mean 'inferno'"),
    (["heatmap", "{img}", "--out", "h.png", "--alpha", "2"], "outside [0, 1]"),
])
def test_usage_and_load_errors_exit_2_without_traceback(tmp_path, tiny_sd2_dir, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    img = photo(tmp_path, "chelsea")
    argv = [a.format(img=img, bb=tiny_sd2_dir) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(Path(name).exists() for name in ("s.csv", "s.txt", "h.png", "h.jpg"))


def test_heatmap_png_has_the_image_size_and_token_maps_differ(model, tmp_path, capsys):
    image = photo(tmp_path, "chelsea")  # 451 x 300: not square
    quality, token = tmp_path / "quality.png", tmp_path / "good.png"
    assert main(["heatmap", str(image), "--out", str(quality), *model]) == 0
    out = capsys.readouterr().out
    assert "score" in out and "zero-shot" in out
    score = float(out.split("score ")[1].split("\t")[0])
    assert np.isfinite(score)
    assert main(["heatmap", str(image), "--out", str(token), "--token", "good", "--alpha", "1", *model]) == 0
    with Image.open(quality) as q, Image.open(token) as t:
        assert q.format == "PNG" and q.size == t.size == (451, 300)
        q_pixels, t_pixels = np.asarray(q.convert("RGB")), np.asarray(t.convert("RGB"))
    assert not np.array_equal(q_pixels, t_pixels)
    assert t_pixels.std() > 0  # alpha 1: the map alone, and it is not flat


def test_heatmap_unknown_token_exits_2_listing_the_choices(model, tmp_path, capsys):
    image = photo(tmp_path, "coffee")
    assert main(["heatmap", str(image), "--out", str(tmp_path / "h.png"), "--token", "sharpness", *model]) == 2
    err = capsys.readouterr().err
    assert "'sharpness'" in err and "'good'" in err and "'photo'" in err
    assert not (tmp_path / "h.png").exists()


def test_heatmap_bad_image_exits_1_with_the_reason(model, tmp_path, capsys):
    bad = tmp_path / "scan.jpg"
    bad.write_text("not a picture")
    assert main(["heatmap", str(bad), "--out", str(tmp_path / "h.png"), *model]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "cannot be read as an image" in err
    assert not (tmp_path / "h.png").exists()


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "score" in capsys.readouterr().out


def test_python_dash_m_entry_point(tiny_sd2_dir, tmp_path):
    image = photo(tmp_path, "astronaut")
    out = tmp_path / "scores.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "genziqa.core.cli", "score", str(image), "--out", str(out), "--no-progress",
         "--backbone", str(tiny_sd2_dir), *FAST],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "zero-shot" in done.stderr
    [row] = read_results(out)
    assert row.path == str(image) and row.score is not None and row.model.startswith("zero-shot")
