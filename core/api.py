"""``genziqa.load``: the one way to get a scorer; ``prepare``: its cheap checks, on their own."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

from .backbone import (
    DEFAULT_BACKBONE, Backbone, BackboneError, BackboneSource, load_denoiser, load_text_encoder, open_backbone,
    resolve_device, resolve_dtype,
)
from .checkpoint import Weights, WeightsError, load_weights
from .config import GenzIQAConfig
from .identity import file_fingerprint, folder_fingerprint, run_identity
from .lora import add_lora, load_lora_state_dict, merge_lora
from .prompts import PromptLearner
from .scoring import Scorer

ZERO_SHOT = "zero-shot"
# UNet rows per call by default. On CPU throughput per row is flat from 4 rows up while memory
# grows with the batch (benchmarks/results.md); GPUs want more work per call.
CPU_UNET_ROWS = 4
GPU_UNET_ROWS = 32


@dataclass(frozen=True)
class LoadPlan:
    """A checked recipe for a scorer: everything :func:`load` can verify without loading a model.

    ``run_id`` identifies the numbers the scorer will produce (:mod:`genziqa.core.identity`), so a
    results file can be checked against it before minutes go into loading.
    """

    weights: Weights | None
    config: GenzIQAConfig
    source: BackboneSource
    device: torch.device
    dtype: torch.dtype
    unet_rows: int
    run_id: str

    @property
    def zero_shot(self) -> bool:
        return self.weights is None

    @property
    def label_hint(self) -> str:
        """The scorer's label as far as it is known before loading (family and prediction type
        of folders and hub models are read while loading), e.g. ``zero-shot · sd2-community/...@4e63672c0310``."""
        rev = f"@{self.source.revision[:12]}" if self.source.revision else ""
        weights = ZERO_SHOT if self.weights is None else f"genziqa:{self.weights.name}"
        return f"{weights} · {self.source.location}{rev}"

    def load(self) -> Scorer:
        """Load the backbone and build the scorer (minutes for a full-size model on CPU)."""
        return _build(self)


def prepare(
    weights: str | os.PathLike | None = None,
    backbone: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = "auto",
    dtype: str | torch.dtype | None = "auto",
    revision: str | None = None,
    config: GenzIQAConfig | None = None,
    unet_rows: int | None = None,
    prediction_type: str | None = None,
    backbone_config: str | os.PathLike | None = None,
    resolution: int | None = None,
) -> LoadPlan:
    """Check everything that needs no model and plan the scorer; ``plan.load()`` loads it.

    ``weights``: a folder or hub repo with ``genziqa.safetensors`` + ``config.json``; None gives
    the *zero-shot* scorer (plain "Good Photo." / "Bad Photo." prompts, no LoRA; score = minus
    the mean denoising-error gap), clearly labelled as such everywhere.
    ``backbone``: hub id, diffusers folder or single ``.safetensors`` file; default: the
    backbone the weights were trained on, else SD 2.1-base (``sd2-community`` mirror, pinned).
    ``device``: ``"auto"`` (cuda > mps > cpu). ``dtype``: ``"auto"`` (float32 on CPU, float16 on GPU).
    ``config``: method numbers; trained weights bring their own, and a different one is refused.
    ``unet_rows``: UNet rows per call (16 rows = one image's 8 timesteps x 2 prompts); default
    4 on CPU (larger calls are no faster there and cost memory), 32 on GPUs.
    ``prediction_type``: override the detected ``"epsilon"`` / ``"v_prediction"``.
    ``backbone_config``: a diffusers-layout folder of component configs for a single file whose
    shapes differ from SD 1.5 / SD 2.1-base.
    ``resolution``: the side images are resized to, replacing the config's (default 512); trained
    weights work only at their own.
    """
    trained: Weights | None = load_weights(weights) if weights is not None else None
    if trained is not None:
        if config is not None and config.to_dict() != trained.config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if trained.config.to_dict().get(k) != v)
            raise WeightsError(
                f"the method config differs from the one these weights were trained with ({', '.join(changed)}); "
                "trained prompts are only valid with their own config. Leave it unset to use theirs."
            )
        config = trained.config
        if resolution is not None and resolution != config.resolution:
            raise WeightsError(
                f"resolution={resolution}: the weights {trained.source!r} were trained at {config.resolution} px "
                f"and only work there. Leave resolution unset (or pass {config.resolution})."
            )
    config = config or GenzIQAConfig()
    if resolution is not None:
        config = dataclasses.replace(config, resolution=resolution)
    if backbone is None:
        backbone = (trained.backbone.get("id") if trained else None) or DEFAULT_BACKBONE
        if trained and revision is None:
            revision = trained.backbone.get("revision")
    src = open_backbone(backbone, revision=revision, prediction_type=prediction_type, config_dir=backbone_config)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if unet_rows is None:
        unet_rows = CPU_UNET_ROWS if dev.type == "cpu" else GPU_UNET_ROWS
    if unet_rows < 1:
        raise ValueError(f"unet_rows={unet_rows} must be at least 1 (UNet rows per call).")
    run_id = run_identity(
        backbone=_backbone_fingerprint(src), weights=file_fingerprint(trained.file) if trained else ZERO_SHOT,
        method=config.to_dict(), dtype=str(dt).removeprefix("torch."), device=dev.type,
        prediction=src.prediction_type or "auto",
    )
    return LoadPlan(weights=trained, config=config, source=src, device=dev, dtype=dt, unet_rows=unet_rows,
                    run_id=run_id)


def load(weights: str | os.PathLike | None = None, backbone: str | os.PathLike | None = None, **options) -> Scorer:
    """Load a GenzIQA scorer: :func:`prepare` with the same arguments, then ``plan.load()``."""
    return prepare(weights, backbone, **options).load()


def _build(plan: LoadPlan) -> Scorer:
    src, dev, dt, trained, config = plan.source, plan.device, plan.dtype, plan.weights, plan.config
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
        # The new adapters to the UNet's device and dtype, with torch's own Module.to: diffusers'
        # override warns about float32 modules on every cast (SD's UNet lists none) and otherwise
        # guards quantised and group-offloaded models, which a scorer never builds.
        torch.nn.Module.to(bb.unet, device=dev, dtype=dt)
        bb.unet.requires_grad_(False)
        merge_lora(bb.unet)
        label = f"genziqa:{trained.name} · {bb.describe()}"
    return Scorer(bb, config, prompts, label=label, unet_rows=plan.unet_rows, prompt_embeds=prompt_embeds,
                  run_id=plan.run_id)


def _backbone_fingerprint(src: BackboneSource) -> str:
    if src.kind == "hub":
        return f"hub:{src.location}@{src.revision or 'main'}"
    if src.kind == "folder":
        return folder_fingerprint(src.location)
    digest = file_fingerprint(src.location)
    if src.config_dir is not None and not src.shipped_config:
        digest = f"{digest}+{folder_fingerprint(src.config_dir)}"
    return digest


def _check_fit(trained: Weights, width: int, location: str) -> None:
    if trained.width != width:
        named = trained.backbone.get("id")
        family = {768: "sd15", 1024: "sd21base"}.get(trained.width)
        need = repr(named) if named else (f"an SD {'1.x' if family == 'sd15' else '2.x'} backbone such as {family!r}"
                                          if family else f"a backbone whose text encoder has width {trained.width}")
        raise WeightsError(
            f"weights {trained.source!r} have context width {trained.width} and need {need}; "
            f"the backbone {location!r} has width {width}. Pass that backbone "
            "(or leave backbone unset to use the one the weights name)."
        )


def backbone_record(bb) -> dict:
    """What a checkpoint stores about its backbone."""
    return {"id": bb.source, "revision": bb.revision, "family": bb.family,
            "prediction_type": bb.prediction_type, "width": bb.width}


__all__ = ["load", "prepare", "LoadPlan", "ZERO_SHOT", "backbone_record"]
