"""GenzIQA Heatmap: overlay and mask at the images' own size, previewed on the node."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model, batch = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model, fx.batch


def heatmap(nodes, model, images, **inputs):
    return harness.call_node(nodes["GenzIQAHeatmap"], genziqa_model=model, images=images,
                             **{"map": "quality", "colormap": "auto", "alpha": 0.5, **inputs})


def test_quality_map_overlay_and_mask_at_image_size(nodes, sd1_model, batch, host):
    from genziqa.core import heatmaps

    images = batch[:2]
    run = heatmap(nodes, sd1_model, images)
    overlay, mask, text = run.outputs
    assert overlay.shape == images.shape and overlay.dtype == torch.float32
    assert mask.shape == (2, 96, 128) and 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    # The same numbers as core's own analysis of the first image.
    analysis = sd1_model.scorer.analyze(images[0].permute(2, 0, 1))
    q = analysis.quality_map()
    expected = np.clip(1.0 - 2.0 * heatmaps.normalize(q, symmetric=True), 0, 1)
    assert np.allclose(mask[0].numpy(), expected, atol=1e-5)
    assert float(mask[0].max()) > 0.5  # somewhere the image pulls the score down
    picture = np.asarray(heatmaps.overlay((images[0].numpy() * 255).clip(0, 255).astype(np.uint8), q, alpha=0.5,
                                          cmap=heatmaps.QUALITY_CMAP, symmetric=True))
    assert np.abs(overlay[0].numpy() * 255 - picture).max() <= 1.0
    # Previewed on the node like Preview Image: files in the temp folder.
    assert [e["type"] for e in run.ui["images"]] == ["temp", "temp"]
    for entry in run.ui["images"]:
        assert (Path(host.get_temp_directory()) / entry["subfolder"] / entry["filename"]).is_file()
    assert text.splitlines()[1] == f"#0  score {analysis.score:.4f}"


@pytest.mark.parametrize("choice, word", [("Good", "good"), ("Bad", "bad"), ("Photo", "photo"), ("end", "<end>")])
def test_token_maps(nodes, sd1_model, batch, choice, word):
    from genziqa.core import heatmaps

    run = heatmap(nodes, sd1_model, batch[3:4], map=choice, colormap="viridis", alpha=1.0)
    overlay, mask, _ = run.outputs
    analysis = sd1_model.scorer.analyze(batch[3].permute(2, 0, 1))
    expected = heatmaps.normalize(analysis.token_map(word, "auto"))
    assert np.allclose(mask[0].numpy(), expected, atol=1e-5)
    colours = heatmaps.colorize(analysis.token_map(word, "auto"), "viridis")
    assert np.abs(overlay[0].numpy() * 255 - colours).max() <= 1.0  # alpha 1: the map alone


def test_context_tokens_come_with_trained_weights(nodes, batch):
    trained = harness.call_node(nodes["GenzIQALoader"], **{**fx.SD1, "backbone": "sd2/tiny_sd2.safetensors",
                                                          "backbone_config": "tiny-sd2", "weights": "trained-sd2"}).outputs[0]
    overlay, mask, text = heatmap(nodes, trained, batch[:1], map="context (X)").outputs
    assert mask.shape == (1, 96, 128) and text.startswith("GenzIQA context (X) map — genziqa:trained-sd2")


def test_context_tokens_of_a_zero_shot_model_are_explained(nodes, sd1_model, batch):
    with pytest.raises(ValueError, match=r"map='context \(X\)': .*zero-shot prompts have no context tokens.*'Good', 'Bad', 'Photo', 'end'"):
        heatmap(nodes, sd1_model, batch[:1], map="context (X)")


def test_progress_and_cancel_per_image(nodes, sd1_model, batch, monkeypatch):
    utils, mm = sys.modules["comfy.utils"], sys.modules["comfy.model_management"]
    calls = []
    monkeypatch.setattr(utils, "PROGRESS_BAR_HOOK", lambda value, total, preview, node_id=None: calls.append((value, total)))
    heatmap(nodes, sd1_model, batch[:2])
    rows = 2 * sd1_model.scorer.rows_per_image
    assert calls[-1] == (rows, rows) and all(t == rows for _, t in calls[1:])
    mm.interrupt_current_processing(True)
    with pytest.raises(mm.InterruptProcessingException):
        heatmap(nodes, sd1_model, batch[:2])


def test_small_images_and_wrong_choices_are_explained(nodes, sd1_model, batch):
    with pytest.raises(ValueError, match=r"GenzIQA Heatmap: image 0: is 8x8 pixels.*Upscale the images"):
        heatmap(nodes, sd1_model, batch[:1, :8, :8])
    with pytest.raises(ValueError, match=r"Value not in list: colormap"):
        heatmap(nodes, sd1_model, batch[:1], colormap="rainbowz")


def test_default_opacity_is_cores():
    from genziqa.comfy_nodes import heatmap
    from genziqa.core import heatmaps

    assert heatmap.DEFAULT_ALPHA == heatmaps.DEFAULT_ALPHA
