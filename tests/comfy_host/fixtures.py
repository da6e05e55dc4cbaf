"""Pytest fixtures shared by the tests/test_comfy_*.py files.

conftest.py registers this module as ``comfy_host_fixtures`` (the tests folder is not a package);
a test file imports it and binds the fixtures it uses to names of its own, which pytest then finds::

    import comfy_host_fixtures as fx
    host, pack, nodes = fx.host, fx.pack, fx.nodes

They are module-scoped: each test file gets its own ComfyUI folder and its own import of the
pack, and the stand-ins leave ``sys.modules`` when the file is done.

The ComfyUI folder they build is laid out as users have it: tiny single-file checkpoints in
``models/checkpoints`` (plus a damaged one), the diffusers folders holding their component configs
in ``models/diffusers``, and trained weights in ``models/genziqa``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_helper(name: str):
    """Import ``tests/comfy_host/<name>.py`` once, as ``comfy_host_<name>``."""
    key = f"comfy_host_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


harness = load_helper("harness")

RESOLUTION = 64  # tiny backbones score in well under a second at 64 px
SD1 = dict(backbone="tiny_sd1.safetensors", weights="zero-shot", device="cpu", dtype="auto", hub_id="",
           resolution=RESOLUTION, backbone_config="tiny-sd1")


@pytest.fixture(scope="module")
def comfy_root(tmp_path_factory, tiny_sd1_dir, tiny_sd1_file, tiny_sd2_dir, tiny_sd2_file, trained_sd2) -> Path:
    root = tmp_path_factory.mktemp("ComfyUI")
    models = root / "models"
    (models / "checkpoints" / "sd2").mkdir(parents=True)
    shutil.copy(tiny_sd1_file, models / "checkpoints" / "tiny_sd1.safetensors")
    shutil.copy(tiny_sd2_file, models / "checkpoints" / "sd2" / "tiny_sd2.safetensors")
    (models / "checkpoints" / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    (models / "checkpoints" / "pickled.ckpt").write_bytes(b"never listed: genziqa reads no pickles")
    (models / "diffusers").mkdir()
    shutil.copytree(tiny_sd1_dir, models / "diffusers" / "tiny-sd1")
    shutil.copytree(tiny_sd2_dir, models / "diffusers" / "tiny-sd2")
    shutil.copytree(trained_sd2, models / "genziqa" / "trained-sd2")
    return root


@pytest.fixture(scope="module")
def host(comfy_root):
    """The stand-in ComfyUI modules, rooted at ``comfy_root``; yields its ``folder_paths``."""
    with harness.installed(comfy_root) as folder_paths:
        yield folder_paths


@pytest.fixture(scope="module")
def pack(host):
    """The pack, imported under a foreign module name as ComfyUI does."""
    with harness.pack_module() as module:
        yield module


@pytest.fixture(scope="module")
def nodes(pack) -> dict:
    return pack.NODE_CLASS_MAPPINGS


@pytest.fixture(scope="module")
def sd1_model(nodes):
    """A zero-shot GENZIQA_MODEL from the Load node: tiny SD 1.x single file at 64 px."""
    return harness.call_node(nodes["GenzIQALoader"], **SD1).outputs[0]


@pytest.fixture(scope="module")
def batch(photos):
    """Four photographs as one IMAGE batch (B=4, 96x128), as Load Image + a batch node give."""
    return harness.image_batch(photos, size=(128, 96))
