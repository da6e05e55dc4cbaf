"""The two quality prompts and their text-encoder pass (METHOD 1.3).

Trained prompts share ``n_ctx`` learnable context vectors that replace the token embeddings of
the placeholders in ``"X X ... X Good Photo."`` / ``"X X ... X Bad Photo."``. Zero-shot prompts
are the plain class words. Either way the sequence runs through the frozen text encoder with the
causal mask *and* the padding mask (plain SD pipelines omit the latter; here it moves the score).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import GenzIQAConfig


class PromptLearner(nn.Module):
    """Token ids of the (good, bad) prompts plus, when trained, the shared context vectors."""

    def __init__(self, tokenizer, width: int, config: GenzIQAConfig, *, zero_shot: bool):
        super().__init__()
        self.zero_shot = zero_shot
        self.n_ctx = 0 if zero_shot else config.n_ctx
        enc = tokenize(tokenizer, config, zero_shot=zero_shot)
        self.register_buffer("input_ids", enc.input_ids, persistent=False)  # [2, tokens]
        self.register_buffer("attention_mask", enc.attention_mask, persistent=False)  # [2, tokens]
        self.tokens = tuple(tuple(tokenizer.convert_ids_to_tokens(row.tolist())) for row in enc.input_ids)
        if self.n_ctx:
            placeholder_id = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(config.placeholder))[0]
            if not bool((enc.input_ids[:, 1 : 1 + self.n_ctx] == placeholder_id).all()):
                raise ValueError(
                    f"placeholder {config.placeholder!r} does not tokenise to one token per context "
                    "vector; choose a single-token placeholder such as 'X'."
                )
            self.ctx = nn.Parameter(torch.randn(self.n_ctx, width) * config.ctx_init_std)
        else:
            self.ctx = None

    def forward(self, text_encoder: nn.Module) -> torch.Tensor:
        """``(2, tokens, width)``: P_good and P_bad, in the text encoder's dtype."""
        return encode_text(text_encoder, self.input_ids, self.attention_mask, self.ctx)


def prompt_texts(config: GenzIQAConfig, *, zero_shot: bool) -> list[str]:
    """The (good, bad) prompt texts: ``"X X ... X Good Photo."`` trained, ``"Good Photo."`` zero-shot."""
    prefix = "" if zero_shot else " ".join([config.placeholder] * config.n_ctx) + " "
    return [prefix + words for words in config.class_words]


def tokenize(tokenizer, config: GenzIQAConfig, *, zero_shot: bool):
    """The prompts tokenised and padded to the tokenizer's length: ``input_ids``/``attention_mask`` (2, T)."""
    return tokenizer(prompt_texts(config, zero_shot=zero_shot), padding="max_length",
                     max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")


def prompt_tokens(config: GenzIQAConfig, *, zero_shot: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Token strings of the prompts, from the CLIP vocabulary genziqa ships (no model needed).

    SD 1.x and 2.x tokenise words the same way (they differ only in the padding token), so this
    is what a loaded scorer's ``prompts.tokens`` holds up to the end token.
    """
    from .backbone import FAMILY_CONFIGS
    from .clip_vocab import clip_tokenizer

    tokenizer = clip_tokenizer(FAMILY_CONFIGS["sd1"] / "tokenizer" / "tokenizer_config.json")
    ids = tokenize(tokenizer, config, zero_shot=zero_shot).input_ids
    return tuple(tuple(tokenizer.convert_ids_to_tokens(row.tolist())) for row in ids)


def encode_text(text_encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                ctx: torch.Tensor | None = None) -> torch.Tensor:
    """The CLIP text transformer, written out so the padding mask and context vectors are explicit.

    ``input_ids``/``attention_mask``: ``(P, T)``. ``ctx``: ``(n_ctx, width)`` replacing the token
    embeddings at positions ``1 .. n_ctx`` (right after the start token), or None.
    Returns the final-layer-norm output ``(P, T, width)`` (no projection), as SD conditions on.
    """
    # transformers >= 5.6 flattened CLIPTextModel; older releases wrap it in `.text_model`.
    model = getattr(text_encoder, "text_model", text_encoder)
    device = model.embeddings.token_embedding.weight.device
    dtype = model.embeddings.token_embedding.weight.dtype
    ids = input_ids.to(device)
    hidden = model.embeddings.token_embedding(ids)  # [P, T, W]
    if ctx is not None:
        n = ctx.shape[0]
        shared = ctx.to(device=device, dtype=dtype).unsqueeze(0).expand(ids.shape[0], -1, -1)
        hidden = torch.cat([hidden[:, :1], shared, hidden[:, 1 + n :]], dim=1)
    tokens = ids.shape[1]
    hidden = hidden + model.embeddings.position_embedding.weight[:tokens]
    mask = _causal_padding_mask(attention_mask.to(device), dtype)  # [P, 1, T, T]
    for layer in model.encoder.layers:
        residual = hidden
        hidden = residual + _self_attention(layer.self_attn, layer.layer_norm1(hidden), mask)
        residual = hidden
        hidden = residual + layer.mlp(layer.layer_norm2(hidden))
    return model.final_layer_norm(hidden)


def _causal_padding_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask ``(P, 1, T, T)``: a query sees earlier tokens that are not padding."""
    tokens = attention_mask.shape[1]
    causal = torch.ones(tokens, tokens, dtype=torch.bool, device=attention_mask.device).tril()
    allowed = causal.unsqueeze(0) & attention_mask.bool().unsqueeze(1)  # [P, T(query), T(key)]
    blocked = torch.finfo(dtype).min
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, blocked).unsqueeze(1)


def _self_attention(attn: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    batch, tokens, width = x.shape
    heads = attn.num_heads
    shape = (batch, tokens, heads, width // heads)
    q = attn.q_proj(x).view(shape).transpose(1, 2)  # [P, heads, T, d]
    k = attn.k_proj(x).view(shape).transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.out_proj(out.transpose(1, 2).reshape(batch, tokens, width))
