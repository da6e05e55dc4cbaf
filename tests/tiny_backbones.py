"""Tiny random-weight Stable-Diffusion-like backbones, written in the layouts real users have.

Two layouts are produced:

* ``make_tiny_backbone`` writes a diffusers folder (``model_index.json`` plus ``unet/``,
  ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``), as downloaded from the Hub.
* ``write_single_file`` turns such a folder into one original-layout (LDM / CompVis)
  ``.safetensors`` checkpoint, as kept in ComfyUI's ``models/checkpoints``: the UNet under
  ``model.diffusion_model.``, the VAE under ``first_stage_model.``, and the text encoder under
  ``cond_stage_model.transformer.text_model.`` (SD 1.x, HF CLIP names) or
  ``cond_stage_model.model.`` (SD 2.x, OpenCLIP names, with one resblock more than the
  diffusers text encoder uses, as in the real files).

The models keep SD's structure (block types, two layers per block, 16 cross-attention layers,
a four-level VAE with 4 latent channels, CLIP's 49,408-token vocabulary and 77 positions) at a
width that runs a 64x64 image in well under a second on a CPU. Every parameter is redrawn after
construction so no layer is left zero-initialised (diffusers zeroes ``conv_out`` and friends),
and outputs depend on both the image and the prompt.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FAMILIES = ("sd1", "sd2")

# Tiny stand-ins for the real configs. Widths differ between the families on purpose, so code
# that mixes up the two text encoders fails loudly.
_TEXT = {
    "sd1": dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                hidden_act="quick_gelu"),
    "sd2": dict(hidden_size=48, intermediate_size=192, num_hidden_layers=3, num_attention_heads=3,
                hidden_act="gelu"),
}
_UNET_BLOCK_OUT = (32, 32, 64, 64)
_UNET = {
    # SD 1.x: an int `attention_head_dim`, which diffusers reads as the number of heads.
    "sd1": dict(attention_head_dim=8, use_linear_projection=False),
    # SD 2.x: one head count per block, for a constant head width (here 16, real SD2: 64).
    "sd2": dict(attention_head_dim=[2, 2, 4, 4], use_linear_projection=True),
}
_VAE_BLOCK_OUT = (8, 16, 16, 16)
_VAE_GROUPS = 4
_SCALING_FACTOR = 0.18215


def _configs_dir() -> Path:
    import genziqa.core

    return Path(genziqa.core.__file__).parent / "configs"


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")


# --------------------------------------------------------------------------------------------
# Building the diffusers folder
# --------------------------------------------------------------------------------------------


def _unet_config(family: str) -> dict:
    return dict(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        center_input_sample=False,
        flip_sin_to_cos=True,
        freq_shift=0,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=_UNET_BLOCK_OUT,
        layers_per_block=2,
        downsample_padding=1,
        mid_block_scale_factor=1,
        act_fn="silu",
        norm_num_groups=8,
        norm_eps=1e-5,
        cross_attention_dim=_TEXT[family]["hidden_size"],
        **_UNET[family],
    )


def _vae_config() -> dict:
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=_VAE_BLOCK_OUT,
        layers_per_block=2,
        act_fn="silu",
        latent_channels=4,
        norm_num_groups=_VAE_GROUPS,
        sample_size=64,
        scaling_factor=_SCALING_FACTOR,
    )


def _text_config(family: str) -> dict:
    return dict(
        vocab_size=49408,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        layer_norm_eps=1e-5,
        attention_dropout=0.0,
        dropout=0.0,
        initializer_factor=1.0,
        initializer_range=0.02,
        projection_dim=_TEXT[family]["hidden_size"],
        **_TEXT[family],
    )


def _randomise(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Redraw every parameter so nothing is zero and activations stay of order one.

    Weights of linear and convolution layers get N(0, 1/fan_in) (fan-in scaling keeps the tiny
    networks' activations near unit size, so attention maps are far from uniform); embeddings
    N(0, 0.02); norm weights 1 + N(0, 0.1); all biases N(0, 0.02).
    """
    norm_types = (torch.nn.LayerNorm, torch.nn.GroupNorm)
    with torch.no_grad():
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                shape = param.shape
                if isinstance(module, norm_types):
                    if name == "weight":
                        new = 1.0 + 0.1 * torch.randn(shape, generator=gen)
                    else:
                        new = 0.02 * torch.randn(shape, generator=gen)
                elif isinstance(module, torch.nn.Embedding) or (name == "weight" and param.ndim < 2):
                    new = 0.02 * torch.randn(shape, generator=gen)
                elif name == "weight":
                    fan_in = math.prod(shape[1:])
                    new = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
                else:
                    new = 0.02 * torch.randn(shape, generator=gen)
                param.copy_(new.to(param.dtype))


