"""The parts of ComfyUI the nodes use, imported only when a node runs.

ComfyUI's own modules (``folder_paths``, ``comfy.model_management``, ``comfy.utils``,
``comfy.cli_args``, ``comfy_execution.graph_utils``) exist only inside a running ComfyUI, so the
pack imports them here, lazily: ``import genziqa`` and pip installs work without them. Progress
and cancellation are optional extras (a no-op outside ComfyUI); folders and execution blockers
are not, and say so.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

NOT_IN_COMFYUI = (
    "this GenzIQA node needs ComfyUI's {module} module, which is only there inside a running "
    "ComfyUI. Put the genziqa folder in ComfyUI/custom_nodes/ and use the node there; outside "
    "ComfyUI use genziqa.load() instead."
)


def _module(name: str, *, required: bool):
    try:
        return importlib.import_module(name)
    except ImportError:
        if required:
            raise RuntimeError(NOT_IN_COMFYUI.format(module=name)) from None
        return None


def folder_paths():
    """ComfyUI's ``folder_paths`` (models, output, temp and input folders)."""
    return _module("folder_paths", required=True)


def model_management():
    """ComfyUI's ``comfy.model_management``, or None outside ComfyUI."""
    return _module("comfy.model_management", required=False)


def blocked():
    """An output that makes ComfyUI skip every node fed by it, silently (ExecutionBlocker(None)):
    no error, no fake image downstream."""
    graph_utils = _module("comfy_execution.graph_utils", required=True)
    return graph_utils.ExecutionBlocker(None)


def metadata_disabled() -> bool:
    """True when ComfyUI was started with ``--disable-metadata``."""
    cli_args = _module("comfy.cli_args", required=False)
    return bool(cli_args is not None and getattr(cli_args.args, "disable_metadata", False))


class Progress:
    """The node's progress bar and the Cancel button, for one run of ``total`` steps.

    Every update first checks ComfyUI's interrupt flag, so a cancelled queue stops at the next
    step (raising ComfyUI's InterruptProcessingException) instead of after the batch.
    """

    def __init__(self, total: int):
        utils = _module("comfy.utils", required=False)
        self._mm = model_management()
        self._bar = utils.ProgressBar(max(int(total), 1)) if utils is not None else None
        self.check()

    def check(self) -> None:
        if self._mm is not None:
            self._mm.throw_exception_if_processing_interrupted()

    def update(self, done: int, total: int | None = None) -> None:
        self.check()
        if self._bar is not None:
            self._bar.update_absolute(int(done), None if total is None else max(int(total), 1))

    def rows(self, offset: int = 0, total: int | None = None):
        """A callback for core's ``progress(rows_done, rows_total)``, shifted by ``offset`` rows
        (for several core calls sharing one bar of ``total`` rows)."""
        def report(done: int, rows_total: int) -> None:
            self.update(offset + done, total if total is not None else offset + rows_total)
        return report


def compute_device(choice: str):
    """The torch device for the ``device`` input: ``auto`` is ComfyUI's own choice (so ``--cpu``,
    ``--cuda-device`` and friends apply), ``cpu`` is the CPU."""
    import torch

    if choice == "cpu":
        return torch.device("cpu")
    if choice != "auto":
        raise ValueError(f"device={choice!r} is not one of 'auto', 'cpu'.")
    mm = model_management()
    return mm.get_torch_device() if mm is not None else torch.device("cpu")


def home_device(compute):
    """Where a model waits between runs: ComfyUI's offload device for a GPU model (the CPU,
    unless ComfyUI runs with --highvram / --gpu-only), the compute device otherwise."""
    import torch

    mm = model_management()
    if compute.type == "cpu" or mm is None:
        return compute
    offload = mm.unet_offload_device()
    return offload if isinstance(offload, torch.device) else torch.device(offload)


def auto_dtype(device) -> str:
    """``auto`` dtype: float32 on the CPU; on a GPU float16 where ComfyUI would use it (so
    ``--force-fp32`` applies), else float32."""
    if device.type == "cpu":
        return "float32"
    mm = model_management()
    if mm is not None and mm.should_use_fp16(device):
        return "float16"
    return "float32"


def make_room(device, nbytes: int) -> None:
    """Ask ComfyUI to unload its own models from ``device`` until ``nbytes`` are free."""
    mm = model_management()
    if mm is None or device.type == "cpu":
        return
    mm.free_memory(int(nbytes) + int(mm.minimum_inference_memory()), device)


@contextmanager
def placed(model):
    """Run ``model`` (a :class:`~._values.GenzIQAModel`) on its compute device, then park it.

    On a GPU: ComfyUI first frees what the scorer's weights and working memory need, the scorer
    moves there, and afterwards it goes back to its home device (ComfyUI's offload device) and
    the cache is emptied, so sampling gets the memory back. On the CPU nothing moves.
    """
    if model.compute_device == model.home_device:
        yield model.scorer
        return
    try:
        # Inside the try: a move that fails half-way (out of GPU memory) still parks what moved.
        make_room(model.compute_device, model.memory_required())
        model.scorer.to(model.compute_device)
        yield model.scorer
    finally:
        model.scorer.to(model.home_device)
        mm = model_management()
        if mm is not None:
            mm.soft_empty_cache()
