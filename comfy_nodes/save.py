"""Save Image With Quality: PNGs that carry their GenzIQA score."""

from __future__ import annotations

from . import _pngs
from ._batch import batch_size
from ._values import CATEGORY, SCORES, QualityScores


class GenzIQASaveImage:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Saves images to the output folder as PNG, like Save Image (same names, same prompt and workflow metadata), "
        "and writes each image's GenzIQA score, model, backbone, weights and genziqa version into a 'genziqa' text "
        "chunk (JSON). With --disable-metadata the prompt and workflow are left out; the quality chunk, which holds "
        "no prompt, is still written."
    )
    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "save"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to save."}),
                "genziqa_scores": (SCORES, {"tooltip": (
                    "Their scores, from GenzIQA Score or the matching output of Filter or Rank (one per image, same order).")}),
                "filename_prefix": ("STRING", {"default": "GenzIQA", "tooltip": (
                    "Start of the file names; may contain a subfolder and %date:yyyy-MM-dd% style fields, as in Save Image.")}),
                "score_in_filename": ("BOOLEAN", {"default": False, "tooltip": (
                    "Add the score to each file name (GenzIQA_00001_0.1234_.png), so a folder sorts by quality at a glance.")}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def save(self, images, genziqa_scores, filename_prefix="GenzIQA", score_in_filename=False, prompt=None,
             extra_pnginfo=None):
        n = batch_size(images)
        if not isinstance(genziqa_scores, QualityScores):
            raise ValueError(f"Save Image With Quality: genziqa_scores: expected the output of GenzIQA Score, got "
                             f"{type(genziqa_scores).__name__}.")
        if len(genziqa_scores) != n:
            raise ValueError(
                f"Save Image With Quality: genziqa_scores holds {len(genziqa_scores)} scores but images holds {n}; "
                "connect the scores that belong to these images (after a Filter or Rank, take its matching scores output)."
            )
        names = [f"{s:.4f}" for s in genziqa_scores.scores] if score_in_filename else None
        saved = _pngs.write(images, filename_prefix, kind="output", prompt=prompt, extra_pnginfo=extra_pnginfo,
                            chunks=lambda i: {_pngs.QUALITY_CHUNK: genziqa_scores.record(i)}, names=names)
        return {"ui": {"images": saved, "text": [genziqa_scores.report("Saved with GenzIQA scores")]}}
