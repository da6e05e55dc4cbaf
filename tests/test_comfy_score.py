"""GenzIQA Score: one score per image, equal to `genziqa score`, shown on the node."""

import json
import sys
from pathlib import Path

import pytest

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model, batch = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model, fx.batch


def test_scores_equal_the_command_line_on_the_same_images(nodes, sd1_model, photos, tmp_path, tiny_sd1_file, tiny_sd1_dir):
    from PIL import Image

    from genziqa.core.cli import main

    files = []
    for i, photo in enumerate(photos[:2]):
        path = tmp_path / f"photo{i}.png"
        Image.fromarray(photo).resize((128, 96), Image.BICUBIC).save(path)
        files.append(path)
    out = tmp_path / "scores.jsonl"
    code = main(["score", *map(str, files), "--out", str(out), "--backbone", str(tiny_sd1_file),
                 "--backbone-config", str(tiny_sd1_dir), "--resolution", "64", "--device", "cpu", "--no-progress"])
    assert code == 0
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    expected = [rows[f.name]["score"] for f in files]

    # The same PNGs as ComfyUI's Load Image makes them into one IMAGE batch.
    images = harness.image_batch([Image.open(f) for f in files])
    run = harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=images)
    scores, mean, quality, text = run.outputs
    assert scores == pytest.approx(expected, abs=1e-5)  # float32 rounding: Load Image divides by 255, core multiplies by 1/255
    assert mean == pytest.approx(sum(scores) / len(scores))
    assert quality.scores == tuple(scores) and quality.zero_shot
    assert quality.run == rows[files[0].name]["run"]  # the same run identity as the command line's
    assert run.ui == {"text": [text]}
    lines = text.splitlines()
    assert lines[0] == "GenzIQA scores — zero-shot · tiny_sd1.safetensors"
    assert "uncalibrated" in lines[1]
    assert lines[2:4] == [f"#{i}  {s:.4f}" for i, s in enumerate(scores)]
    assert lines[4] == f"mean {mean:.4f} over 2 images"


def test_batch_of_one(nodes, sd1_model, batch):
    one = harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch[2:3]).outputs
    four = harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch).outputs
    assert len(one[0]) == 1 and one[1] == one[0][0]
    assert one[0][0] == pytest.approx(four[0][2], abs=1e-5)  # a score does not depend on its batch


def test_batched_path_with_progress_per_unet_call(nodes, sd1_model, batch, monkeypatch):
    utils = sys.modules["comfy.utils"]
    calls = []
    monkeypatch.setattr(utils, "PROGRESS_BAR_HOOK", lambda value, total, preview, node_id=None: calls.append((value, total)))
    scorer = sd1_model.scorer
    seen = []
    original = type(scorer).score_each
    monkeypatch.setattr(type(scorer), "score_each", lambda self, images, **kw: seen.append(len(images)) or original(self, images, **kw))
    harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch)
    assert seen == [4]  # the whole batch in one call to core's batched path
    rows = 4 * scorer.rows_per_image
    assert calls[-1] == (rows, rows) and len(calls) >= 4
    assert [v for v, _ in calls] == sorted(v for v, _ in calls)


def test_cancel_stops_the_node(nodes, sd1_model, batch):
    mm = sys.modules["comfy.model_management"]
    mm.interrupt_current_processing(True)
    with pytest.raises(mm.InterruptProcessingException):
        harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch)
    assert not mm.processing_interrupted()  # ComfyUI clears the flag once it has raised


def test_cancel_between_unet_calls(nodes, sd1_model, batch, monkeypatch):
    mm = sys.modules["comfy.model_management"]
    utils = sys.modules["comfy.utils"]
    # The user presses Cancel while the first image is being scored.
    monkeypatch.setattr(utils, "PROGRESS_BAR_HOOK", lambda value, total, preview, node_id=None: value and mm.interrupt_current_processing(True))
    with pytest.raises(mm.InterruptProcessingException):
        harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch)


def test_too_small_images_say_what_to_do(nodes, sd1_model, batch):
    with pytest.raises(ValueError) as err:
        harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch[:2, :8, :8])
    message = str(err.value)
    assert message.startswith("GenzIQA Score: 2 of 2 images could not be scored")
    assert "is 8x8 pixels" in message and "Upscale the images" in message


def test_wrong_wire_is_named(nodes, batch):
    with pytest.raises(ValueError, match=r"genziqa_model: expected the output of Load GenzIQA, got dict"):
        harness.call_node(nodes["GenzIQAScore"], genziqa_model={}, images=batch)
