"""The model being trained: the frozen backbone with *unmerged* cross-attention LoRA, the prompt
learner, and the frozen text encoder in the graph (METHOD 2).

The score is :func:`genziqa.core.method.forward`, the very function ``genziqa score`` calls; here it
runs with gradients, the prompt embeddings are recomputed through the text encoder every pass (so
the context vectors get their gradient through it), and the LoRA stays a side path (merging is
for inference only). Trainable: the ``n_ctx`` context vectors and the attn2 LoRA, nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..api import LoadPlan, backbone_record
from ..attention import Capture, capture_cross_attention
from ..backbone import Backbone, BackboneError, load_denoiser, load_text_encoder
from ..checkpoint import WeightsError, save_weights
from ..config import GenzIQAConfig
from ..lora import ADAPTER, add_lora, load_lora_state_dict, lora_state_dict
from ..method import fixed_timesteps, forward, noise_bank
from ..prompts import PromptLearner
from ..scoring import exact_float32

CTX_NAME = "prompt.ctx"
LORA_PREFIX = "unet."


def trainable_parameters(unet: nn.Module, prompts: PromptLearner) -> dict[str, nn.Parameter]:
    """The parameters training changes, by their name in the weights file: ``prompt.ctx`` first,
    then ``unet.<module>.lora_A.weight`` / ``.lora_B.weight`` in the UNet's order."""
    found: dict[str, nn.Parameter] = {CTX_NAME: prompts.ctx}
    tag = f".{ADAPTER}."
    for name, param in unet.named_parameters():
        if tag in name and (".lora_A." in name or ".lora_B." in name):
            found[LORA_PREFIX + name.replace(tag, ".")] = param
    return found


def parameter_counts(params: dict[str, nn.Parameter]) -> dict[str, int]:
    """``{"lora": ..., "context": ..., "total": ...}``: numbers of trainable values."""
    context = params[CTX_NAME].numel()
    lora = sum(p.numel() for name, p in params.items() if name != CTX_NAME)
    return {"lora": lora, "context": context, "total": lora + context}


