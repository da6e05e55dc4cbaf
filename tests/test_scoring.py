"""The batched scorer against the plain oracle, and the invariances a score must have."""

import json

import numpy as np
import pytest
import torch

import genziqa
from genziqa.core.config import GenzIQAConfig
import oracle
from genziqa.core.images import load_image, to_model_input


def _pixels(photo, resolution):
    return to_model_input([load_image(photo, "photo")], resolution)[0]


def _scheduler(folder):
    return json.loads((folder / "scheduler" / "scheduler_config.json").read_text())


@pytest.mark.parametrize("case", ["sd1", "sd2", "sd2v", "sd1-trained", "sd2-trained"])
def test_fast_path_matches_oracle(case, request, tiny_config, photos):
    family = case.split("-")[0]
    folder = request.getfixturevalue(f"tiny_{family}_dir")
    weights = request.getfixturevalue(f"trained_{family}") if case.endswith("trained") else None
    scorer = genziqa.load(weights, backbone=str(folder), config=None if weights else tiny_config, unet_rows=5)
    assert scorer.zero_shot is (weights is None)
    for photo in photos[:2]:
        fast = scorer.analyze(photo)
        plain = oracle.oracle_score(scorer, _pixels(photo, tiny_config.resolution), _scheduler(folder))
        order = [plain["layer_names"].index(n) for n in fast.layer_names]
        torch.testing.assert_close(torch.tensor(fast.layer_stats, dtype=torch.float64),
                                   plain["layer_stats"][:, order], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(torch.tensor(fast.error_gap, dtype=torch.float64), plain["error_gap"],
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(torch.tensor(fast.per_timestep, dtype=torch.float64), plain["per_timestep"],
                                   rtol=1e-4, atol=1e-5)
        assert fast.score == pytest.approx(plain["score"], rel=1e-4, abs=1e-5)
        assert scorer.score([photo])[0] == pytest.approx(fast.score, rel=1e-5, abs=1e-6)


def test_trained_score_carries_the_log_pixel_constant(trained_sd2, photos):
    scorer = genziqa.load(trained_sd2)
    analysis = scorer.analyze(photos[0])
    # mean_l m_l >= mean_l log(N_l)/lambda, since the soft max over N_l pixels is at least their mean.
    assert analysis.layer_stats.shape == (8, 16)
    assert analysis.score == pytest.approx(float(analysis.per_timestep.mean()), rel=1e-6)
    assert not analysis.zero_shot and analysis.model.startswith("genziqa:")


def test_scores_do_not_depend_on_batch_size_or_neighbours(tiny_sd2_dir, tiny_config, photos):
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, unet_rows=16)
    alone = [scorer.score([p])[0] for p in photos]
    for unet_rows in (1, 3, 16, 64):
        scorer.unet_rows = unet_rows
        together = scorer.score(photos)
        np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
        reversed_order = scorer.score(photos[::-1])[::-1]
        np.testing.assert_allclose(reversed_order, alone, rtol=1e-5, atol=1e-6)
    # Different photos really score differently, so the checks above can fail.
    assert len({round(s, 4) for s in alone}) == len(alone)


def test_on_cpu_neighbours_do_not_move_a_score_by_a_single_bit(tiny_sd2_dir, tiny_config, photos):
    # The VAE encodes one image per call and, at the CPU default of 4 rows, a UNet call never
    # mixes images: a score is then bit-identical alone or in any batch.
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu")
    assert scorer.unet_rows == 4
    alone = [scorer.score([p])[0] for p in photos]
    assert scorer.score(photos) == alone
    assert scorer.score(photos[::-1])[::-1] == alone


def test_pil_resize_parity_option_is_the_authors_8_bit_resize(photos):
    from PIL import Image

    image = load_image(photos[1], "chelsea")  # 451 x 300
    ours = to_model_input([image], 64, resize="pil")[0]
    expected = np.asarray(Image.fromarray(photos[1]).resize((64, 64), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    np.testing.assert_array_equal(ours.permute(1, 2, 0).numpy(), expected)
    default = to_model_input([image], 64)[0]
    assert 0 < float((default - ours).abs().max()) < 0.2  # a real, small difference
    assert GenzIQAConfig().resize == "torch" and GenzIQAConfig().authors_parity().resize == "pil"


def test_pil_resize_changes_the_score_a_little(tiny_sd2_dir, tiny_config, photos):
    from dataclasses import replace

    torch_resize = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config).score(photos[:1])[0]
    pil_resize = genziqa.load(backbone=str(tiny_sd2_dir), config=replace(tiny_config, resize="pil")).score(photos[:1])[0]
    assert pil_resize != torch_resize and abs(pil_resize - torch_resize) < 0.05 * abs(torch_resize) + 1e-3


def test_scores_are_deterministic_across_loads(tiny_sd1_dir, tiny_config, photos):
    first = genziqa.load(backbone=str(tiny_sd1_dir), config=tiny_config).score(photos[:2])
    second = genziqa.load(backbone=str(tiny_sd1_dir), config=tiny_config).score(photos[:2])
    assert first == second


def test_noise_seed_changes_the_score(tiny_sd1_dir, tiny_config, photos):
    from dataclasses import replace

    a = genziqa.load(backbone=str(tiny_sd1_dir), config=tiny_config).score(photos[:1])
    b = genziqa.load(backbone=str(tiny_sd1_dir), config=replace(tiny_config, noise_seed=7)).score(photos[:1])
    assert a != b


def test_parity_options_change_the_latent(tiny_sd2_dir, tiny_config, photos):
    from genziqa.core.backbone import load_backbone

    plain = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config)
    parity = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config.authors_parity())
    px = to_model_input([load_image(photos[0], "p")], 64)
    z_plain, z_parity = plain.encode(px), parity.encode(px)
    bb = load_backbone(tiny_sd2_dir)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    dist = bb.vae.encode((px - mean) / std).latent_dist
    torch.testing.assert_close(z_plain, bb.vae.encode(px * 2 - 1).latent_dist.mode() * 0.18215)
    # The parity latent is a draw from the CLIP-normalised posterior: within a few std of its mean.
    deviation = (z_parity / 0.18215 - dist.mean) / dist.std
    assert 0.5 < float(deviation.std()) < 1.5
    # ... and the same draw for the same image every time (batch-independent).
    torch.testing.assert_close(parity.encode(torch.cat([px, px])), torch.cat([z_parity, z_parity]))


