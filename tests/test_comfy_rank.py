"""GenzIQA Rank: sorted by score either way, top k, latents and masks in the same order."""

from pathlib import Path

import pytest
import torch

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model, batch = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model, fx.batch


@pytest.fixture(scope="module")
def scored(nodes, sd1_model, batch):
    return harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch).outputs[2]


def tagged_extras(n):
    rows = torch.arange(n, dtype=torch.float32)
    latent = {"samples": rows.view(n, 1, 1, 1).expand(n, 4, 12, 16).clone(), "batch_index": list(range(n))}
    return latent, rows.view(n, 1, 1).expand(n, 96, 128).clone()


@pytest.mark.parametrize("order, top_k", [("best first", 0), ("worst first", 0), ("best first", 2), ("worst first", 1)])
def test_order_and_top_k_keep_extras_aligned(nodes, batch, scored, order, top_k):
    latent, mask = tagged_extras(4)
    run = harness.call_node(nodes["GenzIQARank"], images=batch, order=order, top_k=top_k, genziqa_scores=scored,
                            latent=latent, mask=mask)
    images, out_latent, out_mask, ranked, numbers, text = run.outputs
    expected = sorted(range(4), key=lambda i: scored.scores[i], reverse=order == "best first")[: top_k or 4]
    assert torch.equal(images, batch[expected])
    assert [int(v) for v in out_latent["samples"][:, 0, 0, 0]] == expected == out_latent["batch_index"]
    assert [int(v) for v in out_mask[:, 0, 0]] == expected
    assert ranked.scores == tuple(numbers) == tuple(scored.scores[i] for i in expected)
    assert text.splitlines()[1] == f"1. #{expected[0]}  {scored.scores[expected[0]]:.4f}"


def test_scores_here_with_the_model_and_a_batch_of_one(nodes, batch, sd1_model):
    run = harness.call_node(nodes["GenzIQARank"], images=batch[1:2], order="best first", top_k=5, genziqa_model=sd1_model)
    assert torch.equal(run.outputs[0], batch[1:2]) and len(run.outputs[4]) == 1
    assert isinstance(run.outputs[1], harness.blocker_type())  # no latent connected: nothing fake downstream
    assert nodes["GenzIQARank"].OUTPUT_IS_LIST[4] is True


def test_the_ranked_scores_feed_the_save_node_in_the_new_order(nodes, batch, scored, host):
    from PIL import Image

    ranked = harness.call_node(nodes["GenzIQARank"], images=batch, order="best first", top_k=2, genziqa_scores=scored)
    saved = harness.call_node(nodes["GenzIQASaveImage"], images=ranked.outputs[0], genziqa_scores=ranked.outputs[3],
                              filename_prefix="ranked/top", score_in_filename=True)
    files = [Path(host.get_output_directory()) / e["subfolder"] / e["filename"] for e in saved.ui["images"]]
    best = max(scored.scores)
    assert files[0].name == f"top_00001_{best:.4f}_.png"
    import json

    assert json.loads(Image.open(files[0]).text["genziqa"])["score"] == best
