"""genziqa core: GenzIQA scores and heatmaps from a frozen Stable Diffusion backbone.

Public surface: :func:`load` returns a :class:`Scorer`; ``scorer.score(images)`` gives one float
per image, ``scorer.analyze(image)`` an :class:`Analysis` with heatmaps. Nothing here imports
ComfyUI or Gradio.
"""

from .api import load, prepare
from .backbone import BackboneError
from .checkpoint import WeightsError, load_weights, save_weights
from .config import GenzIQAConfig
from .images import ImageError
from .results import Analysis, ScoredImage
from .scoring import BatchImageError, Scorer

__all__ = [
    "load", "prepare", "Scorer", "GenzIQAConfig", "Analysis", "ScoredImage", "ImageError", "BatchImageError",
    "BackboneError", "WeightsError", "load_weights", "save_weights",
]
