"""The weights format: bit-exact round trip, clear refusals."""

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

import genziqa
from genziqa.core.checkpoint import WeightsError, load_weights, save_weights


def test_round_trip_is_bit_exact(trained_sd2, tmp_path):
    first = load_weights(trained_sd2)
    again = load_weights(save_weights(tmp_path / "copy", ctx=first.ctx, lora={**first.lora}, config=first.config,
                                      backbone=first.backbone, training=first.training))
    assert torch.equal(first.ctx, again.ctx)
    assert first.lora.keys() == again.lora.keys() and all(torch.equal(first.lora[k], again.lora[k]) for k in first.lora)
    assert again.config == first.config and again.backbone == first.backbone
    assert (tmp_path / "copy" / "genziqa.safetensors").read_bytes() == (trained_sd2 / "genziqa.safetensors").read_bytes()


def test_file_layout_is_documented_naming(trained_sd2):
    tensors = load_file(str(trained_sd2 / "genziqa.safetensors"))
    assert tensors["prompt.ctx"].shape == (16, 48) and tensors["prompt.ctx"].dtype == torch.float32
    lora = [k for k in tensors if k != "prompt.ctx"]
    assert len(lora) == 128 and all(k.startswith("unet.") and ".attn2." in k for k in lora)
    assert "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.lora_A.weight" in tensors
    meta = json.loads((trained_sd2 / "config.json").read_text())
    assert meta["format"] == "genziqa" and meta["method"]["lse_lambda"] == 0.14
    assert meta["backbone"]["family"] == "sd2" and meta["backbone"]["width"] == 48


def test_trained_weights_load_their_backbone_and_score_reproducibly(trained_sd2, photos):
    scorer = genziqa.load(trained_sd2)  # backbone taken from the weights' config.json
    assert scorer.config.resolution == 64 and not scorer.zero_shot
    assert scorer.score(photos[:2]) == genziqa.load(trained_sd2).score(photos[:2])
    zero = genziqa.load(backbone=scorer.backbone.source, config=scorer.config).score(photos[:1])
    assert zero[0] != scorer.score(photos[:1])[0]


def test_width_mismatch_names_the_backbone(trained_sd1, tiny_sd2_dir):
    with pytest.raises(WeightsError, match=r"width 32.*tiny-sd1.*width 48"):
        genziqa.load(trained_sd1, backbone=str(tiny_sd2_dir))


def test_self_attention_adapters_are_accepted_and_ignored(trained_sd2, tmp_path, photos):
    tensors = load_file(str(trained_sd2 / "genziqa.safetensors"))
    extra = dict(tensors)
    extra["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight"] = torch.randn(4, 32)
    extra["unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight"] = torch.zeros(32, 4)
    folder = tmp_path / "with_attn1"
    folder.mkdir()
    save_file(extra, str(folder / "genziqa.safetensors"))
    (folder / "config.json").write_text((trained_sd2 / "config.json").read_text())
    assert genziqa.load(folder).score(photos[:1]) == genziqa.load(trained_sd2).score(photos[:1])


def test_config_override_is_refused(trained_sd2):
    cfg = load_weights(trained_sd2).config
    with pytest.raises(WeightsError, match="lse_lambda"):
        genziqa.load(trained_sd2, config=replace(cfg, lse_lambda=0.5))


def test_bad_weight_folders(tmp_path, trained_sd2):
    with pytest.raises(WeightsError, match="no genziqa.safetensors"):
        load_weights(tmp_path)
    with pytest.raises(WeightsError, match="do not exist"):
        load_weights(tmp_path / "missing")
    # "run/best" before training has written it reads as a hub id too; offline, both readings are named.
    with pytest.raises(WeightsError, match=r"'run/best': no such folder here .*hub repo id.*OUT/best"):
        load_weights("run/best")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "genziqa.safetensors").write_bytes(b"junk")
    (broken / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(WeightsError, match="not a genziqa config"):
        load_weights(broken)
    (broken / "config.json").write_text((trained_sd2 / "config.json").read_text())
    with pytest.raises(WeightsError, match="cannot read"):
        load_weights(broken)
    missing_lora = tmp_path / "missing_lora"
    missing_lora.mkdir()
    tensors = load_file(str(trained_sd2 / "genziqa.safetensors"))
    save_file({k: v for k, v in tensors.items() if "up_blocks" not in k}, str(missing_lora / "genziqa.safetensors"))
    (missing_lora / "config.json").write_text((trained_sd2 / "config.json").read_text())
    with pytest.raises(ValueError, match="do not fit"):
        genziqa.load(missing_lora)


def test_version_1_files_still_load_and_their_training_knobs_move_out_of_the_method(trained_sd2, tmp_path, photos):
    import shutil

    old = shutil.copytree(trained_sd2, tmp_path / "v1")
    meta = json.loads((old / "config.json").read_text())
    assert meta["format_version"] == 2 and "lr" not in meta["method"] and "resize" in meta["method"]
    # What genziqa 0.1 wrote: format 1, training knobs inside "method", no resize option yet.
    meta["format_version"] = 1
    meta["method"].pop("resize")
    meta["method"].update({"train_max_timestep": 100, "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.01,
                           "adam_eps": 1e-8, "grad_clip": 1.0, "batch_size": 16, "epochs": 10})
    (old / "config.json").write_text(json.dumps(meta))
    weights = load_weights(old)
    assert weights.config == load_weights(trained_sd2).config
    assert weights.training["lr"] == 1e-4 and weights.training["batch_size"] == 16
    assert genziqa.load(old).score(photos[:1]) == genziqa.load(trained_sd2).score(photos[:1])


def test_a_weights_file_that_is_not_ours_names_what_to_pass(tmp_path):
    other = tmp_path / "model.safetensors"
    save_file({"x": torch.ones(1)}, str(other))
    with pytest.raises(WeightsError, match="is a file, not genziqa weights: pass the folder"):
        load_weights(other)


def test_resolution_option_with_trained_weights(trained_sd2):
    # The weights' own resolution is accepted as given; another one is refused with the one to use.
    assert genziqa.prepare(trained_sd2, resolution=64).config == load_weights(trained_sd2).config
    with pytest.raises(WeightsError, match="trained at 64 px and only work there. Leave resolution unset"):
        genziqa.prepare(trained_sd2, resolution=128)