class TrainableModel:
    """The backbone, the prompts and their trainable parameters, ready for training steps.

    ``backbone.text_encoder`` stays loaded (it runs in every pass). Trainable parameters are kept
    in float32 whatever the backbone's dtype (the frozen weights may be half precision on a GPU).
    """

    def __init__(self, backbone: Backbone, prompts: PromptLearner, config: GenzIQAConfig, *,
                 gradient_checkpointing: bool = True):
        if backbone.text_encoder is None:
            raise ValueError("training needs the text encoder in the graph; build the model with build_model(), "
                             "or load the backbone with load_backbone(), which keep it (genziqa.load releases it).")
        self.backbone = backbone
        self.config = config
        self.prompts = prompts.to(backbone.device)
        for module in (backbone.unet, backbone.vae, backbone.text_encoder):
            module.requires_grad_(False)
        self.params = trainable_parameters(backbone.unet, self.prompts)
        for param in self.params.values():
            param.data = param.data.float()
            param.requires_grad_(True)
        self.use_gradient_checkpointing(gradient_checkpointing)
        self._bank: dict[tuple[int, ...], torch.Tensor] = {}

    def use_gradient_checkpointing(self, on: bool) -> None:
        """Recompute UNet activations in the backward pass (less memory, more time) or keep them."""
        self.gradient_checkpointing = on
        if on:
            self.backbone.unet.enable_gradient_checkpointing()
        else:
            self.backbone.unet.disable_gradient_checkpointing()

    @property
    def device(self) -> torch.device:
        return self.backbone.device

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of a latent at the method's resolution."""
        side = self.config.resolution // self.backbone.vae_scale
        return self.backbone.latent_channels, side, side

    def counts(self) -> dict[str, int]:
        return parameter_counts(self.params)

    def prompt_embeds(self) -> torch.Tensor:
        """``(2, tokens, width)`` P_good, P_bad through the frozen text encoder (grad reaches ``ctx``)."""
        return self.prompts(self.backbone.text_encoder)

    def scores(self, z0: torch.Tensor, timesteps: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``(B,)`` scores of ``z0`` ``(B, C, h, w)`` at ``timesteps`` ``(B, T)`` with ``noise``
        ``(B, T, C, h, w)``: the method's forward, differentiable when grad is enabled."""
        bb = self.backbone
        with exact_float32(bb.device, bb.dtype):
            embeds = self.prompt_embeds()
            out = forward(bb, z0, prompt_embeds=embeds, timesteps=timesteps, noise=noise,
                          lse_lambda=self.config.lse_lambda, zero_shot=False, rows_per_call=2 * timesteps.numel())
        return out.score

    def backward(self, loss: torch.Tensor, latent_hw: tuple[int, int]) -> None:
        """``loss.backward()``, with the statistic processors installed again while it runs.

        Gradient checkpointing recomputes each UNet block during the backward pass, and the
        recomputation must run the very processors the forward ran (the statistic on attn2, the
        pair-shared self-attention): the forward's context has restored the plain ones by now, so
        torch would refuse the mismatch (or the gradient of the statistic would be lost).
        """
        bb = self.backbone
        with exact_float32(bb.device, bb.dtype):
            if self.gradient_checkpointing:
                with capture_cross_attention(bb.unet, Capture(self.config.lse_lambda), latent_hw):
                    loss.backward()
            else:
                loss.backward()

    @torch.no_grad()
    def validation_scores(self, z0: torch.Tensor, rows_per_call: int) -> torch.Tensor:
        """``(B,)`` scores as ``genziqa score`` computes them: the fixed test timesteps and noise
        bank, no gradients (the LoRA unmerged, which agrees with merged to float rounding)."""
        bb = self.backbone
        n = z0.shape[0]
        key = tuple(z0.shape[1:])
        if key not in self._bank:
            self._bank[key] = noise_bank(self.config, key).to(bb.device)
        bank = self._bank[key].unsqueeze(0).expand(n, -1, -1, -1, -1)  # [T, C, h, w] -> [B, T, C, h, w]
        with exact_float32(bb.device, bb.dtype):
            out = forward(bb, z0, prompt_embeds=self.prompt_embeds(), timesteps=fixed_timesteps(self.config, n, bb.device),
                          noise=bank, lse_lambda=self.config.lse_lambda, zero_shot=False, rows_per_call=rows_per_call)
        return out.score

    def export(self, folder: str | os.PathLike, training: dict) -> Path:
        """Write the current weights in the genziqa weights format (``genziqa score --weights``)."""
        return save_weights(folder, ctx=self.prompts.ctx, lora=lora_state_dict(self.backbone.unet), config=self.config,
                            backbone=backbone_record(self.backbone), training=training)


def build_model(plan: LoadPlan, *, device: torch.device | None = None, seed: int = 0,
                gradient_checkpointing: bool = True) -> TrainableModel:
    """Load the planned backbone for training (text encoder kept) and add the trainable parts.

    Fresh parameters are drawn with ``seed`` (context vectors N(0, 0.02^2), LoRA A Gaussian, B = 0);
    when the plan has trained weights, training starts from them instead.
    """
    src, dtype, config = plan.source, plan.dtype, plan.config
    device = device or plan.device
    text_encoder, tokenizer, family = load_text_encoder(src, device, dtype)
    width = int(text_encoder.config.hidden_size)
    if plan.weights is not None and plan.weights.width != width:
        raise WeightsError(f"weights {plan.weights.source!r} have context width {plan.weights.width}, but the backbone "
                           f"{src.location!r} has width {width}; start from weights trained on this backbone.")
    vae, unet, alphas_cumprod, prediction = load_denoiser(src, device, dtype)
    if int(unet.config.cross_attention_dim) != width:
        raise BackboneError(f"{src.location}: the UNet expects conditioning of width {unet.config.cross_attention_dim} "
                            f"but the text encoder gives {width}; the checkpoint's parts do not belong together.")
    backbone = Backbone(vae=vae, unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
                        alphas_cumprod=alphas_cumprod, prediction_type=prediction, family=family,
                        source=src.location, revision=src.revision, device=device, dtype=dtype)
    # The initial values come from the CPU generator (peft draws LoRA A there); fork it so the
    # caller's random stream is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        add_lora(unet, config)
        prompts = PromptLearner(tokenizer, width, config, zero_shot=False)
    if plan.weights is not None:
        load_lora_state_dict(unet, plan.weights.lora)
        with torch.no_grad():
            prompts.ctx.copy_(plan.weights.ctx)
    return TrainableModel(backbone, prompts, config, gradient_checkpointing=gradient_checkpointing)


__all__ = ["TrainableModel", "build_model", "trainable_parameters", "parameter_counts", "CTX_NAME", "LORA_PREFIX"]
