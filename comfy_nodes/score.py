"""GenzIQA Score: one score per image of a batch, shown on the node."""

from __future__ import annotations

from . import _host
from ._batch import batch_size
from ._values import CATEGORY, MODEL, SCORES, GenzIQAModel, QualityScores


class GenzIQAScore:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Scores every image of a batch with GenzIQA (higher = better), in one batched pass. The scores appear on "
        "the node after a run; the GENZIQA_SCORES output carries them to Filter, Rank and Save Image With Quality, "
        "which then do not score again."
    )
    RETURN_TYPES = ("FLOAT", "FLOAT", SCORES, "STRING")
    RETURN_NAMES = ("scores", "mean", "genziqa_scores", "report")
    OUTPUT_IS_LIST = (True, False, False, False)
    OUTPUT_TOOLTIPS = (
        "One score per image, as a list (a node fed by it runs once per score).",
        "The batch's mean score.",
        "The scores with the model that made them, for Filter, Rank and Save Image With Quality.",
        "The scores as text: index, score and model (zero-shot is named when untrained).",
    )
    OUTPUT_NODE = True
    FUNCTION = "score"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "genziqa_model": (MODEL, {"tooltip": "The model from Load GenzIQA."}),
            "images": ("IMAGE", {"tooltip": "The batch to score; every image gets its own score."}),
        }}

    def score(self, genziqa_model, images):
        result = score_batch(genziqa_model, images)
        text = result.report()
        return {"ui": {"text": [text]}, "result": (list(result.scores), result.mean, result, text)}


def score_batch(model: GenzIQAModel, images, node: str = "GenzIQA Score") -> QualityScores:
    """Scores of an IMAGE batch ``(B, H, W, C)`` through core's batched path, with the node's
    progress bar and Cancel button; an image that cannot be scored stops the node with its reason."""
    if not isinstance(model, GenzIQAModel):
        raise ValueError(f"{node}: genziqa_model: expected the output of Load GenzIQA, got {type(model).__name__}.")
    n = batch_size(images)
    progress = _host.Progress(n * model.scorer.rows_per_image)
    with _host.placed(model) as scorer:
        results = scorer.score_each(images, progress=progress.rows())
    failures = [r for r in results if not r.ok]
    if failures:
        lines = "\n".join(f"  {f.error}" for f in failures[:5])
        hint = ""
        if any("at least" in f.error for f in failures):
            hint = "\nUpscale the images (e.g. with an Upscale Image node) before scoring them."
        raise ValueError(f"{node}: {len(failures)} of {n} images could not be scored:\n{lines}{hint}")
    return model.scores_of([r.score for r in results])


def scores_for(images, genziqa_model=None, genziqa_scores=None, node: str = "GenzIQA") -> QualityScores:
    """The scores of ``images``: the connected GENZIQA_SCORES if any (no second pass), else a
    fresh score with the connected model."""
    n = batch_size(images)
    if genziqa_scores is not None:
        if not isinstance(genziqa_scores, QualityScores):
            raise ValueError(f"{node}: genziqa_scores: expected the output of GenzIQA Score, got {type(genziqa_scores).__name__}.")
        if len(genziqa_scores) != n:
            raise ValueError(
                f"{node}: genziqa_scores holds {len(genziqa_scores)} scores but images holds {n}; connect the scores "
                "of this very batch (GenzIQA Score's, or the matching output of Filter or Rank)."
            )
        return genziqa_scores
    if genziqa_model is None:
        raise ValueError(f"{node}: connect either genziqa_model (to score the images here) or genziqa_scores "
                         "(from a GenzIQA Score node that scored these images).")
    return score_batch(genziqa_model, images, node)