def _save_text_encoder(model, folder: Path) -> None:
    """Save like the Hub's SD repos do: ``text_model.``-prefixed keys in ``model.safetensors``.

    transformers >= 5.6 writes the flattened names; the real SD folders keep the older prefixed
    ones, which transformers still reads. Either way the stored tensors are the same.
    """
    model.save_pretrained(folder, safe_serialization=True)
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    state = {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in state.items()}
    save_file(state, str(weights), metadata={"format": "pt"})


def make_tiny_backbone(root: Path, family: str, prediction_type: str = "epsilon", seed: int = 0) -> Path:
    """Write a tiny random SD-like diffusers folder under ``root`` and return its path.

    ``family`` is ``"sd1"`` (CLIP ViT-L-like text encoder, width 32) or ``"sd2"`` (OpenCLIP-like,
    width 48). The folder is named ``tiny-<family>-<prediction_type>-<seed>``. Weights depend only
    on ``family`` and ``seed`` (not on ``prediction_type``), so an epsilon and a v-prediction
    backbone with the same seed share their weights.
    """
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from genziqa.core.clip_vocab import clip_tokenizer

    _check_family(family)
    if prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type must be 'epsilon' or 'v_prediction', not {prediction_type!r}")
    folder = Path(root) / f"tiny-{family}-{prediction_type}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)

    # Construction draws from the global generator; fork it so building a fixture does not
    # disturb other tests' randomness. The values that matter come from `_randomise`.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**_unet_config(family))
        vae = AutoencoderKL(**_vae_config())
        text_encoder = CLIPTextModel(CLIPTextConfig(**_text_config(family)))
    for offset, model in enumerate((unet, vae, text_encoder)):
        _randomise(model, torch.Generator().manual_seed(seed * 1000 + offset))
        model.eval()

    unet.save_pretrained(folder / "unet", safe_serialization=True)
    vae.save_pretrained(folder / "vae", safe_serialization=True)
    _save_text_encoder(text_encoder, folder / "text_encoder")

    tok_dir = {"sd1": "sd15", "sd2": "sd21base"}[family]
    tokenizer = clip_tokenizer(_configs_dir() / tok_dir / "tokenizer" / "tokenizer_config.json")
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    # Drop the loading flags transformers echoes into the saved config; real folders lack them.
    tok_cfg_path = folder / "tokenizer" / "tokenizer_config.json"
    tok_cfg = _read_json(tok_cfg_path)
    for flag in ("is_local", "local_files_only"):
        tok_cfg.pop(flag, None)
    tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2) + "\n", encoding="utf-8")

    scheduler = PNDMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type=prediction_type,
    )
    scheduler.save_pretrained(folder / "scheduler")

    import diffusers

    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------
# diffusers names -> original (LDM) names
# --------------------------------------------------------------------------------------------

_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}


def _resnet_tail(tail: str, table: dict[str, str]) -> str:
    head, _, rest = tail.partition(".")
    if head not in table:
        raise KeyError(f"unexpected resnet parameter {tail!r}")
    return f"{table[head]}.{rest}"


