"""Prompt construction and the explicit text-encoder pass (METHOD 1.3)."""

import pytest
import torch

from genziqa.core.backbone import load_backbone
from genziqa.core.prompts import PromptLearner, encode_text


@pytest.mark.parametrize("family", ["sd1", "sd2"])
def test_explicit_encoder_matches_transformers_with_padding_mask(family, request, tiny_config):
    bb = load_backbone(request.getfixturevalue(f"tiny_{family}_dir"))
    prompts = PromptLearner(bb.tokenizer, bb.width, tiny_config, zero_shot=True)
    with torch.no_grad():
        ours = encode_text(bb.text_encoder, prompts.input_ids, prompts.attention_mask)
        theirs = bb.text_encoder(prompts.input_ids, attention_mask=prompts.attention_mask).last_hidden_state
        unmasked = encode_text(bb.text_encoder, prompts.input_ids, torch.ones_like(prompts.attention_mask))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    real = prompts.attention_mask.bool()
    # Real tokens never see padding (causal), but padding positions do change: the mask matters.
    torch.testing.assert_close(ours[real], unmasked[real])
    assert (ours[~real] - unmasked[~real]).abs().max() > 1e-3


def test_context_vectors_replace_the_placeholders(tiny_sd2_dir, tiny_config):
    bb = load_backbone(tiny_sd2_dir)
    learner = PromptLearner(bb.tokenizer, bb.width, tiny_config, zero_shot=False)
    assert learner.ctx.shape == (16, bb.width)
    assert float(learner.ctx.detach().std()) == pytest.approx(0.02, rel=0.25)
    good, bad = learner.tokens
    assert good[1:17] == ("x</w>",) * 16 and good[17:21] == ("good</w>", "photo</w>", ".</w>", "<|endoftext|>")
    assert bad[17] == "bad</w>"
    with torch.no_grad():
        base = learner(bb.text_encoder)
        learner.ctx[3] += torch.randn(bb.width, generator=torch.Generator().manual_seed(0))  # not a constant: LayerNorm would cancel it
        moved = learner(bb.text_encoder)
    # Causal attention: tokens before the changed context vector are untouched, later ones move.
    torch.testing.assert_close(base[:, :4], moved[:, :4])
    assert (base[:, 4:] - moved[:, 4:]).abs().max() > 1e-3


def test_zero_shot_prompts_are_plain(tiny_sd1_dir, tiny_config):
    bb = load_backbone(tiny_sd1_dir)
    learner = PromptLearner(bb.tokenizer, bb.width, tiny_config, zero_shot=True)
    assert learner.ctx is None
    assert learner.tokens[0][:5] == ("<|startoftext|>", "good</w>", "photo</w>", ".</w>", "<|endoftext|>")
    assert learner.tokens[1][1] == "bad</w>"


def test_families_pad_differently(tiny_sd1_dir, tiny_sd2_dir, tiny_config):
    pads = []
    for folder in (tiny_sd1_dir, tiny_sd2_dir):
        bb = load_backbone(folder)
        learner = PromptLearner(bb.tokenizer, bb.width, tiny_config, zero_shot=True)
        assert len(learner.tokens[0]) == 77
        pads.append(learner.tokens[0][-1])
    assert pads == ["<|endoftext|>", "!"]


def test_multi_token_placeholder_is_refused(tiny_sd1_dir, tiny_config):
    from dataclasses import replace

    bb = load_backbone(tiny_sd1_dir)
    with pytest.raises(ValueError, match="single-token placeholder"):
        PromptLearner(bb.tokenizer, bb.width, replace(tiny_config, placeholder="xylophonist"), zero_shot=False)
