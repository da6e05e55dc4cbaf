"""``genziqa eval`` end to end on a generated KADID-like folder with the tiny backbone."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from genziqa.core.cli import main
from genziqa.core.cli import eval as eval_command

FAST = ["--resolution", "64", "--device", "cpu", "--unet-rows", "64"]


def kadid_like(root: Path) -> Path:
    """kadid10k/ with dmos.csv and images/: 3 references x 3 blur levels, plus one missing image."""
    base = root / "kadid10k"
    (base / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["dist_img,ref_img,dmos,var"]
    for r in range(1, 4):
        reference = Image.fromarray(rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8))
        reference.save(base / "images" / f"I{r:02d}.png")
        for level in range(1, 4):
            name = f"I{r:02d}_01_{level:02d}.png"
            reference.filter(ImageFilter.GaussianBlur(level)).save(base / "images" / name)
            lines.append(f"{name},I{r:02d}.png,{5.0 - level:.2f},0.3")
    lines.append("I04_01_01.png,I04.png,3.0,0.3")
    (base / "dmos.csv").write_text("\n".join(lines) + "\n")
    return base


@pytest.fixture
def model(tiny_sd2_dir):
    return ["--backbone", str(tiny_sd2_dir), *FAST]


def test_eval_writes_report_predictions_and_scatter(model, tmp_path, capsys):
    kadid_like(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["eval", "--data", str(tmp_path / "data"), "--out", str(out), "--no-progress", *model]) == 0
    captured = capsys.readouterr()
    assert "KADID-10k" in captured.err and "skipped 1 bad row" in captured.err and "I04_01_01.png" in captured.err
    assert "evaluating all images: 9 images" in captured.err
    assert captured.out.startswith("images 9  SRCC ")

    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["name"] == "kadid10k" and report["images"]["scored"] == 9
    assert report["model"].startswith("zero-shot") and report["zero_shot"] is True and report["run_id"]
    assert report["metrics"]["n"] == 9
    assert all(-1.0 <= report["metrics"][k] <= 1.0 for k in ("srcc", "krcc", "plcc", "plcc_logistic"))
    assert report["bad_rows"][0]["ref"] == "dmos.csv line 11"

    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and all(r["error"] == "" and float(r["prediction"]) == float(r["prediction"]) for r in rows)
    with Image.open(out / "scatter.png") as png:
        assert png.format == "PNG"
        png.verify()


def test_an_interrupted_evaluation_resumes_where_it_stopped(model, tmp_path, capsys, monkeypatch):
    from genziqa.core.scoring import Scorer

    kadid_like(tmp_path / "data")
    argv = ["eval", "--data", str(tmp_path / "data"), "--no-progress", *model]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0  # the reference: one uninterrupted run
    capsys.readouterr()

    plain, asked = Scorer.score_each, []

    def counting(stop_after=None):
        """Scorer.score_each that records the images asked for, and is interrupted past ``stop_after``."""
        def score_each(self, images, **kwargs):
            asked.extend(images)
            if stop_after is not None and len(asked) > stop_after:
                raise KeyboardInterrupt
            return plain(self, images, **kwargs)
        return score_each

    monkeypatch.setattr(Scorer, "score_each", counting(stop_after=4))
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 130
    assert "the same genziqa eval command resumes" in capsys.readouterr().err
    assert len((out / "scores.csv").read_text().splitlines()) == 1 + 4  # header and the four scored
    assert not (out / "report.json").exists()

    asked.clear()
    monkeypatch.setattr(Scorer, "score_each", counting())
    assert main([*argv, "--out", str(out)]) == 0
    assert len(asked) == 5  # only the images the first run had not reached
    assert "resumed: 4 scores came from" in capsys.readouterr().err
    for name in ("predictions.csv", "scores.csv"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text()
    report, whole = (json.loads((folder / "report.json").read_text()) for folder in (out, tmp_path / "whole"))
    assert report["metrics"] == whole["metrics"]

    # Another model into the same folder starts afresh rather than mixing two models' scores.
    asked.clear()
    assert main([*argv, "--out", str(out), "--dtype", "bfloat16"]) == 0
    assert len(asked) == 9


def test_cheap_checks_come_before_the_model(model, tmp_path, capsys, monkeypatch):
    def no_model(plan):
        raise AssertionError("the model must not be loaded when a cheap check fails")

    monkeypatch.setattr(eval_command, "load_scorer", no_model)
    kadid_like(tmp_path / "data")
    data = ["--data", str(tmp_path / "data")]

    assert main(["eval", *data, "--split", "dev", "--out", str(tmp_path / "o"), *model]) == 2
    assert "unknown split 'dev'" in capsys.readouterr().err

    assert main(["eval", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), *model]) == 2
    assert "does not exist" in capsys.readouterr().err

    (tmp_path / "photos").mkdir()
    assert main(["eval", "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "o"), *model]) == 2
    assert "no known data set" in capsys.readouterr().err

    (tmp_path / "taken").write_text("")
    assert main(["eval", *data, "--out", str(tmp_path / "taken"), *model]) == 2
    assert "is a file" in capsys.readouterr().err

    assert main(["eval", *data, "--dataset", "koniq", "--out", str(tmp_path / "o"), *model]) == 2
    assert "does not look like KonIQ-10k" in capsys.readouterr().err

    assert main(["eval", *data, "--out", str(tmp_path / "o"), "--backbone", str(tmp_path / "no-model"), *FAST]) == 2
    assert "no-model" in capsys.readouterr().err


def test_help_lists_the_command():
    done = subprocess.run([sys.executable, "-m", "genziqa.core.cli", "eval", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--data PATH" in done.stdout and "--split NAME" in done.stdout
