"""The method's forward for a batch of latents, with or without gradients (METHOD 1.2-1.7).

:func:`forward` is the one place the score is computed: the scorer calls it under ``no_grad``
with the fixed test timesteps and noise bank, training calls it with gradients, one random
timestep and fresh noise per image. The steps, for B images and T timesteps each:

1. noise every latent at each of its timesteps (DDPM forward process, float32);
2. run the UNet on B*T*2 rows, ``[z(i0,t0) G, z(i0,t0) B, z(i0,t1) G, ...]``, ``rows_per_call`` at a
   time, reading the cross-attention statistic off the ``attn2`` layers;
3. reduce per image: the denoising-error gap b_t, the per-layer statistic m_l, and the score.

Nothing is averaged across images, so a score does not depend on its batch neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .attention import Capture, capture_cross_attention, cross_attention_names
from .backbone import Backbone
from .config import CLIP_MEAN, CLIP_STD, GenzIQAConfig

Progress = Callable[[int, int], None]
"""``progress(rows_done, rows_total)``, called after every UNet call."""


@dataclass(frozen=True)
class MethodOutput:
    """Per-image results of :func:`forward`; tensors on the backbone's device, float32.

    B = images, T = timesteps per image, L = cross-attention layers, K = prompt tokens,
    (h, w) = heatmap grid.
    """

    score: torch.Tensor
    """(B,) mean over timesteps of ``per_timestep``."""
    per_timestep: torch.Tensor
    """(B, T) s_t = mean_l m_l + b_t when trained; -b_t zero-shot."""
    layer_stats: torch.Tensor
    """(B, T, L) m_l, mean over both prompts, heads and tokens; NaN when not computed."""
    error_gap: torch.Tensor
    """(B, T) b_t = ||eps - eps_good|| - ||eps - eps_bad||."""
    token_maps: torch.Tensor | None = None
    """(B, 2, K, h, w) head- and layer-averaged softmax attention, mean over timesteps."""
    quality: torch.Tensor | None = None
    """(B, h, w) mean over timesteps of |eps - eps_bad|^2 - |eps - eps_good|^2 per cell."""


def encode_latents(backbone: Backbone, pixels: torch.Tensor, config: GenzIQAConfig, *,
                   memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """``(B, 3, R, R)`` in [0, 1] -> z0 ``(B, C, R/8, R/8)`` float32 (METHOD 1.1).

    One image per VAE call: the encoder is memory-hungry at 512 px, and a convolution's rounding
    depends on its batch size, so encoding alone keeps z0 bit-identical whatever the neighbours.
    """
    vae = backbone.vae
    x = pixels.to(backbone.device, torch.float32)
    if config.pixel_norm == "symmetric":
        x = x * 2 - 1
    else:
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
    latents = []
    for one in x.split(1):
        dist = vae.encode(one.to(backbone.dtype).contiguous(memory_format=memory_format)).latent_dist
        if config.latent == "mode":
            latents.append(dist.mode().float())
        else:
            # One seeded draw, the same for every image (parity option: the authors sample).
            gen = torch.Generator().manual_seed(config.noise_seed + 1)
            noise = torch.randn(dist.mean.shape[1:], generator=gen).to(backbone.device)
            latents.append(dist.mean.float() + dist.std.float() * noise)
    return torch.cat(latents) * float(vae.config.scaling_factor)


def noise_bank(config: GenzIQAConfig, latent_shape: tuple[int, ...]) -> torch.Tensor:
    """``(T, C, h, w)`` float32 on the CPU: eps_k for the k-th test timestep, shared by every image."""
    gen = torch.Generator().manual_seed(config.noise_seed)
    return torch.randn((len(config.timesteps), *latent_shape), generator=gen)


def forward(
    backbone: Backbone,
    z0: torch.Tensor,
    *,
    prompt_embeds: torch.Tensor,
    timesteps: torch.Tensor,
    noise: torch.Tensor,
    lse_lambda: float,
    zero_shot: bool,
    rows_per_call: int,
    statistics: bool = True,
    maps: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> MethodOutput:
    """The GenzIQA forward of ``z0`` ``(B, C, h, w)`` float32.

    ``prompt_embeds``: ``(2, tokens, width)`` P_good, P_bad (constant when scoring; from the text
    encoder, with gradients, when training). ``timesteps``: ``(B, T)`` long. ``noise``:
    ``(B, T, C, h, w)`` float32, eps for each (image, timestep). ``statistics=False`` skips the
    attention statistic (a zero-shot score does not use it; ``layer_stats`` is then NaN).
    ``maps``: heatmap grid size, or None. Differentiable when called with gradients enabled.
    """
    unet = backbone.unet
    n_img, n_t = timesteps.shape
    dev = backbone.device
    layer_names = cross_attention_names(unet)
    abar = backbone.alphas_cumprod[timesteps.flatten().cpu()]  # float64 [B*T]
    sqrt_abar = abar.sqrt().float().to(dev).view(n_img, n_t)
    sqrt_one_minus = (1 - abar).sqrt().float().to(dev).view(n_img, n_t)
    noise = noise.to(dev)

    # Row r is image r // (2T), timestep (r // 2) % T, prompt r % 2 (0 good, 1 bad).
    rows = n_img * n_t * 2
    img_of = torch.arange(n_img, device=dev).repeat_interleave(2 * n_t)
    t_of = torch.arange(n_t, device=dev).repeat_interleave(2).repeat(n_img)
    prompt_of = torch.arange(2, device=dev).repeat(n_img * n_t)
    want_stats = statistics or maps is not None
    capture = Capture(lse_lambda, map_size=maps) if want_stats else None

    errors, lse, token_maps, sq_err = [], [], [], []
    with capture_cross_attention(unet, capture, z0.shape[-2:]):
        for start in range(0, rows, rows_per_call):
            sl = slice(start, start + rows_per_call)
            i, k = img_of[sl], t_of[sl]
            a = sqrt_abar[i, k].view(-1, 1, 1, 1)
            s = sqrt_one_minus[i, k].view(-1, 1, 1, 1)
            eps = noise[i, k]  # [rows, C, h, w]
            z_t = a * z0[i] + s * eps  # DDPM forward process, float32
            if capture is not None:
                capture.reset()
            out = unet(z_t.to(backbone.dtype), timesteps[i, k],
                       encoder_hidden_states=prompt_embeds[prompt_of[sl]].to(backbone.dtype)).sample.float()
            if backbone.prediction_type == "v_prediction":
                out = a * out + s * z_t  # v -> epsilon
            diff = eps - out
            errors.append(diff.flatten(1).norm(dim=1))
            if capture is not None:
                lse.append(torch.stack([capture.lse[n] for n in layer_names], dim=1))  # [rows, L]
            if maps is not None:
                token_maps.append(capture.maps / capture.map_layers)  # [rows, K, h, w]
                sq_err.append(diff.pow(2).sum(dim=1))  # [rows, h, w]
            if progress is not None:
                progress(min(start + rows_per_call, rows), rows)

    err = torch.cat(errors).view(n_img, n_t, 2)
    gap = err[..., 0] - err[..., 1]  # b_t: [B, T]
    if lse:
        layer_stats = torch.cat(lse).view(n_img, n_t, 2, -1).mean(dim=2)  # m_l: [B, T, L]
    else:
        layer_stats = torch.full((n_img, n_t, len(layer_names)), float("nan"), device=dev)
    per_t = -gap if zero_shot else layer_stats.mean(dim=-1) + gap
    extra = {}
    if maps is not None:
        grids = torch.cat(token_maps)
        extra["token_maps"] = grids.view(n_img, n_t, 2, *grids.shape[1:]).mean(dim=1)
        sq = torch.cat(sq_err).view(n_img, n_t, 2, *sq_err[0].shape[1:])
        extra["quality"] = (sq[:, :, 1] - sq[:, :, 0]).mean(dim=1)
    return MethodOutput(score=per_t.mean(dim=1), per_timestep=per_t, layer_stats=layer_stats, error_gap=gap, **extra)


def fixed_timesteps(config: GenzIQAConfig, n_images: int, device: torch.device) -> torch.Tensor:
    """``(B, T)`` long: the method's fixed test timesteps for every image."""
    return torch.tensor(config.timesteps, dtype=torch.long, device=device).expand(n_images, -1)
