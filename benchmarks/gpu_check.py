"""GPU checks and timings, run on a CUDA machine (one script, a few minutes).

1. Parity on CUDA, float32: the batched fast path against the plain oracle on the tiny test
   backbones (SD1-like, SD2-like, v-prediction, trained), and batch-size independence.
2. Full-size SD 2.1-base-shaped random weights: seconds per image for float32 / bfloat16 /
   float16 at GPU batch sizes, and how far half precision moves the score from float32 (trained
   path, whose raw score carries the ~48 log-pixel constant, and zero-shot).

    python benchmarks/gpu_check.py --out results.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def parity(report: dict, work: Path, device: str) -> None:
    import numpy as np
    from skimage import data

    import genziqa
    from genziqa.core.config import GenzIQAConfig
    from genziqa.core.images import load_image, to_model_input

    tiny, oracle = _module("tiny_backbones"), _module("oracle")
    cfg = replace(GenzIQAConfig(), resolution=64)
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    worst = 0.0
    for family, pred in (("sd1", "epsilon"), ("sd2", "epsilon"), ("sd2", "v_prediction")):
        folder = tiny.make_tiny_backbone(work / f"{family}-{pred}", family, pred)
        scorer = genziqa.load(backbone=str(folder), config=cfg, device=device, dtype="float32", unet_rows=5)
        sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        for photo in photos[:2]:
            fast = scorer.analyze(photo)
            px = to_model_input([load_image(photo, "p")], 64)[0]
            plain = oracle.oracle_score(scorer, px, sched)
            rel = abs(fast.score - plain["score"]) / max(abs(plain["score"]), 1e-6)
            per_t = np.abs(fast.per_timestep - plain["per_timestep"].numpy()).max()
            worst = max(worst, rel)
            report.setdefault("parity", []).append({"backbone": f"{family}/{pred}", "fast": fast.score,
                                                    "oracle": plain["score"], "rel_diff": rel, "max_abs_per_t": float(per_t)})
        alone = [scorer.score([p])[0] for p in photos]
        for bs in (1, 7, 48):
            scorer.unet_rows = bs
            together = scorer.score(photos)
            worst_b = max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(alone, together))
            report.setdefault("batch_independence", []).append({"backbone": f"{family}/{pred}", "batch_rows": bs,
                                                                "max_rel_diff": worst_b})
    report["parity_worst_rel"] = worst
    print("parity worst rel diff", worst, flush=True)


def full_size(report: dict, work: Path) -> None:
    import torch
    from skimage import data

    import genziqa
    from genziqa.core.api import backbone_record
    from genziqa.core.backbone import load_backbone
    from genziqa.core.checkpoint import save_weights
    from genziqa.core.config import GenzIQAConfig
    from genziqa.core.lora import add_lora, lora_state_dict

    bench = _module_from(HERE / "cpu_score.py", "cpu_score")
    folder = bench.build_random_backbone(work / "sd21base-random")
    # Trained-path weights at their initial state: random context vectors, LoRA with B = 0.
    cfg = GenzIQAConfig()
    bb = load_backbone(folder, device="cpu")
    add_lora(bb.unet, cfg)
    gen = torch.Generator().manual_seed(0)
    weights = save_weights(work / "weights", ctx=torch.randn(16, bb.width, generator=gen) * 0.02,
                           lora=lora_state_dict(bb.unet), config=cfg, backbone=backbone_record(bb))
    del bb
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    images = (photos * 8)[:32]
    results = {}
    modes = (("trained", weights), ("zero-shot", None))
    dtypes = ("float32", "bfloat16", "float16")
    if os.environ.get("GPU_CHECK_QUICK"):
        modes, dtypes = modes[1:], ("float32", "float16")
    for mode, w in modes:
        for dtype in dtypes:
            scorer = genziqa.load(w, backbone=str(folder), device="cuda", dtype=dtype, unet_rows=64)
            scorer.score(photos[:1])  # warm-up (kernel selection)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            scores = scorer.score(images)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            results[(mode, dtype)] = scores[:4]
            row = {"mode": mode, "dtype": dtype, "images": len(images), "batch_rows": 64,
                   "seconds_per_image": seconds / len(images),
                   "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30, "scores": scores[:4]}
            if dtype != "float32":
                ref = results[(mode, "float32")]
                row["max_abs_diff_vs_fp32"] = max(abs(a - b) for a, b in zip(scores[:4], ref))
            report.setdefault("full_size", []).append(row)
            print(row, flush=True)
            del scorer
            torch.cuda.empty_cache()


def _module_from(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--skip-full-size", action="store_true")
    parser.add_argument("--device", default="cuda", help="cpu: dry-run the parity part here")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 1
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    report = {"device": name, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            parity(report, Path(tmp), args.device)
            if not args.skip_full_size:
                full_size(report, Path(tmp))
        finally:
            args.out.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
