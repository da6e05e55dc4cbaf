"""Reading the cross-attention statistic off the UNet's ``attn2`` layers (METHOD 1.5).

A processor installed through diffusers' ``set_attn_processor`` on the ``attn2`` modules only
computes the ordinary attention output and, on the side, per sample:

- ``lse``: the soft maximum over pixels of the pre-softmax logits,
  ``(1/lambda) logsumexp(lambda * QK^T/sqrt(d))``, averaged over heads and tokens;
- optionally the softmax probabilities averaged over heads, resized to one map size, for the
  per-token heatmaps (METHOD 4).

Statistics are computed in float32 whatever the model dtype: in bf16 they moved a full-size
score far more than the informative part of an untrained score varies. Self-attention keeps its
fused scaled-dot-product kernel and materialises nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def cross_attention_names(unet: nn.Module) -> list[str]:
    """Processor names of the cross-attention layers, in the UNet's order (down, mid, up)."""
    names = [n for n in unet.attn_processors if ".attn2." in n]
    if not names:
        raise ValueError("this UNet has no cross-attention (attn2) layers; is it a Stable Diffusion UNet?")
    order = {"down_blocks": 0, "mid_block": 1, "up_blocks": 2}
    return sorted(names, key=lambda n: (order.get(n.split(".")[0], 3), _numeric_key(n)))


def _numeric_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in name.split(".")]


class Capture:
    """Holds what the ``attn2`` processors recorded during one UNet call.

    ``lse[name]``: ``(S,)`` float32, the layer's statistic per sample (S = UNet batch rows).
    ``maps``: ``(S, tokens, H, W)`` float32 sum over layers of head-averaged probabilities, when
    ``map_size`` is given.
    """

    def __init__(self, lse_lambda: float, map_size: tuple[int, int] | None = None):
        self.lse_lambda = lse_lambda
        self.map_size = map_size
        self.lse: dict[str, torch.Tensor] = {}
        self.maps: torch.Tensor | None = None
        self.map_layers = 0

    def reset(self) -> None:
        self.lse = {}
        self.maps = None
        self.map_layers = 0

    def add_map(self, probs: torch.Tensor, latent_hw: tuple[int, int]) -> None:
        """``probs``: ``(S, pixels, tokens)`` head-averaged softmax of one layer."""
        samples, pixels, tokens = probs.shape
        h, w = _layer_side(pixels, latent_hw)
        grid = probs.transpose(1, 2).reshape(samples, tokens, h, w)
        grid = F.interpolate(grid, size=self.map_size, mode="bilinear", align_corners=False)
        self.maps = grid if self.maps is None else self.maps + grid
        self.map_layers += 1


def _layer_side(pixels: int, latent_hw: tuple[int, int]) -> tuple[int, int]:
    """Map side of a layer from its pixel count, keeping the latent's aspect ratio."""
    lh, lw = latent_hw
    factor = round((lh * lw / pixels) ** 0.5)
    if factor < 1 or (lh // factor) * (lw // factor) != pixels:
        raise ValueError(f"cannot lay {pixels} attention pixels out on a {lh}x{lw} latent grid")
    return lh // factor, lw // factor


class StatisticProcessor:
    """diffusers attention processor for one ``attn2`` layer that records the statistic."""

    def __init__(self, capture: Capture, name: str, latent_hw: tuple[int, int]):
        self.capture = capture
        self.name = name
        self.latent_hw = latent_hw

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        if hidden_states.ndim != 3 or attn.spatial_norm is not None or attn.group_norm is not None:
            raise NotImplementedError(f"{self.name}: only token-sequence cross-attention (as in SD 1.x/2.x) is supported")
        if attention_mask is not None:
            raise NotImplementedError(f"{self.name}: attention masks on cross-attention are not supported")
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        batch, pixels, _ = hidden_states.shape
        heads = attn.heads
        q = attn.to_q(hidden_states)
        k = attn.to_k(context)
        v = attn.to_v(context)
        d = q.shape[-1] // heads
        q = q.view(batch, pixels, heads, d).transpose(1, 2)  # [S, heads, pixels, d]
        k = k.view(batch, -1, heads, d).transpose(1, 2)  # [S, heads, tokens, d]
        v = v.view(batch, -1, heads, d).transpose(1, 2)

        logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * attn.scale  # [S, heads, pixels, tokens]
        lam = self.capture.lse_lambda
        lse = torch.logsumexp(lam * logits, dim=2) / lam  # soft max over pixels: [S, heads, tokens]
        self.capture.lse[self.name] = lse.mean(dim=(1, 2))  # [S]
        if self.capture.map_size is not None:
            self.capture.add_map(logits.softmax(dim=-1).mean(dim=1), self.latent_hw)

        out = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)  # [S, heads, pixels, d]
        out = out.transpose(1, 2).reshape(batch, pixels, heads * d).to(q.dtype)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


class PairSharedAttention:
    """Self-attention that runs once per (good, bad) row pair when the pair's inputs are equal.

    The UNet rows come in pairs that share z_t and t and differ only in the prompt, so until the
    first cross-attention every activation of a pair is the same. The self-attention just before
    it (one of the costly full-resolution ones) is computed on one row of each pair and copied.
    Equality is checked on every call; anything else falls back to the wrapped processor.
    """

    def __init__(self, inner):
        self.inner = inner
        self.shared_calls = 0

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        rows = hidden_states.shape[0]
        paired = (rows % 2 == 0 and encoder_hidden_states is None and attention_mask is None
                  and torch.equal(hidden_states[0::2], hidden_states[1::2]))
        if not paired:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        self.shared_calls += 1
        once = self.inner(attn, hidden_states[0::2], None, None, temb, *args, **kwargs)  # [rows/2, pixels, C]
        return once.repeat_interleave(2, dim=0)


@contextmanager
def capture_cross_attention(unet: nn.Module, capture: Capture | None, latent_hw: tuple[int, int]) -> Iterator[Capture | None]:
    """Install statistic processors on ``attn2`` (unless ``capture`` is None: nothing to record)
    and the pair-shared processor on the self-attention that precedes the first of them; restore
    the previous ones on every exit."""
    previous = unet.attn_processors
    order = cross_attention_names(unet)
    names = set(order) if capture is not None else set()
    first_self = order[0].replace(".attn2.", ".attn1.")
    installed = {
        name: StatisticProcessor(capture, name, latent_hw) if name in names else proc
        for name, proc in previous.items()
    }
    if first_self in installed:
        installed[first_self] = PairSharedAttention(previous[first_self])
    unet.set_attn_processor(dict(installed))
    try:
        yield capture
    finally:
        unet.set_attn_processor(dict(previous))