def _unet_key(key: str, lpb: int, up_has_attn: list[bool]) -> str:
    """The LDM name of one diffusers UNet2DConditionModel parameter (SD 1.x / 2.x layout)."""
    for new, old in _UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new):]

    m = re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key)
    if m:
        b, kind, layer, tail = int(m[1]), m[2], int(m[3]), m[4]
        idx = 1 + b * (lpb + 1) + layer
        if kind == "resnets":
            return f"input_blocks.{idx}.0.{_resnet_tail(tail, _UNET_RESNET)}"
        return f"input_blocks.{idx}.1.{tail}"
    m = re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key)
    if m:
        return f"input_blocks.{(int(m[1]) + 1) * (lpb + 1)}.0.op.{m[2]}"

    m = re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key)
    if m:
        return f"middle_block.{2 * int(m[1])}.{_resnet_tail(m[2], _UNET_RESNET)}"
    m = re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key)
    if m:
        return f"middle_block.1.{m[1]}"

    m = re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key)
    if m:
        b, kind, layer, tail = int(m[1]), m[2], int(m[3]), m[4]
        idx = b * (lpb + 1) + layer
        if kind == "resnets":
            return f"output_blocks.{idx}.0.{_resnet_tail(tail, _UNET_RESNET)}"
        return f"output_blocks.{idx}.1.{tail}"
    m = re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key)
    if m:
        b = int(m[1])
        # The upsampler follows the last layer's resnet, and its attention if it has one.
        slot = 2 if up_has_attn[b] else 1
        return f"output_blocks.{b * (lpb + 1) + lpb}.{slot}.conv.{m[2]}"

    raise KeyError(f"no LDM name known for UNet parameter {key!r}")


_VAE_TOP = {
    "conv_in": "conv_in",
    "conv_out": "conv_out",
    "conv_norm_out": "norm_out",
}
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
               "conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _vae_key(key: str, n_up: int) -> tuple[str, bool]:
    """The LDM name of one AutoencoderKL parameter, and whether it is a 1x1-conv attention weight."""
    if key.split(".")[0] in ("quant_conv", "post_quant_conv"):
        return key, False
    part, _, rest = key.partition(".")
    if part not in ("encoder", "decoder"):
        raise KeyError(f"no LDM name known for VAE parameter {key!r}")
    for new, old in _VAE_TOP.items():
        if rest.startswith(new + "."):
            return f"{part}.{old}{rest[len(new):]}", False

    m = re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest)
    if m:
        return f"{part}.down.{m[1]}.block.{m[2]}.{_resnet_tail(m[3], _VAE_RESNET)}", False
    m = re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", rest)
    if m:
        return f"{part}.down.{m[1]}.downsample.conv.{m[2]}", False
    # The decoder's up blocks are numbered from the latent side in diffusers, from the image
    # side in LDM.
    m = re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest)
    if m:
        return f"{part}.up.{n_up - 1 - int(m[1])}.block.{m[2]}.{_resnet_tail(m[3], _VAE_RESNET)}", False
    m = re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", rest)
    if m:
        return f"{part}.up.{n_up - 1 - int(m[1])}.upsample.conv.{m[2]}", False
    m = re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest)
    if m:
        return f"{part}.mid.block_{int(m[1]) + 1}.{_resnet_tail(m[2], _VAE_RESNET)}", False
    m = re.fullmatch(r"mid_block\.attentions\.0\.(.+)\.(weight|bias)", rest)
    if m and m[1] in _VAE_ATTN:
        is_conv_weight = m[2] == "weight" and m[1] != "group_norm"
        return f"{part}.mid.attn_1.{_VAE_ATTN[m[1]]}.{m[2]}", is_conv_weight
    raise KeyError(f"no LDM name known for VAE parameter {key!r}")


def _open_clip_state(text: dict[str, torch.Tensor], n_layers: int, hidden: int,
                     gen: torch.Generator) -> dict[str, torch.Tensor]:
    """HF CLIPTextModel weights (flattened names) in OpenCLIP's layout, plus what SD2 files add.

    Real SD 2.x files hold all 24 OpenCLIP resblocks although SD uses the penultimate layer's
    output (diffusers' text encoder has 23); the extra last block, ``text_projection`` and
    ``logit_scale`` are written here too, with random values, for loaders to ignore.
    """
    out: dict[str, torch.Tensor] = {
        "token_embedding.weight": text["embeddings.token_embedding.weight"],
        "positional_embedding": text["embeddings.position_embedding.weight"],
        "ln_final.weight": text["final_layer_norm.weight"],
        "ln_final.bias": text["final_layer_norm.bias"],
    }
    simple = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
              "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    for n in range(n_layers):
        src, dst = f"encoder.layers.{n}.", f"transformer.resblocks.{n}."
        for new, old in simple.items():
            for p in ("weight", "bias"):
                out[f"{dst}{old}.{p}"] = text[f"{src}{new}.{p}"]
        for p in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{p}"] = torch.cat(
                [text[f"{src}self_attn.{x}_proj.{p}"] for x in ("q", "k", "v")], dim=0
            )
    # The extra block: same shapes as the last real one, fresh random values.
    last = f"transformer.resblocks.{n_layers - 1}."
    for key in [k for k in out if k.startswith(last)]:
        ref = out[key]
        extra = f"transformer.resblocks.{n_layers}." + key[len(last):]
        out[extra] = (0.02 * torch.randn(ref.shape, generator=gen)).to(ref.dtype)
    # OpenCLIP's projection is [width, embed_dim]; diffusers reads width from its first axis.
    out["text_projection"] = torch.randn((hidden, hidden), generator=gen) / math.sqrt(hidden)
    out["logit_scale"] = torch.tensor(math.log(1 / 0.07))
    return out


