"""ComfyUI nodes for genziqa (category image/quality/GenzIQA).

Importing this package imports nothing heavy: no torch, no diffusers, no ComfyUI module. The
nodes load core and ComfyUI's modules when they run. Node ids are stable: saved workflows name them.
"""

from .filter import GenzIQAFilter
from .heatmap import GenzIQAHeatmap
from .loader import GenzIQALoader
from .rank import GenzIQARank
from .save import GenzIQASaveImage
from .score import GenzIQAScore

NODE_CLASS_MAPPINGS: dict[str, type] = {
    "GenzIQALoader": GenzIQALoader,
    "GenzIQAScore": GenzIQAScore,
    "GenzIQAFilter": GenzIQAFilter,
    "GenzIQARank": GenzIQARank,
    "GenzIQAHeatmap": GenzIQAHeatmap,
    "GenzIQASaveImage": GenzIQASaveImage,
}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "GenzIQALoader": "Load GenzIQA",
    "GenzIQAScore": "GenzIQA Score",
    "GenzIQAFilter": "GenzIQA Filter",
    "GenzIQARank": "GenzIQA Rank",
    "GenzIQAHeatmap": "GenzIQA Heatmap",
    "GenzIQASaveImage": "Save Image With Quality",
}
