"""Shared fixtures: tiny random SD-like backbones in diffusers-folder and single-file layouts."""

import os

# No test may reach the network: set before diffusers / transformers / huggingface_hub load.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def _load_helper(name: str):
    """Import ``tests/<name>.py`` as the top-level module ``name``.

    Under ``--import-mode=importlib`` the tests folder is not on ``sys.path``; registering the
    module in ``sys.modules`` here lets test files ``import tiny_backbones`` as usual.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tiny_backbones = _load_helper("tiny_backbones")


@pytest.fixture(scope="session")
def tiny_sd1_dir(tmp_path_factory) -> Path:
    """A tiny SD 1.x-like diffusers folder (epsilon prediction)."""
    return tiny_backbones.make_tiny_backbone(tmp_path_factory.mktemp("tiny_sd1"), "sd1")


@pytest.fixture(scope="session")
def tiny_sd2_dir(tmp_path_factory) -> Path:
    """A tiny SD 2.x-like diffusers folder (epsilon prediction)."""
    return tiny_backbones.make_tiny_backbone(tmp_path_factory.mktemp("tiny_sd2"), "sd2")


@pytest.fixture(scope="session")
def tiny_sd2v_dir(tmp_path_factory) -> Path:
    """A tiny SD 2.x-like diffusers folder with v-prediction (same weights as ``tiny_sd2_dir``)."""
    return tiny_backbones.make_tiny_backbone(tmp_path_factory.mktemp("tiny_sd2v"), "sd2", prediction_type="v_prediction")


@pytest.fixture(scope="session")
def tiny_sd1_file(tiny_sd1_dir, tmp_path_factory) -> Path:
    """``tiny_sd1_dir`` as one original-layout ``.safetensors`` checkpoint."""
    return tiny_backbones.write_single_file(tiny_sd1_dir, tmp_path_factory.mktemp("ckpt_sd1") / "tiny_sd1.safetensors")


@pytest.fixture(scope="session")
def tiny_sd2_file(tiny_sd2_dir, tmp_path_factory) -> Path:
    """``tiny_sd2_dir`` as one original-layout checkpoint (OpenCLIP text encoder, extra resblock)."""
    return tiny_backbones.write_single_file(tiny_sd2_dir, tmp_path_factory.mktemp("ckpt_sd2") / "tiny_sd2.safetensors")


@pytest.fixture(scope="session")
def tiny_sd2v_file(tiny_sd2v_dir, tmp_path_factory) -> Path:
    """``tiny_sd2v_dir`` as one original-layout checkpoint carrying the ``v_pred`` marker key."""
    return tiny_backbones.write_single_file(
        tiny_sd2v_dir, tmp_path_factory.mktemp("ckpt_sd2v") / "tiny_sd2v.safetensors", v_pred_key=True
    )
