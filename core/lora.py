"""Rank-4 LoRA on the cross-attention projections of the UNet, and nowhere else (METHOD 1.4).

W x + B A x with A ~ N(0, (1/rank)^2), B = 0 and scale alpha/rank = 1: peft's ``"gaussian"``
initialisation. Because B starts at zero an untrained adapter leaves the backbone unchanged.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .config import GenzIQAConfig

ADAPTER = "genziqa"


def target_pattern(config: GenzIQAConfig) -> str:
    """A regex matching exactly the attn2 projections named in ``config.lora_targets``."""
    names = "|".join(re.escape(t) for t in config.lora_targets)
    return rf".*\.attn2\.({names})"


def add_lora(unet: nn.Module, config: GenzIQAConfig) -> None:
    """Inject the adapters into ``unet`` in place (requires peft)."""
    from peft import LoraConfig

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, init_lora_weights="gaussian",
                      target_modules=target_pattern(config))
    unet.add_adapter(lora, adapter_name=ADAPTER)


def lora_state_dict(unet: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter weights in peft/diffusers naming, e.g. ``...attn2.to_q.lora_A.weight``."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(unet, adapter_name=ADAPTER).items()}


def load_lora_state_dict(unet: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load adapter weights; self-attention (attn1) adapters, which the authors' files carry frozen
    at B = 0, are accepted and ignored. Anything else unexpected is an error."""
    from peft.utils import set_peft_model_state_dict

    kept = {k: v for k, v in state.items() if ".attn1." not in k}
    expected = set(lora_state_dict(unet))
    missing, unexpected = sorted(expected - set(kept)), sorted(set(kept) - expected)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ValueError(
            f"the LoRA weights do not fit this backbone's cross-attention layers ({detail}); "
            "were they trained on another backbone?"
        )
    device = next(unet.parameters()).device
    result = set_peft_model_state_dict(unet, {k: v.to(device) for k, v in kept.items()}, adapter_name=ADAPTER)
    bad = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
    if bad:
        raise ValueError(f"LoRA keys were not applied: {bad[:3]}")


def merge_lora(unet: nn.Module) -> int:
    """Fold the adapters into their base weights for inference: W <- W + B A.

    Scoring then costs what the bare backbone costs (unmerged, the rank-4 side path added about
    half to a GPU forward). In float32 the result equals the unmerged forward to rounding; in half
    precision the sum is rounded once instead of the two products separately. Returns the number
    of layers merged. Training must keep the adapters unmerged.
    """
    from peft.tuners.lora import LoraLayer

    merged = 0
    for module in unet.modules():
        if isinstance(module, LoraLayer):
            module.merge(safe_merge=True, adapter_names=[ADAPTER])
            merged += 1
    return merged
