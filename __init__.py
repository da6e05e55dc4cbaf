"""genziqa: GenzIQA image-quality scores and attention heatmaps from Stable Diffusion.

This file serves two hosts. Imported as the package ``genziqa`` it offers the public API
(``genziqa.load`` and friends) without importing torch until one of them is used. Loaded by
ComfyUI from ``custom_nodes/`` it exposes the node mappings, which import nothing heavy either.
"""

# Imported as a lone file (pytest collecting a checkout folder whose name is no Python identifier,
# e.g. genziqa-main) there is no package to import from; the mappings are then empty.
if __package__:
    from .comfy_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

# ComfyUI serves this folder to the browser: the script that shows scores on the nodes, and the
# node docs (web/docs/<node id>.md).
WEB_DIRECTORY = "./web"

__version__ = "0.1.0"

_API = (
    "load", "prepare", "Scorer", "GenzIQAConfig", "Analysis", "ScoredImage", "ImageError", "BatchImageError",
    "BackboneError", "WeightsError", "load_weights", "save_weights",
)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "__version__", *_API]


def __getattr__(name: str):
    # Lazy so that ComfyUI's start-up (and `import genziqa`) does not pay for torch and diffusers.
    if name in _API:
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module 'genziqa' has no attribute {name!r}")
