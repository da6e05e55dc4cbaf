"""``genziqa.load``: the one way to get a scorer."""

from __future__ import annotations

import logging
import os

import torch

from .backbone import DEFAULT_BACKBONE, load_backbone
from .checkpoint import Weights, WeightsError, load_weights
from .config import GenzIQAConfig
from .lora import add_lora, load_lora_state_dict
from .prompts import PromptLearner
from .scoring import Scorer

log = logging.getLogger(__name__)

ZERO_SHOT = "zero-shot"


def load(
    weights: str | os.PathLike | None = None,
    backbone: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = "auto",
    revision: str | None = None,
    config: GenzIQAConfig | None = None,
    batch_size: int = 16,
    prediction_type: str | None = None,
    backbone_config: str | os.PathLike | None = None,
) -> Scorer:
    """Load a GenzIQA scorer.

    ``weights``: a folder or hub repo with ``genziqa.safetensors`` + ``config.json``; None gives
    the *zero-shot* scorer (plain "Good Photo." / "Bad Photo." prompts, no LoRA; score = minus
    the mean denoising-error gap), clearly labelled as such everywhere.
    ``backbone``: hub id, diffusers folder or single ``.safetensors`` file; default: the
    backbone the weights were trained on, else SD 2.1-base (``sd2-community`` mirror, pinned).
    ``device``: ``"auto"`` (cuda > mps > cpu). ``dtype``: ``"auto"`` (float32 on CPU, bf16/fp16 on GPU).
    ``config``: method numbers; trained weights bring their own, and a different one is refused.
    ``batch_size``: UNet rows per call (16 rows = one image's 8 timesteps x 2 prompts).
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
    bb = load_backbone(backbone, revision=revision, device=device, dtype=dtype,
                       prediction_type=prediction_type, config_dir=backbone_config)
    prompts = PromptLearner(bb.tokenizer, bb.width, config, zero_shot=trained is None)
    if trained is None:
        label = f"{ZERO_SHOT} · {bb.describe()}"
    else:
        _check_fit(trained, bb)
        add_lora(bb.unet, config)
        load_lora_state_dict(bb.unet, trained.lora)
        bb.unet.to(device=bb.device, dtype=bb.dtype)
        bb.unet.requires_grad_(False)
        with torch.no_grad():
            prompts.ctx.copy_(trained.ctx)
        label = f"genziqa:{trained.name} · {bb.describe()}"
    return Scorer(bb, config, prompts, label=label, batch_size=batch_size)


def _check_fit(trained: Weights, bb) -> None:
    if trained.width != bb.width:
        need = trained.backbone.get("id") or ("an SD 1.x backbone" if trained.width == 768 else "an SD 2.x backbone")
        raise WeightsError(
            f"weights {trained.source!r} have context width {trained.width} and need {need}; "
            f"the backbone {bb.source!r} has width {bb.width}. Pass backbone={need!r} "
            "(or leave backbone unset to use the one the weights name)."
        )


def backbone_record(bb) -> dict:
    """What a checkpoint stores about its backbone."""
    return {"id": bb.source, "revision": bb.revision, "family": bb.family,
            "prediction_type": bb.prediction_type, "width": bb.width}


__all__ = ["load", "ZERO_SHOT", "backbone_record"]
