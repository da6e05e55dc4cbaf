"""Scoring images with one loaded model: batching, per-image errors, no gradients.

The score itself is computed by :func:`genziqa.core.method.forward`; this module turns user
inputs into model batches, keeps going past bad images, and reports progress.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from .attention import cross_attention_names
from .backbone import Backbone
from .config import GenzIQAConfig
from .images import ImageError, LoadedImage, load_image, split_images, to_model_input
from .method import MethodOutput, Progress, encode_latents, fixed_timesteps, forward, noise_bank
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
                 prompt_embeds: torch.Tensor, label: str, unet_rows: int = 16, run_id: str = ""):
        if unet_rows < 1:
            raise ValueError(f"unet_rows={unet_rows} must be at least 1 (UNet rows per call).")
        self.backbone = backbone
        self.config = config
        self.prompts = prompts.to(backbone.device)
        self.zero_shot = prompts.zero_shot
        self.label = label
        self.run_id = run_id
        """What identifies the numbers this scorer writes (see :mod:`genziqa.core.identity`)."""
        self.unet_rows = unet_rows
        self.layer_names = tuple(cross_attention_names(backbone.unet))
        self.prompt_embeds = prompt_embeds.to(backbone.device, backbone.dtype)  # [2, tokens, width]
        backbone.text_encoder = None
        self._noise: dict[tuple[int, ...], torch.Tensor] = {}
        self._choose_vae_layout()

    def to(self, device: str | torch.device) -> "Scorer":
        """Move the model to ``device`` (e.g. onto a GPU for a run and back to the CPU between
        runs, as ComfyUI offloads models). Scores stay the same to float rounding; returns self."""
        from .backbone import resolve_device

        dev = resolve_device(device)
        bb = self.backbone
        if dev == bb.device:
            return self
        bb.unet.to(dev)
        bb.vae.to(dev)
        self.prompts.to(dev)
        self.prompt_embeds = self.prompt_embeds.to(dev)
        self._noise = {key: bank.to(dev) for key, bank in self._noise.items()}
        bb.device = dev
        self._choose_vae_layout()
        return self

    def _choose_vae_layout(self) -> None:
        # On CPU in half precision oneDNN runs the VAE encoder's full-resolution convolutions
        # faster channels-last (4.3 -> 3.5 s per 512px image in bfloat16 on the benchmark CPU). In
        # float32 it saved 1.2 s but cost 0.6 GiB more peak memory, and the UNet's 64x64 maps were
        # slower that way, so those keep the default layout.
        bb = self.backbone
        half = bb.dtype in (torch.bfloat16, torch.float16)
        self._vae_layout = torch.channels_last if bb.device.type == "cpu" and half else torch.contiguous_format
        bb.vae.to(memory_format=self._vae_layout)

    # -- public API -------------------------------------------------------------------------

    def score(self, images) -> list[float]:
        """One float per image (higher = better). Raises :class:`BatchImageError` naming every
        input that failed, after scoring all the others (kept in ``error.scores``)."""
        results = self.score_each(images)
        failures = [r for r in results if not r.ok]
        if failures:
            raise BatchImageError(failures, [r.score for r in results])
        return [r.score for r in results]

    def score_each(self, images, *, progress: bool | Progress = False) -> list[ScoredImage]:
        """A :class:`ScoredImage` per input; a bad input gets its error, the rest are scored.

        ``progress``: True for a progress bar, or ``progress(rows_done, rows_total)`` called after
        every UNet call (16 rows per image).
        """
        items = split_images(images)
        results: list[ScoredImage | None] = [None] * len(items)
        group = self.images_per_call * 4  # images decoded and resized together
        report = _RowProgress(len(items) * self.rows_per_image, progress, unit="img", per=self.rows_per_image)
        for start in range(0, len(items), group):
            loaded: list[tuple[int, LoadedImage]] = []
            for index in range(start, min(start + group, len(items))):
                source, item = items[index]
                try:
                    loaded.append((index, load_image(item, source)))
                except ImageError as err:
                    results[index] = ScoredImage(source=err.source, score=None, error=str(err))
                    report.skip(self.rows_per_image)
            if loaded:
                with torch.no_grad():
                    out = self._run([img for _, img in loaded], statistics=not self.zero_shot, progress=report)
                for (index, img), value in zip(loaded, out.score.tolist()):
                    if math.isfinite(value):
                        results[index] = ScoredImage(source=img.source, score=value)
                    else:
                        results[index] = ScoredImage(source=img.source, score=None, error=self._overflow(img.source, value))
        report.close()
        return results  # type: ignore[return-value]

    def analyze(self, image, *, progress: bool | Progress = False) -> Analysis:
        """Score, per-layer statistics, error gap and heatmaps of one image."""
        items = split_images(image)
        if len(items) != 1:
            raise ValueError(f"analyze() takes one image; got {len(items)}. Call it once per image.")
        source, item = items[0]
        img = load_image(item, source)
        report = _RowProgress(self.rows_per_image, progress, unit="row", per=1)
        with torch.no_grad():
            out = self._run([img], maps=self.latent_hw, progress=report)
        report.close()
        score = float(out.score[0])
        if not math.isfinite(score):
            raise FloatingPointError(self._overflow(img.source, score))
        return Analysis(
            source=img.source, score=score, zero_shot=self.zero_shot, model=self.label,
            image_size=img.size, timesteps=tuple(self.config.timesteps),
            per_timestep=out.per_timestep[0].cpu().numpy(), layer_stats=out.layer_stats[0].cpu().numpy(),
            layer_names=self.layer_names, error_gap=out.error_gap[0].cpu().numpy(), tokens=self.prompts.tokens,
            token_maps=out.token_maps[0].cpu().numpy(), quality_latent=out.quality[0].cpu().numpy(),
        )

    @property
    def rows_per_image(self) -> int:
        """UNet rows one image costs: timesteps x (good, bad)."""
        return 2 * len(self.config.timesteps)

    @property
    def images_per_call(self) -> int:
        """Whole images per UNet call at this scorer's ``unet_rows`` (at least 1)."""
        return max(1, self.unet_rows // self.rows_per_image)

    @property
    def latent_hw(self) -> tuple[int, int]:
        side = self.config.resolution // self.backbone.vae_scale
        return side, side

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, 3, R, R)`` in [0, 1] -> z0 ``(B, C, R/8, R/8)`` float32 (METHOD 1.1)."""
        with torch.no_grad(), exact_float32(self.backbone.device, self.backbone.dtype):
            return encode_latents(self.backbone, pixels, self.config, memory_format=self._vae_layout)

    # -- the computation ---------------------------------------------------------------------

    def _run(self, images: list[LoadedImage], *, statistics: bool = True, maps: tuple[int, int] | None = None,
             progress: Progress | None = None) -> MethodOutput:
        pixels = to_model_input(images, self.config.resolution, resize=self.config.resize)
        with exact_float32(self.backbone.device, self.backbone.dtype):
            z0 = encode_latents(self.backbone, pixels, self.config, memory_format=self._vae_layout)
            n = z0.shape[0]
            return forward(
                self.backbone, z0, prompt_embeds=self.prompt_embeds,
                timesteps=fixed_timesteps(self.config, n, self.backbone.device),
                noise=self.noise_bank(z0.shape[1:]).unsqueeze(0).expand(n, *([-1] * 4)),
                lse_lambda=self.config.lse_lambda, zero_shot=self.zero_shot, rows_per_call=self.unet_rows,
                statistics=statistics, maps=maps, progress=progress,
            )

    def noise_bank(self, latent_shape: tuple[int, ...]) -> torch.Tensor:
        """``(T, C, h, w)`` float32 on the model's device, made once per latent shape."""
        key = tuple(latent_shape)
        if key not in self._noise:
            self._noise[key] = noise_bank(self.config, key).to(self.backbone.device)
        return self._noise[key]

    def _overflow(self, source: str, value: float) -> str:
        return (f"{source}: the score came out {value}: the backbone overflowed in {self.backbone.dtype}. "
                "Load the scorer with dtype='float32' (or 'bfloat16').")


class _RowProgress:
    """Feeds UNet-row progress to a callable, or to a tqdm bar counted in ``unit``s of ``per`` rows."""

    def __init__(self, total: int, target: bool | Progress, *, unit: str, per: int):
        self.total, self.done, self.per = total, 0, per
        self.call = target if callable(target) else None
        self.bar = None
        if target is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total // per, unit=unit, desc="genziqa")
        self._base = 0

    def __call__(self, rows_done: int, rows_total: int) -> None:
        """Called by the forward of one group: ``rows_done`` of its ``rows_total``."""
        self._advance(self._base + rows_done)
        if rows_done == rows_total:
            self._base += rows_total

    def skip(self, rows: int) -> None:
        self._base += rows
        self._advance(self._base)

    def _advance(self, done: int) -> None:
        if done <= self.done:
            return
        if self.bar is not None:
            self.bar.update(done // self.per - self.done // self.per)
        self.done = done
        if self.call is not None:
            self.call(done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
