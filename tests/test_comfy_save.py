"""Save Image With Quality: Save Image's files and metadata plus a readable genziqa chunk."""

import json
import sys
from pathlib import Path

import pytest

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model, batch = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model, fx.batch
PROMPT = {"3": {"class_type": "GenzIQAScore", "inputs": {}}}
WORKFLOW = {"workflow": {"nodes": [], "links": []}}


@pytest.fixture(scope="module")
def scored(nodes, sd1_model, batch):
    return harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch[:2]).outputs[2]


def save(nodes, images, scores, **inputs):
    return harness.call_node(nodes["GenzIQASaveImage"], hidden={"PROMPT": PROMPT, "EXTRA_PNGINFO": WORKFLOW},
                             images=images, genziqa_scores=scores, **{"filename_prefix": "GenzIQA", "score_in_filename": False, **inputs})


def files_of(host, run):
    return [Path(host.get_output_directory()) / e["subfolder"] / e["filename"] for e in run.ui["images"]]


def test_png_chunks_read_back(nodes, host, batch, scored):
    from PIL import Image

    import genziqa

    run = save(nodes, batch[:2], scored, filename_prefix="quality/run")
    assert [e["type"] for e in run.ui["images"]] == ["output", "output"]
    files = files_of(host, run)
    assert [f.name for f in files] == ["run_00001_.png", "run_00002_.png"]
    for i, path in enumerate(files):
        png = Image.open(path)
        assert png.size == (128, 96)
        assert json.loads(png.text["prompt"]) == PROMPT and json.loads(png.text["workflow"]) == WORKFLOW["workflow"]
        chunk = json.loads(png.text["genziqa"])
        assert chunk == {"score": scored.scores[i], "model": "zero-shot · tiny_sd1.safetensors", "zero_shot": True,
                         "backbone": "tiny_sd1.safetensors", "weights": "zero-shot", "run": scored.run,
                         "genziqa_version": genziqa.__version__}
    # Numbering continues as Save Image's does; the score can go into the name.
    again = files_of(host, save(nodes, batch[:2], scored, filename_prefix="quality/run", score_in_filename=True))
    assert [f.name for f in again] == [f"run_00003_{scored.scores[0]:.4f}_.png", f"run_00004_{scored.scores[1]:.4f}_.png"]
    third = files_of(host, save(nodes, batch[:1], scored.take([0]), filename_prefix="quality/run"))
    assert third[0].name == "run_00005_.png"


def test_disable_metadata_drops_prompt_and_workflow_keeps_quality(nodes, host, batch, scored, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(sys.modules["comfy.cli_args"].args, "disable_metadata", True)
    (path,) = files_of(host, save(nodes, batch[:1], scored.take([1]), filename_prefix="private"))
    text = Image.open(path).text
    assert set(text) == {"genziqa"} and json.loads(text["genziqa"])["score"] == scored.scores[1]


def test_scores_that_do_not_belong_are_refused(nodes, batch, scored):
    with pytest.raises(ValueError, match=r"genziqa_scores holds 2 scores but images holds 3"):
        save(nodes, batch[:3], scored)
    with pytest.raises(Exception, match=r"outside the output folder"):
        save(nodes, batch[:2], scored, filename_prefix="../escape")