def test_lora_at_zero_init_equals_bare_backbone(tiny_sd2_dir, tiny_config, photos):
    from genziqa.core.backbone import load_backbone
    from genziqa.core.lora import add_lora, lora_state_dict

    bb = load_backbone(tiny_sd2_dir)
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(2, 77, bb.width, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([9, 93])
    with torch.no_grad():
        bare = bb.unet(z, t, encoder_hidden_states=ctx).sample
        add_lora(bb.unet, tiny_config)
        adapted = bb.unet(z, t, encoder_hidden_states=ctx).sample
    state = lora_state_dict(bb.unet)
    assert len(state) == 16 * 4 * 2  # 16 attn2 layers x (q, k, v, out) x (A, B)
    assert all(".attn2." in k for k in state)
    assert all(float(v.abs().max()) == 0 for k, v in state.items() if "lora_B" in k)
    a_std = torch.cat([v.flatten() for k, v in state.items() if "lora_A" in k]).std()
    assert float(a_std) == pytest.approx(1 / tiny_config.lora_rank, rel=0.1)  # A ~ N(0, (1/rank)^2)
    assert torch.equal(bare, adapted)


def test_capture_processors_restored_after_exception(tiny_sd2_dir, tiny_config, photos):
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config)
    unet = scorer.backbone.unet
    before = {k: type(v) for k, v in unet.attn_processors.items()}

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure inside the UNet")

    handle = unet.mid_block.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="simulated"):
        scorer.score(photos[:1])
    handle.remove()
    assert {k: type(v) for k, v in unet.attn_processors.items()} == before
    assert all("StatisticProcessor" not in type(v).__name__ for v in unet.attn_processors.values())
    assert scorer.score(photos[:1])[0] == pytest.approx(scorer.score(photos[:1])[0])


