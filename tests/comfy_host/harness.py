"""Running the genziqa nodes the way ComfyUI 0.8.0 does, without ComfyUI.

* :func:`installed` puts the stand-ins in this folder (``folder_paths``, ``comfy.*``,
  ``comfy_execution.*``) first on ``sys.path`` for the duration of a test session, rooted at a
  temporary ComfyUI folder, and takes them away afterwards.
* :func:`load_pack` imports the repository's root ``__init__.py`` as ComfyUI's
  ``load_custom_node`` does: from its file, as a package, under a module name of ComfyUI's
  choosing (the folder's path with dots replaced), so relative imports must work under it.
* :func:`call_node` validates inputs as ComfyUI's ``validate_inputs`` does (required inputs
  present, combo values in their list, numbers within min/max), skips a node fed by an
  ``ExecutionBlocker`` (all its outputs become the blocker), calls ``FUNCTION`` and splits the
  return value into outputs and UI data as ``get_output_from_returns`` does.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOST = Path(__file__).resolve().parent
REPO = HOST.parent.parent
STAND_INS = ("folder_paths", "comfy", "comfy_execution")


@contextlib.contextmanager
def installed(base: Path):
    """The stand-in ComfyUI modules, importable by name, rooted at ``base``."""
    saved = {n: m for n, m in sys.modules.items() if n.split(".")[0] in STAND_INS}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(HOST))
    try:
        fp = importlib.import_module("folder_paths")
        fp.set_base_path(str(base))
        yield fp
    finally:
        sys.path.remove(str(HOST))
        for name in [n for n in sys.modules if n.split(".")[0] in STAND_INS]:
            del sys.modules[name]
        sys.modules.update(saved)


@contextlib.contextmanager
def pack_module():
    """The pack imported like ComfyUI's ``load_custom_node`` imports a custom-node folder."""
    module_path = str(REPO)
    name = module_path.replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(name, str(REPO / "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


@dataclass
class Run:
    outputs: tuple
    ui: dict | None
    ran: bool


def blocker_type():
    return importlib.import_module("comfy_execution.graph_utils").ExecutionBlocker


def validate(cls, inputs: dict) -> None:
    """ComfyUI's checks of a prompt's values for one node, raising ValueError like its
    'Prompt outputs failed validation' messages."""
    declared = cls.INPUT_TYPES()
    for name, spec in declared.get("required", {}).items():
        if name not in inputs:
            raise ValueError(f"Required input is missing: {name}")
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            if name not in inputs:
                continue
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            value = inputs[name]
            if isinstance(kind, list):
                if value not in kind:
                    raise ValueError(f"Value not in list: {name}: {value!r} not in {kind}")
            elif kind in ("INT", "FLOAT"):
                if "min" in options and value < options["min"]:
                    raise ValueError(f"Value {value} smaller than min of {options['min']}: {name}")
                if "max" in options and value > options["max"]:
                    raise ValueError(f"Value {value} bigger than max of {options['max']}: {name}")


def call_node(cls, hidden: dict | None = None, **inputs) -> Run:
    """Run one node as ComfyUI's executor would, on already-computed input values."""
    blocker = blocker_type()
    for value in inputs.values():
        if isinstance(value, blocker):
            return Run(outputs=(value,) * len(cls.RETURN_TYPES), ui=None, ran=False)
    validate(cls, inputs)
    declared = cls.INPUT_TYPES()
    for name, kind in declared.get("hidden", {}).items():
        if hidden and kind in hidden:
            inputs[name] = hidden[kind]
    result = getattr(cls(), cls.FUNCTION)(**inputs)
    ui = None
    if isinstance(result, dict):
        ui = result.get("ui")
        result = result.get("result", ())
    if isinstance(result, blocker):
        result = (result,) * len(cls.RETURN_TYPES)
    assert isinstance(result, tuple) and len(result) == len(cls.RETURN_TYPES), (cls, result)
    return Run(outputs=result, ui=ui, ran=True)


def check_declaration(node_id: str, cls) -> None:
    """What ComfyUI's /object_info and executor need from a classic node, and what this pack
    promises on top: a description, and a tooltip on every input and output."""
    assert node_id.startswith("GenzIQA"), node_id
    assert cls.CATEGORY == "image/quality/GenzIQA"
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 40, node_id
    declared = cls.INPUT_TYPES()
    assert set(declared) <= {"required", "optional", "hidden"}, declared.keys()
    function = getattr(cls, cls.FUNCTION)
    parameters = inspect.signature(function).parameters
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            assert isinstance(spec, tuple) and 1 <= len(spec) <= 2, (node_id, name)
            kind = spec[0]
            assert isinstance(kind, (str, list)) and kind, (node_id, name)
            options = spec[1] if len(spec) > 1 else {}
            assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
            if isinstance(kind, list) and "default" in options:
                assert options["default"] in kind, (node_id, name)
            if kind in ("INT", "FLOAT"):
                assert options["min"] <= options["default"] <= options["max"], (node_id, name)
            assert name in parameters, f"{node_id}.{cls.FUNCTION} does not take {name}"
            if section == "optional":
                assert parameters[name].default is not inspect.Parameter.empty, (node_id, name)
    for name in declared.get("hidden", {}):
        assert name in parameters, (node_id, name)
    assert isinstance(cls.RETURN_TYPES, tuple)
    n = len(cls.RETURN_TYPES)
    if n:
        assert len(cls.RETURN_NAMES) == n and len(cls.OUTPUT_TOOLTIPS) == n, node_id
        assert all(cls.OUTPUT_TOOLTIPS), node_id
    else:
        assert cls.OUTPUT_NODE is True, f"{node_id} returns nothing, so it must be an output node"
    if hasattr(cls, "OUTPUT_IS_LIST"):
        assert len(cls.OUTPUT_IS_LIST) == n, node_id


def image_batch(pictures, size: tuple[int, int] | None = None):
    """A ComfyUI IMAGE ``(B, H, W, 3) float32`` from uint8 pictures, as Load Image makes it
    (``np.array(img).astype(np.float32) / 255.0``); resized to ``size`` = (w, h) if given."""
    import torch
    from PIL import Image

    rows = []
    for picture in pictures:
        image = Image.fromarray(np.asarray(picture)).convert("RGB")
        if size is not None:
            image = image.resize(size, Image.BICUBIC)
        rows.append(np.array(image).astype(np.float32) / 255.0)
    return torch.from_numpy(np.stack(rows))
