"""genziqa core: GenzIQA scores and heatmaps from a frozen Stable Diffusion backbone.

Public surface: :func:`load` returns a :class:`Scorer`; ``scorer.score(images)`` gives one float
per image, ``scorer.analyze(image)`` an :class:`Analysis` with heatmaps. Nothing here imports
ComfyUI or Gradio. The names resolve lazily, so the rooms that need no torch (``core.data``,
``core.evaluation``) import without it.
"""

from importlib import import_module

_HOMES = {
    "load": "api", "prepare": "api", "Scorer": "scoring", "BatchImageError": "scoring",
    "GenzIQAConfig": "config", "Analysis": "results", "ScoredImage": "results", "ImageError": "images",
    "BackboneError": "backbone", "WeightsError": "checkpoint", "load_weights": "checkpoint",
    "save_weights": "checkpoint",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
