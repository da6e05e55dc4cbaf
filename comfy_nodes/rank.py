"""GenzIQA Rank: sort a batch by score and keep the best k, latents and masks kept aligned."""

from __future__ import annotations

from . import _host
from ._batch import batch_size, check_aligned, take_images, take_latent, take_mask
from ._values import CATEGORY, MODEL, SCORES, plural

BEST_FIRST = "best first"
WORST_FIRST = "worst first"


class GenzIQARank:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Sorts a batch by GenzIQA score (best or worst first) and keeps the first top_k images (0 = all). "
        "Latents and masks connected here follow the same order; the scores come out in the new order."
    )
    RETURN_TYPES = ("IMAGE", "LATENT", "MASK", SCORES, "FLOAT", "STRING")
    RETURN_NAMES = ("images", "latent", "mask", "genziqa_scores", "scores", "report")
    OUTPUT_IS_LIST = (False, False, False, False, True, False)
    OUTPUT_TOOLTIPS = (
        "The images in score order, cut to top_k.",
        "Their latents, in the same order (skipped when no latent is connected).",
        "Their masks, in the same order (skipped when no mask is connected).",
        "Their scores in the new order, for Save Image With Quality.",
        "Their scores as a list of numbers, in the new order.",
        "The ranking in words: new position, original index, score.",
    )
    # An output node, so ComfyUI shows its report again when a rerun finds it cached.
    OUTPUT_NODE = True
    FUNCTION = "rank"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The batch to sort."}),
                "order": ([BEST_FIRST, WORST_FIRST], {"default": BEST_FIRST, "tooltip": (
                    "best first: highest score first. worst first: lowest first (to inspect what fails).")}),
                "top_k": ("INT", {"default": 0, "min": 0, "max": 4096, "tooltip": (
                    "How many images to keep after sorting; 0 keeps them all.")}),
            },
            "optional": {
                "genziqa_model": (MODEL, {"tooltip": "Scores the images here. Not needed when genziqa_scores is connected."}),
                "genziqa_scores": (SCORES, {"tooltip": "Scores of these images from GenzIQA Score: no second scoring pass."}),
                "latent": ("LATENT", {"tooltip": "Optional latents of the same batch, reordered alongside the images."}),
                "mask": ("MASK", {"tooltip": "Optional masks of the same batch (or one mask for all), reordered alongside."}),
            },
        }

    def rank(self, images, order, top_k, genziqa_model=None, genziqa_scores=None, latent=None, mask=None):
        from ..core import selection
        from .score import scores_for

        n = batch_size(images)
        check_aligned(n, latent, mask)
        if order not in (BEST_FIRST, WORST_FIRST):
            raise ValueError(f"GenzIQA Rank: order={order!r} is not one of {BEST_FIRST!r}, {WORST_FIRST!r}.")
        scores = scores_for(images, genziqa_model, genziqa_scores, "GenzIQA Rank")
        positions = selection.ranking(scores.scores, best_first=order == BEST_FIRST, top_k=int(top_k))
        ranked = scores.take(positions)
        lines = [f"{plural(len(positions), 'image')} of {n}, {order} — {scores.model}"]
        lines += [f"{rank + 1}. #{i}  {scores.scores[i]:.4f}" for rank, i in enumerate(positions)]
        text = "\n".join(lines)
        if not positions:  # an empty batch in: nothing to pass on, skip what it feeds
            return {"ui": {"text": [text]}, "result": (*(_host.blocked() for _ in range(5)), text)}
        result = (
            take_images(images, positions),
            take_latent(latent, positions) if latent is not None else _host.blocked(),
            take_mask(mask, n, positions) if mask is not None else _host.blocked(),
            ranked,
            list(ranked.scores),
            text,
        )
        return {"ui": {"text": [text]}, "result": result}
