"""GenzIQA Filter: split a batch into kept and rejected images, latents and masks kept aligned."""

from __future__ import annotations

from . import _host
from ._batch import batch_size, check_aligned, take_images, take_latent, take_mask
from ._values import CATEGORY, MODEL, SCORES, QualityScores, plural
from .score import scores_for

THRESHOLD = "score >= threshold"
FRACTION = "best fraction"
SIDE = ("images", "latent", "mask", "scores")


class GenzIQAFilter:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Keeps the images that score at least a threshold, or the best fraction of the batch, and passes the rest on "
        "as rejected. Latents and masks connected here are split the same way. An empty side does not stop the "
        "run: the nodes it feeds are skipped, and the node says how many passed. Zero-shot scores are uncalibrated: "
        "prefer best fraction with them."
    )
    RETURN_TYPES = ("IMAGE", "LATENT", "MASK", SCORES, "IMAGE", "LATENT", "MASK", SCORES, "STRING")
    RETURN_NAMES = ("kept_images", "kept_latent", "kept_mask", "kept_scores",
                    "rejected_images", "rejected_latent", "rejected_mask", "rejected_scores", "report")
    OUTPUT_TOOLTIPS = (
        "The images that passed, in batch order (skipped downstream when none passed).",
        "The latents of the images that passed (skipped when no latent is connected or none passed).",
        "The masks of the images that passed (skipped when no mask is connected or none passed).",
        "The scores of the images that passed, for Save Image With Quality.",
        "The images that did not pass, in batch order (skipped downstream when all passed).",
        "The latents of the rejected images.",
        "The masks of the rejected images.",
        "The scores of the rejected images.",
        "How many passed, and which, in words.",
    )
    # An output node, so ComfyUI shows its report again when a rerun finds it cached.
    OUTPUT_NODE = True
    FUNCTION = "filter"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The batch to filter."}),
                "mode": ([THRESHOLD, FRACTION], {"default": FRACTION, "tooltip": (
                    "score >= threshold: keep every image scoring at least threshold (needs calibrated, trained scores "
                    "to mean much). best fraction: keep the best fraction of this batch, whatever the scale.")}),
                "threshold": ("FLOAT", {"default": 0.0, "min": -1000.0, "max": 1000.0, "step": 0.001, "tooltip": (
                    "Lowest score kept in 'score >= threshold' mode. Read typical values off a GenzIQA Score node first.")}),
                "fraction": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": (
                    "Share of the batch kept in 'best fraction' mode, rounded up: 0.25 of 10 images keeps 3.")}),
            },
            "optional": {
                "genziqa_model": (MODEL, {"tooltip": "Scores the images here. Not needed when genziqa_scores is connected."}),
                "genziqa_scores": (SCORES, {"tooltip": "Scores of these images from GenzIQA Score: no second scoring pass."}),
                "latent": ("LATENT", {"tooltip": "Optional latents of the same batch, split alongside the images."}),
                "mask": ("MASK", {"tooltip": "Optional masks of the same batch (or one mask for all), split alongside."}),
            },
        }

    def filter(self, images, mode, threshold, fraction, genziqa_model=None, genziqa_scores=None, latent=None, mask=None):
        from ..core import selection

        n = batch_size(images)
        check_aligned(n, latent, mask)
        scores = scores_for(images, genziqa_model, genziqa_scores, "GenzIQA Filter")
        if mode == THRESHOLD:
            split, rule = selection.by_threshold(scores.scores, threshold), f"score >= {threshold:g}"
        elif mode == FRACTION:
            split, rule = selection.best_fraction(scores.scores, fraction), f"best {fraction:.0%}"
        else:
            raise ValueError(f"GenzIQA Filter: mode={mode!r} is not one of {THRESHOLD!r}, {FRACTION!r}.")
        kept = _side(split.kept, images, latent, mask, scores)
        rejected = _side(split.rejected, images, latent, mask, scores)
        text = describe(split, scores, rule)
        return {"ui": {"text": [text]}, "result": (*kept, *rejected, text)}


def _side(positions, images, latent, mask, scores: QualityScores) -> tuple:
    """(images, latent, mask, scores) of ``positions``; a blocker where there is nothing to pass."""
    if not positions:
        return tuple(_host.blocked() for _ in SIDE)
    n = batch_size(images)
    return (
        take_images(images, positions),
        take_latent(latent, positions) if latent is not None else _host.blocked(),
        take_mask(mask, n, positions) if mask is not None else _host.blocked(),
        scores.take(positions),
    )


def describe(split, scores: QualityScores, rule: str) -> str:
    n = len(scores)
    kept, rejected = len(split.kept), len(split.rejected)
    head = f"{kept} of {plural(n, 'image')} passed ({rule})"
    if kept == 0:
        head = f"none of {plural(n, 'image')} passed ({rule}): the kept outputs are empty and the nodes they feed are skipped"
    elif rejected == 0:
        head += ": none rejected, the nodes fed by the rejected outputs are skipped"
    lines = [head, f"model: {scores.model}"]
    if scores.scores:
        lines.append(f"scores range from {min(scores.scores):.4f} to {max(scores.scores):.4f}")
    lines += [f"#{i}  {s:.4f}  {'kept' if i in split.kept else 'rejected'}" for i, s in enumerate(scores.scores)]
    return "\n".join(lines)