def test_bad_inputs_are_reported_and_the_rest_scored(tiny_sd1_dir, tiny_config, photos, tmp_path):
    scorer = genziqa.load(backbone=str(tiny_sd1_dir), config=tiny_config)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    tiny = np.zeros((4, 4, 3), np.uint8)
    nan = np.full((64, 64, 3), np.nan, np.float32)
    inputs = [photos[0], str(broken), tiny, str(tmp_path / "missing.png"), nan, photos[1]]
    results = scorer.score_each(inputs)
    assert [r.ok for r in results] == [True, False, False, False, False, True]
    assert "broken.jpg" in results[1].error and "missing.png" in results[3].error
    good = scorer.score([photos[0], photos[1]])
    assert [results[0].score, results[5].score] == pytest.approx(good, rel=1e-5)
    with pytest.raises(genziqa.BatchImageError) as info:
        scorer.score(inputs)
    assert len(info.value.failures) == 4 and info.value.scores[0] == pytest.approx(good[0], rel=1e-5)
    assert "broken.jpg" in str(info.value)


def test_zero_shot_is_labelled(tiny_sd2_dir, tiny_config):
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config)
    assert scorer.zero_shot and scorer.label.startswith("zero-shot")


def test_prompt_embeddings_are_computed_once(tiny_sd2_dir, tiny_config, photos, monkeypatch):
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config)
    assert scorer.backbone.text_encoder is None  # released after the one pass it was needed for
    calls = []
    monkeypatch.setattr(type(scorer.prompts), "forward", lambda *a: calls.append(1))
    scorer.score(photos[:2])
    assert calls == []


def test_pair_shared_self_attention_engages_and_changes_nothing(tiny_sd2_dir, tiny_config, photos, monkeypatch):
    from genziqa.core import attention

    made = []

    class Spy(attention.PairSharedAttention):
        def __init__(self, inner):
            super().__init__(inner)
            made.append(self)

    monkeypatch.setattr(attention, "PairSharedAttention", Spy)
    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, unet_rows=4)
    shared = scorer.score(photos[:2])
    assert made and made[-1].shared_calls == 2 * 16 // 4  # every call of 4 rows held 2 equal pairs
    scorer.unet_rows = 1  # single rows: nothing to share, the plain processor runs
    plain = scorer.score(photos[:2])
    assert made[-1].shared_calls == 0
    np.testing.assert_allclose(shared, plain, rtol=1e-5, atol=1e-6)


def test_pair_shared_attention_falls_back_when_rows_differ():
    from genziqa.core.attention import PairSharedAttention

    calls = []

    def inner(attn, hidden, *args, **kwargs):
        calls.append(hidden.shape[0])
        return hidden * 2

    proc = PairSharedAttention(inner)
    same = torch.ones(4, 3, 2)
    assert torch.equal(proc(None, same), same * 2) and calls == [2]
    differ = torch.arange(24.0).view(4, 3, 2)
    assert torch.equal(proc(None, differ), differ * 2) and calls == [2, 4]
    assert torch.equal(proc(None, differ[:3]), differ[:3] * 2) and calls == [2, 4, 3]


def test_merged_lora_equals_the_unmerged_side_path(tiny_sd2_dir, tiny_config, trained_sd2):
    from genziqa.core.backbone import load_backbone
    from genziqa.core.checkpoint import load_weights
    from genziqa.core.lora import add_lora, load_lora_state_dict, merge_lora

    bb = load_backbone(tiny_sd2_dir)
    add_lora(bb.unet, tiny_config)
    load_lora_state_dict(bb.unet, load_weights(trained_sd2).lora)
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(2, 77, bb.width, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([21, 81])
    with torch.no_grad():
        bare_weight = bb.unet.mid_block.attentions[0].transformer_blocks[0].attn2.to_k.base_layer.weight.clone()
        unmerged = bb.unet(z, t, encoder_hidden_states=ctx).sample
        assert merge_lora(bb.unet) == 16 * 4
        merged = bb.unet(z, t, encoder_hidden_states=ctx).sample
    after = bb.unet.mid_block.attentions[0].transformer_blocks[0].attn2.to_k.base_layer.weight
    assert not torch.equal(bare_weight, after)  # the adapters really were folded in
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)


def test_scorer_to_moves_and_keeps_scores(tiny_sd2_dir, tiny_config, photos):
    from genziqa.core.backbone import BackboneError

    scorer = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, device="cpu")
    before = scorer.score(photos[:1])
    assert scorer.to("cpu") is scorer and scorer.score(photos[:1]) == before
    if not torch.cuda.is_available():
        with pytest.raises(BackboneError, match="no CUDA GPU"):
            scorer.to("cuda")
        assert scorer.backbone.device.type == "cpu" and scorer.score(photos[:1]) == before
