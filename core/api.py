"""``genziqa.load``: the one way to get a scorer."""

from __future__ import annotations

import os

import torch

from .backbone import (
    DEFAULT_BACKBONE, Backbone, BackboneError, load_denoiser, load_text_encoder, open_backbone, resolve_device,
    resolve_dtype,
)
from .checkpoint import Weights, WeightsError, load_weights
from .config import GenzIQAConfig
from .lora import add_lora, load_lora_state_dict, merge_lora
from .prompts import PromptLearner
from .scoring import Scorer

ZERO_SHOT = "zero-shot"
# UNet rows per call by default. On CPU throughput per row is flat from 4 rows up while memory
# grows with the batch (benchmarks/results.md); GPUs want more work per call.
CPU_BATCH_ROWS = 4
GPU_BATCH_ROWS = 32


def load(
    weights: str | os.PathLike | None = None,
    backbone: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = "auto",
    revision: str | None = None,
    config: GenzIQAConfig | None = None,
    batch_size: int | None = None,
    prediction_type: str | None = None,
    backbone_config: str | os.PathLike | None = None,
) -> Scorer:
    """Load a GenzIQA scorer.

    ``weights``: a folder or hub repo with ``genziqa.safetensors`` + ``config.json``; None gives
    the *zero-shot* scorer (plain "Good Photo." / "Bad Photo." prompts, no LoRA; score = minus
    the mean denoising-error gap), clearly labelled as such everywhere.
    ``backbone``: hub id, diffusers folder or single ``.safetensors`` file; default: the
    backbone the weights were trained on, else SD 2.1-base (``sd2-community`` mirror, pinned).
    ``device``: ``"auto"`` (cuda > mps > cpu). ``dtype``: ``"auto"`` (float32 on CPU, float16 on GPU).
    ``config``: method numbers; trained weights bring their own, and a different one is refused.
    ``batch_size``: UNet rows per call (16 rows = one image's 8 timesteps x 2 prompts); default
    4 on CPU (larger batches are no faster there and cost memory), 32 on GPUs.
    """
    trained: Weights | None = load_weights(weights) if weights is not None else None
    if trained is not None:
        if config is not None and config.to_dict() != trained.config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if trained.config.to_dict().get(k) != v)
            raise WeightsError(
                f"config differs from the one these weights were trained with ({changed}); "
                "trained prompts are only valid with their own config. Leave config=None."
            )
        config = trained.config
    config = config or GenzIQAConfig()
    if backbone is None:
        backbone = (trained.backbone.get("id") if trained else None) or DEFAULT_BACKBONE
        if trained and revision is None:
            revision = trained.backbone.get("revision")
    src = open_backbone(backbone, revision=revision, prediction_type=prediction_type, config_dir=backbone_config)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)

    # The text encoder is needed for one pass only: run it and let it go before the UNet loads,
    # so the two never occupy memory together.
    text_encoder, tokenizer, family = load_text_encoder(src, dev, dt)
    width = int(text_encoder.config.hidden_size)
    if trained is not None:
        _check_fit(trained, width, src.location)
    prompts = PromptLearner(tokenizer, width, config, zero_shot=trained is None).to(dev)
    if trained is not None:
        with torch.no_grad():
            prompts.ctx.copy_(trained.ctx)
    with torch.no_grad():
        prompt_embeds = prompts(text_encoder)  # [2, tokens, width]
    del text_encoder

    vae, unet, alphas_cumprod, pred = load_denoiser(src, dev, dt)
    if int(unet.config.cross_attention_dim) != width:
        raise BackboneError(
            f"{src.location}: the UNet expects conditioning of width {unet.config.cross_attention_dim} "
            f"but the text encoder gives {width}; the checkpoint's parts do not belong together."
        )
    bb = Backbone(vae=vae, unet=unet, text_encoder=None, tokenizer=tokenizer, alphas_cumprod=alphas_cumprod,
                  prediction_type=pred, family=family, source=src.location, revision=src.revision,
                  device=dev, dtype=dt)
    if trained is None:
        label = f"{ZERO_SHOT} · {bb.describe()}"
    else:
        add_lora(bb.unet, config)
        load_lora_state_dict(bb.unet, trained.lora)
        bb.unet.to(device=dev, dtype=dt)
        bb.unet.requires_grad_(False)
        merge_lora(bb.unet)
        label = f"genziqa:{trained.name} · {bb.describe()}"
    if batch_size is None:
        batch_size = CPU_BATCH_ROWS if dev.type == "cpu" else GPU_BATCH_ROWS
    return Scorer(bb, config, prompts, label=label, batch_size=batch_size, prompt_embeds=prompt_embeds)


def _check_fit(trained: Weights, width: int, location: str) -> None:
    if trained.width != width:
        need = trained.backbone.get("id") or ("an SD 1.x backbone" if trained.width == 768 else "an SD 2.x backbone")
        raise WeightsError(
            f"weights {trained.source!r} have context width {trained.width} and need {need}; "
            f"the backbone {location!r} has width {width}. Pass backbone={need!r} "
            "(or leave backbone unset to use the one the weights name)."
        )


def backbone_record(bb) -> dict:
    """What a checkpoint stores about its backbone."""
    return {"id": bb.source, "revision": bb.revision, "family": bb.family,
            "prediction_type": bb.prediction_type, "width": bb.width}


__all__ = ["load", "ZERO_SHOT", "backbone_record"]
