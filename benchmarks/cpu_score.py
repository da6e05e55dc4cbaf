"""Seconds and peak memory to score one 512x512 image on SD 2.1-base-shaped random weights.

Cost does not depend on weight values, so full-size random weights built from the shipped
SD 2.1-base configs stand in for the real checkpoint (which cannot be downloaded here). They are
saved once as a diffusers folder and loaded through ``genziqa.load``, like a user's model.

    python benchmarks/cpu_score.py                 # fp32 and bf16, fast path
    python benchmarks/cpu_score.py --plain         # also the plain path (oracle: one UNet call
                                                   # per timestep and prompt, explicit attention
                                                   # in every layer)
    python benchmarks/cpu_score.py --trained       # also the trained scorer (initial weights)

Each configuration runs in its own process so its peak resident memory (VmHWM) is its own.
Results are appended to benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"


def build_random_backbone(folder: Path, family: str = "sd2") -> Path:
    """SD 2.1-base- (or SD 1.5-) shaped random weights in the diffusers layout (built once, then reused)."""
    if (folder / "done").exists():
        return folder
    import shutil

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from genziqa.core.backbone import FAMILY_CONFIGS
    from genziqa.core.clip_vocab import clip_tokenizer

    shipped = FAMILY_CONFIGS[family]
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(shipped / "unet")).save_pretrained(folder / "unet")
    AutoencoderKL.from_config(AutoencoderKL.load_config(shipped / "vae")).save_pretrained(folder / "vae")
    text_config = CLIPTextConfig.from_json_file(shipped / "text_encoder" / "config.json")
    CLIPTextModel(text_config).save_pretrained(folder / "text_encoder")
    clip_tokenizer(shipped / "tokenizer" / "tokenizer_config.json").save_pretrained(folder / "tokenizer")
    shutil.copytree(shipped / "scheduler", folder / "scheduler", dirs_exist_ok=True)
    shutil.copy(shipped / "model_index.json", folder / "model_index.json")
    (folder / "done").write_text("ok\n")
    return folder


def build_initial_weights(folder: Path, out: Path) -> Path:
    """Trained-path weights at their initial state (random context vectors, LoRA B = 0): the
    trained scorer's cost, which adds the attention statistic to the zero-shot one."""
    if (out / "genziqa.safetensors").exists():
        return out
    import torch

    from genziqa.core.api import backbone_record
    from genziqa.core.backbone import load_backbone
    from genziqa.core.checkpoint import save_weights
    from genziqa.core.config import GenzIQAConfig
    from genziqa.core.lora import add_lora, lora_state_dict

    config = GenzIQAConfig()
    bb = load_backbone(folder, device="cpu")
    add_lora(bb.unet, config)
    ctx = torch.randn(config.n_ctx, bb.width, generator=torch.Generator().manual_seed(0)) * config.ctx_init_std
    return save_weights(out, ctx=ctx, lora=lora_state_dict(bb.unet), config=config, backbone=backbone_record(bb))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def run_one(folder: Path, dtype: str, plain: bool, repeats: int, unet_rows: int | None,
            weights: Path | None = None) -> dict:
    import numpy as np
    import torch
    from skimage import data

    import genziqa

    image = np.asarray(data.astronaut())  # 512x512 RGB photo
    t0 = time.perf_counter()
    scorer = genziqa.load(weights, backbone=str(folder), dtype=dtype, device="cpu", unet_rows=unet_rows)
    load_s = time.perf_counter() - t0
    load_peak = peak_rss_gb()
    times, score = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        if plain:
            sys.path.insert(0, str(HERE.parent / "tests"))  # the oracle lives with the tests
            import oracle
            from genziqa.core.images import load_image, to_model_input

            cfg = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
            px = to_model_input([load_image(image, "astronaut")], 512)[0]
            score = oracle.oracle_score(scorer, px, cfg)["score"]
        else:
            score = scorer.score([image])[0]
        times.append(time.perf_counter() - t0)
    mode = "zero-shot" if weights is None else "trained"
    return {"path": f"plain (oracle), {mode}" if plain else f"fast, {mode}", "dtype": dtype, "load_s": round(load_s, 1),
            "seconds_per_image": [round(t, 1) for t in times], "peak_rss_gb": round(peak_rss_gb(), 2),
            "load_peak_gb": round(load_peak, 2), "batch_rows": "1 (oracle)" if plain else scorer.unet_rows,
            "score": score, "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "genziqa-bench-sd21base")
    parser.add_argument("--plain", action="store_true", help="also time the plain (oracle) path, fp32")
    parser.add_argument("--trained", action="store_true", help="also time the trained scorer (statistic + LoRA)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--unet-rows", type=int, default=None, help="UNet rows per call (default: genziqa's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    weights_dir = args.folder.parent / (args.folder.name + "-weights")
    if args.child:
        dtype, path, mode = args.child.split(":")
        weights = weights_dir if mode == "trained" else None
        print(json.dumps(run_one(args.folder, dtype, path == "plain", args.repeats, args.unet_rows, weights)))
        return 0
    build_random_backbone(args.folder)
    modes = ["zero-shot"]
    if args.trained:
        build_initial_weights(args.folder, weights_dir)
        modes.append("trained")
    runs = [f"{d}:fast:{m}" for m in modes for d in args.dtypes.split(",")]
    runs += ["float32:plain:zero-shot"] if args.plain else []
    rows = []
    for run in runs:
        extra = ["--unet-rows", str(args.unet_rows)] if args.unet_rows else []
        out = subprocess.run([sys.executable, __file__, "--folder", str(args.folder), "--repeats",
                              str(args.repeats), "--child", run, *extra], capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with RESULTS.open("a") as f:
        f.write(f"\n## {time.strftime('%Y-%m-%d')} · {cpu} · {os.cpu_count()} cores · torch {__import__('torch').__version__}\n\n")
        f.write("| path | dtype | UNet rows / call | load s | s / image (each run) | peak RSS GiB (after load) | score |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['path']} | {r['dtype']} | {r['batch_rows']} | {r['load_s']} | "
                    f"{', '.join(map(str, r['seconds_per_image']))} | {r['peak_rss_gb']} ({r['load_peak_gb']}) | {r['score']:.4f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
