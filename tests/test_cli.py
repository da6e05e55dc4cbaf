"""The ``genziqa`` command (core/cli/), run in-process through ``main`` and as a process."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from genziqa.core.engines.local import read_results
from genziqa.core.cli import main

FAST = ["--resolution", "64", "--unet-rows", "64", "--device", "cpu"]


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
    assert "genziqa zero-shot" in err and "untrained scores, for ranking only" in err
    assert "on cpu in float32" in err  # the banner says where it runs and in which precision
    assert "Loading weights" not in err  # the libraries' own progress bars stay out
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
    rows = {r.source: r for r in read_results(out)}
    assert rows[str(good)].score is not None and rows[str(bad)].error is not None


@pytest.mark.parametrize("argv, message", [
    (["score", "missing.png", "--out", "s.csv"], "not found: 'missing.png'"),
    (["score", "{img}", "--out", "s.txt"], "unknown suffix '.txt'"),
    (["score", "{img}", "--out", "s.csv", "--backbone", "./no/such/model"], "does not exist"),
    (["score", "{img}", "--out", "s.csv", "--backbone", "{bb}", "--resolution", "60"], "multiple of 8"),
    (["score", "{img}", "--out", "s.csv", "--unet-rows", "0"], "must be at least 1"),
    (["score", "{img}"], "--out"),  # argparse: required option missing
    (["score", "{img}", "--out", "s.csv", "--colour"], "unrecognized arguments"),
    (["heatmap", "{img}", "--out", "h.jpg"], "ending in .png"),
    (["heatmap", "{img}", "--out", "h.png", "--cmap", "infern"], "Did you mean 'inferno'"),
    (["heatmap", "{img}", "--out", "h.png", "--alpha", "2"], "outside [0, 1]"),
])
def test_usage_and_load_errors_exit_2_without_traceback(tmp_path, tiny_sd2_dir, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    img = photo(tmp_path, "chelsea")
    argv = [a.format(img=img, bb=tiny_sd2_dir, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "=" not in err.split("error:")[-1].split("Did you mean")[0].replace("HF_HUB_OFFLINE", "")  # options, not API syntax
    assert "sorted(pathlib" not in err  # no Python advice on the command line
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
    assert row.source == str(image) and row.score is not None and row.model.startswith("zero-shot")


@pytest.fixture
def no_loading(monkeypatch):
    """Make any model load fail loudly: what is checked before loading must not need one."""
    from genziqa.core import api

    def refuse(self):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(api.LoadPlan, "load", refuse)


@pytest.mark.parametrize("case", ["foreign file", "out is a folder", "unknown token", "other run"])
def test_cheap_refusals_come_before_loading(case, model, tmp_path, capsys, no_loading):
    image = photo(tmp_path, "chelsea")
    if case == "foreign file":
        out = tmp_path / "people.csv"
        out.write_text("name,age\nann,3\n")
        argv = ["score", str(image), "--out", str(out)]
        message = "not a genziqa results file"
    elif case == "out is a folder":
        (tmp_path / "res.csv").mkdir()
        argv = ["score", str(image), "--out", str(tmp_path / "res.csv")]
        message = "is a folder"
    elif case == "unknown token":
        argv = ["heatmap", str(image), "--out", str(tmp_path / "h.png"), "--token", "sharpness"]
        message = "'sharpness' is not in the prompts"
    else:
        out = tmp_path / "s.csv"
        out.write_text(f"path,score,model,run,error\n{image},0.5,m,backbone=x;weights=zero-shot;method=y;"
                       "resolution=512;dtype=float32;prediction=auto,\n")
        argv = ["score", str(image), "--out", str(out)]
        message = "resolution: 64 here, 512 in the file"
    assert main([*argv, *model]) == 2
    err = capsys.readouterr().err
    assert message in err and "a model was loaded" not in err and "Traceback" not in err


def test_version_and_python_dash_m_genziqa():
    from genziqa import __version__

    done = subprocess.run([sys.executable, "-m", "genziqa", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"genziqa {__version__}"
    done = subprocess.run([sys.executable, "-m", "genziqa", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "score" in done.stdout and "heatmap" in done.stdout


def test_heatmap_json_and_legend(model, tmp_path, capsys):
    import json

    image = photo(tmp_path, "coffee")  # 600 x 400
    out = tmp_path / "legend.png"
    assert main(["heatmap", str(image), "--out", str(out), "--json", "--legend", "--no-progress", *model]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"].startswith("zero-shot") and np.isfinite(report["score"])
    assert len(report["per_timestep"]) == 8 and report["heatmap"] == str(out)
    with Image.open(out) as picture:
        assert picture.width == 600 and picture.height > 400  # the colour bar sits under the image


def test_heatmap_progress_moves_per_unet_call(model, tmp_path, capsys):
    image = photo(tmp_path, "chelsea")
    assert main(["heatmap", str(image), "--out", str(tmp_path / "h.png"), *model[:-4], "--unet-rows", "4",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "16/16" in err  # 16 UNet rows, shown as they are done


def test_jsonl_keeps_non_ascii_readable_and_counts_read_well(model, tmp_path, capsys):
    folder = tmp_path / "café"
    path = photo(folder, "astronaut")
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(path), "--out", str(out), "--no-progress", *model]) == 0
    text = out.read_text(encoding="utf-8")
    assert "café" in text and "\\u00e9" not in text
    assert "1 image (1 to score)" in capsys.readouterr().err
    score = json.loads(text)["score"]
    assert score == round(score, 5)  # no float32 noise digits in the file


def test_backbone_config_and_prediction_type_options(tiny_sd2_file, tiny_sd2_dir, tmp_path, capsys):
    # The tiny single file has non-standard shapes: only its own configs read it.
    image = photo(tmp_path, "chelsea")
    out = tmp_path / "scores.csv"
    argv = ["score", str(image), "--out", str(out), "--no-progress", "--backbone", str(tiny_sd2_file), *FAST]
    assert main(argv) == 2
    assert "--backbone-config" in capsys.readouterr().err
    assert main([*argv, "--backbone-config", str(tiny_sd2_dir)]) == 0
    eps = read_results(out)[0]
    assert "(sd2, epsilon)" in eps.model
    out_v = tmp_path / "v.csv"
    assert main(["score", str(image), "--out", str(out_v), "--no-progress", "--backbone", str(tiny_sd2_file), *FAST,
                 "--backbone-config", str(tiny_sd2_dir), "--prediction-type", "v_prediction"]) == 0
    v = read_results(out_v)[0]
    assert "v_prediction" in v.model and v.score != eps.score and v.run != eps.run


def test_the_plans_label_hint_begins_the_loaded_label(tiny_sd2_dir, trained_sd2):
    import genziqa

    for weights, backbone in ((None, str(tiny_sd2_dir)), (str(trained_sd2), None)):
        plan = genziqa.prepare(weights, backbone, device="cpu")
        assert plan.load().label.startswith(plan.label_hint)
    assert genziqa.prepare(backbone=str(tiny_sd2_dir)).label_hint.startswith("zero-shot · ")
