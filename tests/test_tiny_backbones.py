"""The tiny backbones are well formed, and the single-file writer is exactly what diffusers reads."""

import json

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    create_diffusers_clip_model_from_ldm,
)
from safetensors.torch import load_file
from transformers import CLIPTextModel, CLIPTokenizer

FAMILIES = ["sd1", "sd2"]


@pytest.fixture(params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture
def folder(family, request):
    return request.getfixturevalue(f"tiny_{family}_dir")


@pytest.fixture
def single_file(family, request):
    return request.getfixturevalue(f"tiny_{family}_file")


def _assert_same_state(loaded: torch.nn.Module, reference: torch.nn.Module) -> None:
    got, want = loaded.state_dict(), reference.state_dict()
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].device.type != "meta", f"{key} was never loaded"
        assert got[key].dtype == value.dtype, key
        assert torch.equal(got[key], value), f"{key} differs"


def _attn2_count(unet) -> int:
    return sum(1 for name, _ in unet.named_modules() if name.endswith("attn2"))


# --------------------------------------------------------------------------------------------
# The diffusers folders
# --------------------------------------------------------------------------------------------


def test_folder_layout(folder, family):
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]
    assert index["requires_safety_checker"] is False
    for sub, weights in [("unet", "diffusion_pytorch_model.safetensors"),
                         ("vae", "diffusion_pytorch_model.safetensors"),
                         ("text_encoder", "model.safetensors")]:
        assert (folder / sub / weights).is_file()
        assert (folder / sub / "config.json").is_file()
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert sched["_class_name"] == "PNDMScheduler"
    assert (sched["beta_start"], sched["beta_end"], sched["beta_schedule"]) == (0.00085, 0.012, "scaled_linear")
    assert sched["num_train_timesteps"] == 1000 and sched["prediction_type"] == "epsilon"


def test_v_prediction_folder(tiny_sd2v_dir, tiny_sd2_dir):
    sched = json.loads((tiny_sd2v_dir / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"
    # Same seed, same weights: only the prediction type differs.
    a = load_file(str(tiny_sd2v_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tiny_sd2_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_tokenizer_pads_per_family(folder, family):
    tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    ids = tok("a photo of a cat", padding="max_length", max_length=tok.model_max_length).input_ids
    assert len(ids) == 77 and ids[0] == 49406 and ids[6] == 49407
    assert ids[-1] == (49407 if family == "sd1" else 0)  # SD1 pads with <|endoftext|>, SD2 with "!"


@torch.no_grad()
def test_models_run_and_depend_on_inputs(folder, family):
    unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet")
    vae = AutoencoderKL.from_pretrained(str(folder), subfolder="vae")
    text = CLIPTextModel.from_pretrained(str(folder / "text_encoder"))
    width = {"sd1": 32, "sd2": 48}[family]

    assert _attn2_count(unet) == 16
    assert unet.config.cross_attention_dim == width == text.config.hidden_size
    assert isinstance(unet.config.attention_head_dim, int if family == "sd1" else list)

    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    latents = vae.encode(image).latent_dist.mean * vae.config.scaling_factor
    assert latents.shape == (1, 4, 8, 8)
    assert torch.isfinite(vae.decode(latents / vae.config.scaling_factor).sample).all()

    ids = torch.randint(0, 49406, (2, 77), generator=g)
    states = text(ids).last_hidden_state
    assert states.shape == (2, 77, width)
    assert not torch.allclose(states[0], states[1])

    noisy = latents.repeat(2, 1, 1, 1)
    out = unet(noisy, torch.tensor([500, 500]), encoder_hidden_states=states).sample
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()
    assert out.abs().mean() > 1e-3
    assert (out[0] - out[1]).abs().max() > 1e-3, "the prompt must change the UNet output"
    out_t = unet(noisy, torch.tensor([100, 100]), encoder_hidden_states=states).sample
    assert (out_t - out).abs().max() > 1e-3, "the timestep must change the UNet output"


# --------------------------------------------------------------------------------------------
# The single-file writer against diffusers' own readers
# --------------------------------------------------------------------------------------------


def test_single_file_keys(single_file, family):
    sd = load_file(str(single_file))
    assert "model.diffusion_model.output_blocks.11.0.skip_connection.weight" in sd
    assert "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight" in sd
    assert "model.diffusion_model.output_blocks.2.1.conv.weight" in sd  # UpBlock2D upsampler
    assert "model.diffusion_model.output_blocks.5.2.conv.weight" in sd  # cross-attn upsampler
    assert sd["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4
    assert sd["first_stage_model.decoder.mid.attn_1.proj_out.weight"].shape[2:] == (1, 1)
    assert sd["alphas_cumprod"].shape == (1000,)
    assert "v_pred" not in sd
    if family == "sd1":
        assert "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in sd
        assert not any(k.startswith("cond_stage_model.model.") for k in sd)
    else:
        prefix = "cond_stage_model.model.transformer.resblocks."
        blocks = {int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix)}
        assert blocks == {0, 1, 2, 3}  # one more than the 3 layers the text encoder uses
        assert sd["cond_stage_model.model.text_projection"].shape == (48, 48)
        assert "cond_stage_model.model.logit_scale" in sd
        assert not any(k.startswith("cond_stage_model.transformer.") for k in sd)


def test_v_pred_key(tiny_sd2v_file):
    sd = load_file(str(tiny_sd2v_file))
    assert sd["v_pred"].numel() == 0


def test_unet_round_trip(single_file, folder):
    ref = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet")
    ckpt = load_file(str(single_file))
    converted = convert_ldm_unet_checkpoint(ckpt, dict(ref.config))
    assert set(converted) == set(ref.state_dict())

    unet = UNet2DConditionModel.from_single_file(
        str(single_file), config=str(folder), subfolder="unet", local_files_only=True
    )
    _assert_same_state(unet, ref)
    assert _attn2_count(unet) == 16


def test_vae_round_trip(single_file, folder):
    ref = AutoencoderKL.from_pretrained(str(folder), subfolder="vae")
    ckpt = load_file(str(single_file))
    converted = convert_ldm_vae_checkpoint(ckpt, dict(ref.config))
    assert set(converted) == set(ref.state_dict())

    vae = AutoencoderKL.from_single_file(str(single_file), config=str(folder), subfolder="vae", local_files_only=True)
    _assert_same_state(vae, ref)


def test_text_encoder_round_trip(single_file, folder, family):
    ref = CLIPTextModel.from_pretrained(str(folder / "text_encoder"))
    ckpt = load_file(str(single_file))
    text = create_diffusers_clip_model_from_ldm(
        CLIPTextModel, ckpt, subfolder="text_encoder", config=str(folder), local_files_only=True
    )
    _assert_same_state(text, ref)
    ids = torch.randint(0, 49406, (1, 77), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(text(ids).last_hidden_state, ref(ids).last_hidden_state)