def _ldm_schedule_buffers(betas: torch.Tensor) -> dict[str, torch.Tensor]:
    """The noise-schedule buffers LatentDiffusion stores in original SD checkpoints."""
    betas = betas.double()
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    posterior_variance = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
    buffers = {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).log(),
        "sqrt_recip_alphas_cumprod": (1.0 / alphas_cumprod).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1.0).sqrt(),
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * prev.sqrt() / (1.0 - alphas_cumprod),
        "posterior_mean_coef2": (1.0 - prev) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod),
    }
    return {k: v.float() for k, v in buffers.items()}


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _family_of(folder: Path) -> str:
    act = _read_json(folder / "text_encoder" / "config.json").get("hidden_act")
    return "sd1" if act == "quick_gelu" else "sd2"


def write_single_file(folder: Path, out: Path, *, v_pred_key: bool = False, family: str | None = None) -> Path:
    """Write the diffusers folder ``folder`` as one original-layout SD checkpoint at ``out``.

    The family (which decides the text-encoder layout) is read from the text encoder's
    activation (``quick_gelu``: SD 1.x CLIP, otherwise SD 2.x OpenCLIP) unless given. With
    ``v_pred_key`` the file also holds an empty ``v_pred`` tensor, the marker some
    v-prediction checkpoints carry. Returns ``out``.
    """
    folder, out = Path(folder), Path(out)
    family = family or _family_of(folder)
    _check_family(family)
    state: dict[str, torch.Tensor] = {}

    unet_cfg = _read_json(folder / "unet" / "config.json")
    lpb = unet_cfg["layers_per_block"]
    up_has_attn = ["CrossAttn" in t for t in unet_cfg["up_block_types"]]
    for key, value in load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors")).items():
        state["model.diffusion_model." + _unet_key(key, lpb, up_has_attn)] = value

    vae_cfg = _read_json(folder / "vae" / "config.json")
    n_up = len(vae_cfg["up_block_types"])
    for key, value in load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors")).items():
        name, conv_shaped = _vae_key(key, n_up)
        state["first_stage_model." + name] = value[:, :, None, None] if conv_shaped else value

    text_cfg = _read_json(folder / "text_encoder" / "config.json")
    text = {k.removeprefix("text_model."): v
            for k, v in load_file(str(folder / "text_encoder" / "model.safetensors")).items()}
    if family == "sd1":
        for key, value in text.items():
            state["cond_stage_model.transformer.text_model." + key] = value
        # Files saved by older transformers carry the position ids too.
        state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(
            text_cfg["max_position_embeddings"], dtype=torch.int64
        )[None]
    else:
        gen = torch.Generator().manual_seed(12345)
        clip = _open_clip_state(text, text_cfg["num_hidden_layers"], text_cfg["hidden_size"], gen)
        for key, value in clip.items():
            state["cond_stage_model.model." + key] = value

    sched = _read_json(folder / "scheduler" / "scheduler_config.json")
    n = sched["num_train_timesteps"]
    if sched.get("beta_schedule") == "scaled_linear":
        betas = torch.linspace(sched["beta_start"] ** 0.5, sched["beta_end"] ** 0.5, n, dtype=torch.float64) ** 2
        state.update(_ldm_schedule_buffers(betas))

    if v_pred_key:
        state["v_pred"] = torch.tensor([])

    state = {k: v.contiguous() for k, v in state.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"format": "pt"})
    return out
