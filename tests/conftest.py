"""Shared fixtures: tiny random SD-like backbones in diffusers-folder and single-file layouts."""

import os

# No test may reach the network: set before diffusers / transformers / huggingface_hub load.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

# Under pytest-xdist the workers share the machine's cores: each worker, and every process it
# starts, gets its share of threads instead of all of them (set before torch loads).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _cores // _workers)))

import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


def _load_helper(name: str, path: Path | None = None):
    """Import ``tests/<name>.py`` (or ``path``) as the top-level module ``name``.

    Under ``--import-mode=importlib`` the tests folder is not on ``sys.path``; registering the
    module in ``sys.modules`` here lets test files ``import tiny_backbones`` as usual.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path or Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tiny_backbones = _load_helper("tiny_backbones")
_load_helper("oracle")
# The ComfyUI stand-ins' fixtures, shared by every tests/test_comfy_*.py.
_load_helper("comfy_host_fixtures", Path(__file__).parent / "comfy_host" / "fixtures.py")


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


@pytest.fixture(scope="session")
def tiny_config():
    """The method's config at 64px, so tiny backbones score in milliseconds."""
    from dataclasses import replace

    from genziqa.core.config import GenzIQAConfig

    return replace(GenzIQAConfig(), resolution=64)


@pytest.fixture(scope="session")
def photos():
    """Real photographs (public domain, bundled with scikit-image) as HWC uint8 arrays."""
    from skimage import data

    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]


def make_trained_weights(backbone_dir: Path, out: Path, config, seed: int = 1) -> Path:
    """Random but non-trivial trained weights (context vectors and LoRA with B != 0)."""
    import torch

    from genziqa.core.api import backbone_record
    from genziqa.core.backbone import load_backbone
    from genziqa.core.checkpoint import save_weights
    from genziqa.core.lora import add_lora, lora_state_dict

    bb = load_backbone(backbone_dir, device="cpu")
    add_lora(bb.unet, config)
    gen = torch.Generator().manual_seed(seed)
    lora = {k: torch.randn(v.shape, generator=gen) * 0.05 for k, v in lora_state_dict(bb.unet).items()}
    ctx = torch.randn(config.n_ctx, bb.width, generator=gen) * config.ctx_init_std
    return save_weights(out, ctx=ctx, lora=lora, config=config, backbone=backbone_record(bb),
                        training={"note": "random weights for tests"})


@pytest.fixture(scope="session")
def trained_sd2(tiny_sd2_dir, tiny_config, tmp_path_factory) -> Path:
    return make_trained_weights(tiny_sd2_dir, tmp_path_factory.mktemp("weights_sd2"), tiny_config)


@pytest.fixture(scope="session")
def trained_sd1(tiny_sd1_dir, tiny_config, tmp_path_factory) -> Path:
    return make_trained_weights(tiny_sd1_dir, tmp_path_factory.mktemp("weights_sd1"), tiny_config, seed=2)
