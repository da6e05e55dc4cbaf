"""``genziqa train``: every cheap check before a model loads, and train -> eval -> score end to end
giving the same scores."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from genziqa.core.cli import main

COMMON = ["--device", "cpu", "--resolution", "64", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(photos, tmp_path_factory):
    spec = importlib.util.spec_from_file_location("_training_loop_tests", Path(__file__).with_name("test_training_loop.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_dataset(tmp_path_factory.mktemp("noisy"), photos)


@pytest.fixture()
def no_loading(monkeypatch):
    """Fail loudly if a check that should come first lets the model load."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("genziqa.core.training.loop.build_model", refuse)


def test_help_lists_the_training_options(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--epochs", "--batch-size", "--lr", "--accumulate", "--seed", "--resume",
                   "--latent-cache", "--val-split", "--backbone", "torchrun"):
        assert option in text
    assert "start from these trained weights" in text


@pytest.mark.parametrize("extra, words", [
    (["--data", "{missing}"], "does not exist"),
    (["--val-split", "train"], "is the training split itself"),
    (["--split", "tset"], "unknown split 'tset'"),
    (["--batch-size", "32"], "fewer than one batch of 32"),
    (["--accumulate", "3"], "4 does not divide into --accumulate 3"),
    (["--backbone", "{missing}"], "does not exist"),
    (["--dtype", "float8"], "--dtype 'float8' is not one of"),
    (["--resume"], "nothing to resume"),
])
def test_bad_arguments_stop_before_loading(extra, words, data, tiny_sd2_dir, tmp_path, capsys, no_loading):
    # A repeated option overrides the earlier one, so each case just appends its own.
    extra = [e.replace("{missing}", str(tmp_path / "missing")) for e in extra]
    args = ["train", "--data", str(data), "--backbone", str(tiny_sd2_dir), "--out", str(tmp_path / "run"), *COMMON, *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_a_used_out_folder_needs_resume(data, tiny_sd2_dir, tmp_path, capsys, no_loading):
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    args = ["train", "--data", str(data), "--backbone", str(tiny_sd2_dir), "--out", str(out), *COMMON]
    assert main(args) == 2
    assert "already holds a training run" in capsys.readouterr().err


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_then_eval_then_score_give_the_same_scores(data, tiny_sd2_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--backbone", str(tiny_sd2_dir), "--out", str(out), *COMMON,
                 "--epochs", "2", "--lr", "1e-3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "best epoch" in captured.out and "trained 23,808 values" in captured.err
    best = out / "best"
    config = json.loads((best / "config.json").read_text())
    assert config["training"]["data"]["dataset"] == "csv"
    assert config["training"]["data"]["validation_split"]["name"] == "validation"
    trained = {r["path"]: float(r["score"]) for r in _rows(out / "validation.csv")}

    evaluation = tmp_path / "eval"
    assert main(["eval", "--data", str(data), "--split", "validation", "--weights", str(best), "--out",
                 str(evaluation), "--device", "cpu", "--no-progress"]) == 0
    capsys.readouterr()
    evaluated = {r["path"]: float(r["prediction"]) for r in _rows(evaluation / "predictions.csv")}
    assert set(evaluated) == set(trained)
    # Training validates with the LoRA unmerged, the scorer merges it: equal to float rounding.
    for path, score in trained.items():
        assert evaluated[path] == pytest.approx(score, abs=1e-4)
    report = json.loads((evaluation / "report.json").read_text())
    assert report["metrics"]["srcc"] == pytest.approx(config["training"]["val_srcc"], abs=1e-9)

    scores = tmp_path / "scores.csv"
    assert main(["score", *sorted(trained), "--weights", str(best), "--out", str(scores), "--device", "cpu",
                 "--no-progress"]) == 0
    scored = {r["path"]: float(r["score"]) for r in _rows(scores)}
    for path, score in evaluated.items():  # the same scorer; the results file keeps 7 significant digits
        assert scored[path] == pytest.approx(score, rel=1e-6)


def test_a_broken_image_and_a_missing_one_are_skipped_and_listed(data, tiny_sd2_dir, tmp_path, capsys):
    import shutil

    folder = shutil.copytree(data, tmp_path / "data")
    (folder / "photo0_noise1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")  # a truncated download
    with open(folder / "labels.csv", "a") as f:
        f.write("photo9_noise0.png,5.0,train,photo9\n")  # listed, never unpacked
    out = tmp_path / "run"
    code = main(["train", "--data", str(folder), "--backbone", str(tiny_sd2_dir), "--out", str(out), *COMMON,
                 "--epochs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped 1 unreadable image, e.g. " in captured.err and "photo0_noise1.png" in captured.err
    assert "warning: that is 6% of the images" in captured.err  # 1 of 16: more than broken files explain
    assert "training on the official train split: 11 images" in captured.err
    skipped = {Path(r["entry"]).name: r["reason"] for r in _rows(out / "skipped.csv")}
    assert set(skipped) == {"labels.csv line 18", "photo0_noise1.png"}, skipped
    assert "photo9_noise0.png: no such file" in skipped["labels.csv line 18"]
    assert "truncated or damaged" in skipped["photo0_noise1.png"]
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "step" for r in steps) == 2  # 11 images, batch 4: two full batches
    assert (out / "best" / "config.json").is_file()
