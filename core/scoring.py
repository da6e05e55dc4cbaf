"""The GenzIQA score of a batch of images: the fast, batched path (METHOD 1).

For B images, T timesteps and the (good, bad) prompts, the UNet sees B*T*2 rows: latents
``[z_t(img0,t0), z_t(img0,t0), z_t(img0,t1), ...]`` with prompts ``[G, B, G, B, ...]``, in
micro-batches of ``batch_size`` rows. Nothing is averaged across images, so a score does not
depend on batch size or on which images share a batch.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Sequence

import torch

from .attention import Capture, capture_cross_attention, cross_attention_names
from .backbone import Backbone
from .config import CLIP_MEAN, CLIP_STD, GenzIQAConfig
from .images import ImageError, LoadedImage, load_image, split_images, to_model_input
from .prompts import PromptLearner
from .results import Analysis, ScoredImage


class BatchImageError(ValueError):
    """Some inputs could not be scored. ``scores`` holds every other score (None at failures)."""

    def __init__(self, failures: list[ScoredImage], scores: list[float | None]):
        self.failures = failures
        self.scores = scores
        lines = "\n".join(f"  {f.error}" for f in failures[:10])
        more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
        super().__init__(f"{len(failures)} of {len(scores)} images could not be scored:\n{lines}{more}\n"
                         "Use Scorer.score_each() to get the other scores with per-image errors.")


class Scorer:
    """Scores images with one loaded backbone and one set of prompts (trained or zero-shot).

    Build it with :func:`genziqa.load`, which runs the text encoder once for ``prompt_embeds``
    ``(2, tokens, width)`` and releases it: inference never needs it again.
    """

    def __init__(self, backbone: Backbone, config: GenzIQAConfig, prompts: PromptLearner, *,
                 prompt_embeds: torch.Tensor, label: str, batch_size: int = 16):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1 (UNet rows per call).")
        self.backbone = backbone
        self.config = config
        self.prompts = prompts.to(backbone.device)
        self.zero_shot = prompts.zero_shot
        self.label = label
        self.batch_size = batch_size
        self.layer_names = tuple(cross_attention_names(backbone.unet))
        self.prompt_embeds = prompt_embeds.to(backbone.device, backbone.dtype)  # [2, tokens, width]
        backbone.text_encoder = None
        abar = backbone.alphas_cumprod[list(config.timesteps)]  # float64 [T]
        self._sqrt_abar = abar.sqrt().float().to(backbone.device)
        self._sqrt_one_minus = (1 - abar).sqrt().float().to(backbone.device)
        self._timesteps = torch.tensor(config.timesteps, dtype=torch.long, device=backbone.device)
        # On CPU in half precision oneDNN runs the VAE encoder's full-resolution convolutions
        # faster channels-last (4.3 -> 3.5 s per 512px image in bfloat16 on the benchmark CPU). In
        # float32 it saved 1.2 s but cost 0.6 GiB more peak memory, and the UNet's 64x64 maps were
        # slower that way, so those keep the default layout.
        half = backbone.dtype in (torch.bfloat16, torch.float16)
        self._vae_layout = torch.channels_last if backbone.device.type == "cpu" and half else torch.contiguous_format
        backbone.vae.to(memory_format=self._vae_layout)
        self._noise: dict[tuple[int, ...], torch.Tensor] = {}

    # -- public API -------------------------------------------------------------------------

    def score(self, images) -> list[float]:
        """One float per image (higher = better). Raises :class:`BatchImageError` naming every
        input that failed, after scoring all the others (kept in ``error.scores``)."""
        results = self.score_each(images)
        failures = [r for r in results if not r.ok]
        if failures:
            raise BatchImageError(failures, [r.score for r in results])
        return [r.score for r in results]

    def score_each(self, images, *, progress: bool = False) -> list[ScoredImage]:
        """A :class:`ScoredImage` per input; a bad input gets its error, the rest are scored."""
        items = split_images(images)
        results: list[ScoredImage | None] = [None] * len(items)
        group = max(1, self.batch_size // self.rows_per_image) * 4
        bar = progress_bar(len(items), progress)
        for start in range(0, len(items), group):
            loaded: list[tuple[int, LoadedImage]] = []
            for index in range(start, min(start + group, len(items))):
                source, item = items[index]
                try:
                    loaded.append((index, load_image(item, source)))
                except ImageError as err:
                    results[index] = ScoredImage(source=err.source, score=None, error=str(err))
            if loaded:
                scores = self._scores([img for _, img in loaded])
                for (index, img), value in zip(loaded, scores):
                    if math.isfinite(value):
                        results[index] = ScoredImage(source=img.source, score=value)
                    else:
                        results[index] = ScoredImage(source=img.source, score=None, error=self._overflow(img.source, value))
            if bar is not None:
                bar.update(min(group, len(items) - start))
        if bar is not None:
            bar.close()
        return results  # type: ignore[return-value]

    def analyze(self, image) -> Analysis:
        """Score, per-layer statistics, error gap and heatmaps of one image."""
        items = split_images(image)
        if len(items) != 1:
            raise ValueError(f"analyze() takes one image; got {len(items)}. Call it once per image.")
        source, item = items[0]
        img = load_image(item, source)
        latent = self.latent_hw
        with torch.no_grad():
            out = self._run(to_model_input([img], self.config.resolution), maps=latent)
        score = float(out["score"][0])
        if not math.isfinite(score):
            raise FloatingPointError(self._overflow(img.source, score))
        return Analysis(
            source=img.source, score=score, zero_shot=self.zero_shot, model=self.label,
            image_size=img.size, timesteps=tuple(self.config.timesteps),
            per_timestep=out["per_timestep"][0].numpy(), layer_stats=out["layer_stats"][0].numpy(),
            layer_names=self.layer_names, error_gap=out["error_gap"][0].numpy(), tokens=self.prompts.tokens,
            token_maps=out["token_maps"][0].numpy(), quality_latent=out["quality"][0].numpy(),
        )

    def _overflow(self, source: str, value: float) -> str:
        return (f"{source}: the score came out {value}: the backbone overflowed in {self.backbone.dtype}. "
                "Load the scorer with dtype='float32' (or 'bfloat16').")

    @property
    def rows_per_image(self) -> int:
        return 2 * len(self.config.timesteps)

    @property
    def latent_hw(self) -> tuple[int, int]:
        side = self.config.resolution // self.backbone.vae_scale
        return side, side

    # -- the computation ---------------------------------------------------------------------

    def _scores(self, images: Sequence[LoadedImage]) -> list[float]:
        # A zero-shot score is the error gap alone: the attention statistic would be wasted work.
        with torch.no_grad():
            out = self._run(to_model_input(list(images), self.config.resolution), statistics=not self.zero_shot)
        return [float(v) for v in out["score"]]

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, R, R)`` in [0, 1] -> z0 ``(B, C, R/8, R/8)`` float32 (METHOD 1.1)."""
        bb = self.backbone
        x = pixels.to(bb.device, torch.float32)
        if self.config.pixel_norm == "symmetric":
            x = x * 2 - 1
        else:
            mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
            x = (x - mean) / std
        latents = []
        for one in x.split(4):  # the VAE encoder is memory-hungry at 512px: 4 images at a time
            dist = bb.vae.encode(one.to(bb.dtype).contiguous(memory_format=self._vae_layout)).latent_dist
            if self.config.latent == "mode":
                z = dist.mode().float()
            else:
                # One seeded draw per image, so a score does not depend on its batch neighbours.
                noise = torch.stack([
                    torch.randn(dist.mean.shape[1:], generator=torch.Generator().manual_seed(self.config.noise_seed + 1))
                    for _ in range(one.shape[0])
                ]).to(bb.device)
                z = dist.mean.float() + dist.std.float() * noise
            latents.append(z)
        return torch.cat(latents) * float(bb.vae.config.scaling_factor)

    def noise_bank(self, latent_shape: tuple[int, ...]) -> torch.Tensor:
        """``(T, C, h, w)`` float32: eps_k for the k-th timestep, the same for every image."""
        key = tuple(latent_shape)
        if key not in self._noise:
            gen = torch.Generator().manual_seed(self.config.noise_seed)
            bank = torch.randn((len(self.config.timesteps), *key), generator=gen)
            self._noise[key] = bank.to(self.backbone.device)
        return self._noise[key]

    def _run(self, pixels: torch.Tensor, maps: tuple[int, int] | None = None,
             statistics: bool = True) -> dict[str, torch.Tensor]:
        """Score ``(B, 3, R, R)`` pixels; ``maps``: heatmap grid size, or None for scores only;
        ``statistics=False`` skips the attention statistic (layer_stats are then NaN)."""
        with exact_float32(self.backbone.device, self.backbone.dtype):
            return self._run_exact(pixels, maps, statistics or maps is not None)

    def _run_exact(self, pixels: torch.Tensor, maps: tuple[int, int] | None, statistics: bool) -> dict[str, torch.Tensor]:
        bb = self.backbone
        z0 = self.encode(pixels)  # [B, C, h, w]
        n_img, n_t = z0.shape[0], len(self.config.timesteps)
        eps = self.noise_bank(z0.shape[1:])  # [T, C, h, w]
        rows = n_img * n_t * 2
        dev = bb.device
        img_of = torch.arange(n_img, device=dev).repeat_interleave(2 * n_t)
        t_of = torch.arange(n_t, device=dev).repeat_interleave(2).repeat(n_img)
        prompt_of = torch.arange(2, device=dev).repeat(n_img * n_t)
        errors = torch.empty(rows, device=dev)
        lse = torch.full((rows, len(self.layer_names)), float("nan"), device=dev)
        token_maps = sq_err = None
        capture = Capture(self.config.lse_lambda, map_size=maps) if statistics else None
        with capture_cross_attention(bb.unet, capture, z0.shape[-2:]):
            for start in range(0, rows, self.batch_size):
                sl = slice(start, start + self.batch_size)
                k = t_of[sl]
                a = self._sqrt_abar[k].view(-1, 1, 1, 1)
                s = self._sqrt_one_minus[k].view(-1, 1, 1, 1)
                noise = eps[k]
                z_t = a * z0[img_of[sl]] + s * noise  # DDPM forward process, float32
                if capture is not None:
                    capture.reset()
                out = bb.unet(z_t.to(bb.dtype), self._timesteps[k],
                              encoder_hidden_states=self.prompt_embeds[prompt_of[sl]]).sample.float()
                if bb.prediction_type == "v_prediction":
                    out = a * out + s * z_t  # v -> epsilon
                diff = noise - out
                errors[sl] = diff.flatten(1).norm(dim=1)
                if capture is not None:
                    lse[sl] = torch.stack([capture.lse[n] for n in self.layer_names], dim=1)
                if maps is not None:
                    if token_maps is None:
                        token_maps = torch.empty(rows, *capture.maps.shape[1:], device=dev)
                        sq_err = torch.empty(rows, *diff.shape[2:], device=dev)
                    token_maps[sl] = capture.maps / capture.map_layers
                    sq_err[sl] = diff.pow(2).sum(dim=1)
        errors = errors.view(n_img, n_t, 2)
        gap = errors[..., 0] - errors[..., 1]  # b_t: [B, T]
        layer_stats = lse.view(n_img, n_t, 2, -1).mean(dim=2)  # m_l: [B, T, L]
        if self.zero_shot:
            per_t = -gap
        else:
            per_t = layer_stats.mean(dim=-1) + gap
        out = {"score": per_t.mean(dim=1).cpu(), "per_timestep": per_t.cpu(),
               "layer_stats": layer_stats.cpu(), "error_gap": gap.cpu()}
        if maps is not None:
            out["token_maps"] = token_maps.view(n_img, n_t, 2, *token_maps.shape[1:]).mean(dim=1).cpu()
            sq = sq_err.view(n_img, n_t, 2, *sq_err.shape[1:])
            out["quality"] = (sq[:, :, 1] - sq[:, :, 0]).mean(dim=1).cpu()
        return out


@contextmanager
def exact_float32(device: torch.device, dtype: torch.dtype):
    """float32 on CUDA means float32: TF32 (on by default for cuDNN convolutions) is switched off
    while scoring and restored afterwards, so GPU scores match CPU ones to float rounding."""
    if device.type != "cuda" or dtype != torch.float32:
        yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul


def progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="genziqa")
