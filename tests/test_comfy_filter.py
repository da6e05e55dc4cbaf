"""GenzIQA Filter: kept and rejected sides, latents and masks aligned, empty sides skipped."""

from pathlib import Path

import pytest
import torch

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
comfy_root, host, pack, nodes, sd1_model, batch = fx.comfy_root, fx.host, fx.pack, fx.nodes, fx.sd1_model, fx.batch
KEPT, REJECTED = slice(0, 4), slice(4, 8)


@pytest.fixture(scope="module")
def scored(nodes, sd1_model, batch):
    return harness.call_node(nodes["GenzIQAScore"], genziqa_model=sd1_model, images=batch).outputs[2]


def tagged_extras(n):
    """A latent and a mask whose row i is filled with i, so alignment can be read back."""
    rows = torch.arange(n, dtype=torch.float32)
    latent = {"samples": rows.view(n, 1, 1, 1).expand(n, 4, 12, 16).clone(),
              "noise_mask": rows.view(n, 1, 1, 1).expand(n, 1, 96, 128).clone(), "batch_index": [10 + i for i in range(n)]}
    mask = rows.view(n, 1, 1).expand(n, 96, 128).clone()
    return latent, mask


def run_filter(nodes, images, **inputs):
    defaults = dict(mode="best fraction", threshold=0.0, fraction=0.5)
    return harness.call_node(nodes["GenzIQAFilter"], images=images, **{**defaults, **inputs})


def rows_of(side, images):
    """Which original rows a side's images, latent, mask and scores came from."""
    out_images, latent, mask, scores = side
    picked = [next(j for j in range(images.shape[0]) if torch.equal(img, images[j])) for img in out_images]
    assert [int(v) for v in latent["samples"][:, 0, 0, 0]] == picked
    assert [int(v) for v in latent["noise_mask"][:, 0, 0, 0]] == picked
    assert latent["batch_index"] == [10 + i for i in picked]
    assert [int(v) for v in mask[:, 0, 0]] == picked
    return picked, scores


def test_best_fraction_keeps_the_best_and_everything_stays_aligned(nodes, batch, scored):
    latent, mask = tagged_extras(4)
    run = run_filter(nodes, batch, fraction=0.5, genziqa_scores=scored, latent=latent, mask=mask)
    kept, kept_scores = rows_of(run.outputs[KEPT], batch)
    rejected, rejected_scores = rows_of(run.outputs[REJECTED], batch)
    best_two = sorted(range(4), key=lambda i: -scored.scores[i])[:2]
    assert kept == sorted(best_two) and rejected == sorted(set(range(4)) - set(best_two))
    assert kept_scores.scores == tuple(scored.scores[i] for i in kept)
    assert rejected_scores.scores == tuple(scored.scores[i] for i in rejected)
    assert kept_scores.model == scored.model == "zero-shot · tiny_sd1.safetensors"
    text = run.outputs[8]
    assert run.ui == {"text": [text]} and text.startswith("2 of 4 images passed (best 50%)")


def test_threshold_with_the_model_scores_here(nodes, batch, scored, sd1_model):
    cut = sorted(scored.scores)[1]  # the second-lowest score: three pass
    run = run_filter(nodes, batch, mode="score >= threshold", threshold=cut, genziqa_model=sd1_model)
    assert run.outputs[0].shape[0] == 3 and run.outputs[4].shape[0] == 1
    assert min(run.outputs[3].scores) >= cut > run.outputs[7].scores[0]
    assert run.outputs[8].startswith(f"3 of 4 images passed (score >= {cut:g})")


def test_all_rejected_skips_the_kept_side_without_an_error(nodes, host, batch, scored):
    blocker = harness.blocker_type()
    latent, mask = tagged_extras(4)
    run = run_filter(nodes, batch, mode="score >= threshold", threshold=999.0, genziqa_scores=scored, latent=latent, mask=mask)
    assert all(isinstance(v, blocker) and v.message is None for v in run.outputs[KEPT])  # silent: no error
    assert run.outputs[4].shape[0] == 4 and rows_of(run.outputs[REJECTED], batch)[0] == [0, 1, 2, 3]
    assert run.outputs[8].startswith("none of 4 images passed (score >= 999): the kept outputs are empty")
    # What ComfyUI then does with the nodes fed by the kept side: they do not run.
    saved = harness.call_node(nodes["GenzIQASaveImage"], images=run.outputs[0], genziqa_scores=run.outputs[3],
                              filename_prefix="never", score_in_filename=False)
    assert not saved.ran and not list(Path(host.get_output_directory()).glob("never*"))


def test_all_kept_skips_the_rejected_side(nodes, batch, scored):
    blocker = harness.blocker_type()
    run = run_filter(nodes, batch, fraction=1.0, genziqa_scores=scored)
    assert torch.equal(run.outputs[0], batch)
    assert all(isinstance(v, blocker) for v in run.outputs[REJECTED])
    assert "none rejected" in run.outputs[8]


def test_batch_of_one(nodes, batch, scored):
    one = scored.take([2])
    run = run_filter(nodes, batch[2:3], fraction=0.01, genziqa_scores=one)  # any fraction > 0 keeps one of one
    assert torch.equal(run.outputs[0], batch[2:3]) and run.outputs[3].scores == one.scores
    run = run_filter(nodes, batch[2:3], fraction=0.0, genziqa_scores=one)
    assert isinstance(run.outputs[0], harness.blocker_type()) and torch.equal(run.outputs[4], batch[2:3])


def test_extras_not_connected_are_skipped_not_faked(nodes, batch, scored):
    blocker = harness.blocker_type()
    run = run_filter(nodes, batch, genziqa_scores=scored)
    assert isinstance(run.outputs[1], blocker) and isinstance(run.outputs[2], blocker)
    assert run.outputs[0].shape[0] == 2


def test_one_shared_mask_stays_shared(nodes, batch, scored):
    mask = torch.full((96, 128), 0.25)
    run = run_filter(nodes, batch, genziqa_scores=scored, mask=mask)
    assert torch.equal(run.outputs[2], mask) and torch.equal(run.outputs[6], mask)


def test_misaligned_inputs_are_refused_with_their_names(nodes, batch, scored):
    latent, mask = tagged_extras(3)
    with pytest.raises(ValueError, match=r"latent: holds 3 samples but images holds 4"):
        run_filter(nodes, batch, genziqa_scores=scored, latent=latent)
    with pytest.raises(ValueError, match=r"mask: holds 3 masks but images holds 4"):
        run_filter(nodes, batch, genziqa_scores=scored, mask=mask)
    with pytest.raises(ValueError, match=r"genziqa_scores holds 2 scores but images holds 4"):
        run_filter(nodes, batch, genziqa_scores=scored.take([0, 1]))
    with pytest.raises(ValueError, match=r"connect either genziqa_model .* or genziqa_scores"):
        run_filter(nodes, batch)
