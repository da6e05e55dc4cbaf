"""GenzIQA Heatmap: where in each image the model sees quality, as an overlay and a mask."""

from __future__ import annotations


from . import _host, _pngs
from ._batch import batch_size, from_uint8, to_uint8
from ._values import CATEGORY, MODEL, GenzIQAModel

QUALITY = "quality"
# The prompt tokens a user can look at, and the words core's Analysis.token_map knows them by
# (None: the context placeholder, whose word comes from the model's config).
TOKENS = {"Good": "good", "Bad": "bad", "Photo": "photo", "context (X)": None, "end": "<end>"}
MAPS = [QUALITY, *TOKENS]
AUTO = "auto"
# "auto" is genziqa's own convention (core.heatmaps.QUALITY_CMAP / TOKEN_CMAP), the same colours
# as the command line and the demo draw.
COLOUR_MAPS = [AUTO, "RdBu", "inferno", "magma", "viridis", "turbo", "RdYlGn", "coolwarm", "gray"]

# core.heatmaps.DEFAULT_ALPHA, written out: listing node inputs must not import core's numpy
# (tests/test_comfy_heatmap.py checks that the two agree).
DEFAULT_ALPHA = 0.5


class GenzIQAHeatmap:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Shows where GenzIQA sees quality in each image: the spatial quality map (which parts pull the score up or "
        "down) or the attention of one prompt token (Good, Bad, Photo, the context tokens, the end token), overlaid on "
        "the image at its own size and previewed on the node. Also outputs the map as a MASK."
    )
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("overlay", "mask", "report")
    OUTPUT_TOOLTIPS = (
        "The images with the coloured map blended over them, at their own size.",
        "The map as a mask (B, H, W) in [0, 1]: for 'quality', 1 where quality fails most and 0 where it holds; for "
        "a token, 1 where that token's attention is strongest.",
        "Each image's score and the map shown, in words.",
    )
    OUTPUT_NODE = True
    FUNCTION = "heatmap"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "genziqa_model": (MODEL, {"tooltip": "The model from Load GenzIQA."}),
                "images": ("IMAGE", {"tooltip": "The images to explain (each is analysed on its own)."}),
                "map": (MAPS, {"default": QUALITY, "tooltip": (
                    "quality: the denoising-error difference between the bad and the good prompt, per region: where the "
                    "image pulls the score up (blue) or down (red). A token: where that prompt word attends.")}),
                "colormap": (COLOUR_MAPS, {"default": AUTO, "tooltip": (
                    "auto: genziqa's colours, red-blue for the quality map (red = pulls the score down), inferno for "
                    "token attention.")}),
                "alpha": ("FLOAT", {"default": DEFAULT_ALPHA, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": (
                    "Opacity of the map over the image: 0 shows the image only, 1 the map only.")}),
            },
        }

    def heatmap(self, genziqa_model, images, map, colormap, alpha):
        import numpy as np
        import torch

        from ..core import heatmaps

        if not isinstance(genziqa_model, GenzIQAModel):
            raise ValueError(f"GenzIQA Heatmap: genziqa_model: expected the output of Load GenzIQA, got {type(genziqa_model).__name__}.")
        if map not in MAPS:
            raise ValueError(f"GenzIQA Heatmap: map={map!r} is not one of {MAPS}.")
        if colormap not in COLOUR_MAPS:
            raise ValueError(f"GenzIQA Heatmap: colormap={colormap!r} is not one of {COLOUR_MAPS}.")
        n = batch_size(images)
        signed = map == QUALITY
        if not signed:
            _check_token(map, genziqa_model)
        cmap = (heatmaps.QUALITY_CMAP if signed else heatmaps.TOKEN_CMAP) if colormap == AUTO else colormap
        rows = genziqa_model.scorer.rows_per_image
        progress = _host.Progress(n * rows)
        overlays, masks, lines = [], [], [f"GenzIQA {map} map — {genziqa_model.label}"]
        with _host.placed(genziqa_model) as scorer:
            for i in range(n):
                base = to_uint8(images[i])  # [H, W, C] uint8: what the overlay is drawn on
                analysis = _analyze(scorer, images[i], i, progress.rows(offset=i * rows, total=n * rows))
                heat = analysis.quality_map() if signed else analysis.token_map(_token(map, scorer), "auto")
                overlays.append(np.asarray(heatmaps.overlay(base[..., :3], heat, alpha=alpha, cmap=cmap, symmetric=signed)))
                level = heatmaps.normalize(heat, symmetric=signed)
                # A MASK marks the region to act on: for the signed quality map that is where the
                # score is pulled down (below the neutral 0.5), scaled to [0, 1].
                masks.append(np.clip(1.0 - 2.0 * level, 0.0, 1.0) if signed else level)
                lines.append(f"#{i}  score {analysis.score:.4f}")
        overlay = from_uint8(overlays)
        mask = torch.from_numpy(np.stack(masks).astype(np.float32))  # [B, H, W]
        previews = _pngs.write(overlay, "GenzIQA_heatmap", kind="temp", progress=False)
        text = "\n".join(lines)
        return {"ui": {"images": previews, "text": [text]}, "result": (overlay, mask, text)}


def _check_token(choice: str, model: GenzIQAModel) -> None:
    from ..core.heatmaps import token_words

    words = token_words(model.scorer.prompts.tokens, "auto")
    if _token(choice, model.scorer).lower() not in words:
        why = " (zero-shot prompts have no context tokens: those come with trained weights)" if model.zero_shot else ""
        have = [c for c in TOKENS if _token(c, model.scorer).lower() in words]
        raise ValueError(f"GenzIQA Heatmap: map={choice!r}: this model's prompts have no such token{why}; "
                         f"choose {QUALITY!r} or one of {have}.")


def _token(choice: str, scorer) -> str:
    word = TOKENS[choice]
    return scorer.config.placeholder if word is None else word


def _analyze(scorer, image, index: int, progress):
    from ..core.images import ImageError

    try:
        return scorer.analyze(image.permute(2, 0, 1), progress=progress)  # [H, W, C] -> [C, H, W]
    except ImageError as err:
        hint = " Upscale the images (e.g. with an Upscale Image node) first." if "at least" in str(err) else ""
        raise ValueError(f"GenzIQA Heatmap: image {index}: {err.reason}.{hint}") from err
