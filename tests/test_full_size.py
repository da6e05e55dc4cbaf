"""Full-size checks of the shipped configs (slow, several GB; not run in CI: ``pytest -m slow``).

Random weights shaped exactly like SD 1.5 and SD 2.1-base are saved as a diffusers folder and as
an original-layout single file (SD 2.x with OpenCLIP's 24th block); the single file must load
with the shipped configs alone and give the folder's weights bit for bit.
"""

import importlib.util
from pathlib import Path

import pytest
import torch

import tiny_backbones
from genziqa.core.backbone import load_backbone

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "cpu_score.py"


@pytest.mark.parametrize("family", ["sd1", "sd2"])
def test_shipped_configs_read_full_size_single_files(family, tmp_path):
    spec = importlib.util.spec_from_file_location("cpu_score", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    folder = bench.build_random_backbone(tmp_path / f"{family}-folder", family)
    single = tiny_backbones.write_single_file(folder, tmp_path / f"{family}.safetensors", family=family)
    a = load_backbone(folder, device="cpu")
    b = load_backbone(single, device="cpu")  # no config_dir: the shipped configs must fit
    assert (a.family, b.family) == (family, family) and b.prediction_type == "epsilon"
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys(), name
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    assert b.width == (768 if family == "sd1" else 1024)
