"""The Hugging Face Space entry point: the genziqa demo (locally: ``python app.py`` or ``genziqa demo``).

A Space runs this file from a checkout of the repository, which is the ``genziqa`` package itself
(its ``__init__.py`` sits beside this file) but is not installed there. So the package is imported
from this folder by its file location, under its own name: no ``sys.path`` change, and the same
``genziqa.*`` imports as everywhere else.

Settings come from the environment (Space variables): ``GENZIQA_WEIGHTS`` (default: none,
zero-shot), ``GENZIQA_BACKBONE`` (default: SD 2.1-base), ``GENZIQA_DEVICE``, ``GENZIQA_DTYPE``
(default ``auto``), ``GENZIQA_RESOLUTION`` (default: 512, or the weights' own).
"""

import importlib.util
import os
import sys
from pathlib import Path

try:  # on ZeroGPU hardware `spaces` must be imported before anything touches CUDA
    import spaces  # noqa: F401
except ImportError:
    pass


def _import_genziqa():
    """The ``genziqa`` package of this folder (an installed one is used only if it is this folder)."""
    here = Path(__file__).resolve().parent
    loaded = sys.modules.get("genziqa")
    if loaded is not None and Path(loaded.__file__).resolve().parent == here:
        return loaded
    spec = importlib.util.spec_from_file_location("genziqa", here / "__init__.py",
                                                  submodule_search_locations=[str(here)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["genziqa"] = package
    spec.loader.exec_module(package)
    return package


_import_genziqa()

from genziqa.core.api import prepare  # noqa: E402
from genziqa.gradio_app import build_demo, launch  # noqa: E402
from genziqa.gradio_app.model import on_zero_gpu  # noqa: E402


def _plan():
    text = os.environ.get("GENZIQA_RESOLUTION", "").strip()
    if text and not text.isdigit():
        raise SystemExit(f"GENZIQA_RESOLUTION={text!r} is not a whole number of pixels (e.g. 512).")
    return prepare(os.environ.get("GENZIQA_WEIGHTS") or None, os.environ.get("GENZIQA_BACKBONE") or None,
                   device=os.environ.get("GENZIQA_DEVICE") or "auto", dtype=os.environ.get("GENZIQA_DTYPE") or "auto",
                   resolution=int(text) if text else None)


plan = _plan()
# ZeroGPU forks a worker per GPU call, which must find the weights already loaded; elsewhere the
# page comes up at once and the model loads beside it, ready sooner than the first visitor.
demo = build_demo(plan=plan, load="now" if on_zero_gpu() else "background")

if __name__ == "__main__":
    launch(demo)  # host: GRADIO_SERVER_NAME (0.0.0.0 on Spaces), else 127.0.0.1
