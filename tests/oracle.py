"""A plain, slow, obviously-correct GenzIQA computation that the fast path must match.

One image, one timestep and one prompt per UNet call; every attention layer (self and cross)
computes softmax(QK^T / sqrt(d)) V explicitly; the statistic is computed here from the raw
logits the cross-attention layers hand back. The noise schedule is rebuilt from the betas.
"""

from __future__ import annotations

import math

import torch

LAMBDA = 0.14


class ExplicitAttention:
    """Plain attention for any diffusers ``Attention``; records cross-attention logits."""

    def __init__(self, name: str, record: dict):
        self.name = name
        self.record = record

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        cross = encoder_hidden_states is not None
        context = encoder_hidden_states if cross else hidden_states
        q, k, v = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        b, n, _ = q.shape
        h = attn.heads
        d = q.shape[-1] // h
        q = q.reshape(b, n, h, d).permute(0, 2, 1, 3)
        k = k.reshape(b, -1, h, d).permute(0, 2, 1, 3)
        v = v.reshape(b, -1, h, d).permute(0, 2, 1, 3)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        if cross:
            self.record[self.name] = logits.detach().clone()
        out = logits.softmax(dim=-1) @ v
        out = out.permute(0, 2, 1, 3).reshape(b, n, h * d)
        return attn.to_out[1](attn.to_out[0](out))


def alphas_cumprod(scheduler_config: dict) -> torch.Tensor:
    assert scheduler_config["beta_schedule"] == "scaled_linear"
    n = scheduler_config["num_train_timesteps"]
    betas = torch.linspace(scheduler_config["beta_start"] ** 0.5, scheduler_config["beta_end"] ** 0.5, n,
                           dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0)


@torch.no_grad()
def oracle_score(scorer, pixels: torch.Tensor, scheduler_config: dict) -> dict:
    """``pixels``: (3, R, R) in [0, 1]. Returns score, per_timestep, layer_stats (T, L), error_gap."""
    bb, cfg = scorer.backbone, scorer.config
    unet = bb.unet
    record: dict = {}
    names = [n for n in unet.attn_processors if ".attn2." in n]
    previous = unet.attn_processors
    unet.set_attn_processor({n: ExplicitAttention(n, record) for n in previous})
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32
    try:
        x = pixels.unsqueeze(0).to(bb.device, bb.dtype) * 2 - 1
        z0 = bb.vae.encode(x).latent_dist.mode().float() * bb.vae.config.scaling_factor
        abar = alphas_cumprod(scheduler_config)
        gen = torch.Generator().manual_seed(cfg.noise_seed)
        bank = torch.randn((len(cfg.timesteps), *z0.shape[1:]), generator=gen).to(bb.device)
        per_t, stats, gaps = [], [], []
        for k, t in enumerate(cfg.timesteps):
            a, s = abar[t].sqrt().item(), (1 - abar[t]).sqrt().item()
            eps = bank[k : k + 1]
            z_t = a * z0 + s * eps
            errs, layer_means = [], []
            for p in range(2):
                record.clear()
                out = unet(z_t.to(bb.dtype), torch.tensor([t], device=bb.device),
                           encoder_hidden_states=scorer.prompt_embeds[p : p + 1]).sample.float()
                if bb.prediction_type == "v_prediction":
                    out = a * out + s * z_t
                errs.append(torch.linalg.vector_norm(eps - out).item())
                lse = [torch.logsumexp(LAMBDA * record[n].double(), dim=2) / LAMBDA for n in names]
                layer_means.append(torch.stack([x.mean() for x in lse]))  # [L], mean over heads, tokens
            m = (layer_means[0] + layer_means[1]) / 2
            gap = errs[0] - errs[1]
            stats.append(m)
            gaps.append(gap)
            per_t.append(-gap if scorer.zero_shot else m.mean().item() + gap)
    finally:
        unet.set_attn_processor(previous)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    per_t = torch.tensor(per_t, dtype=torch.float64)
    return {"score": per_t.mean().item(), "per_timestep": per_t, "layer_stats": torch.stack(stats),
            "error_gap": torch.tensor(gaps, dtype=torch.float64), "layer_names": names}
