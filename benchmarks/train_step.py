"""Seconds and peak memory of GenzIQA training steps on SD 2.1-base-shaped random weights.

The cost of a step does not depend on weight values, so the full-size random backbone built from
the shipped SD 2.1-base configs (as ``cpu_score.py`` does) stands in for the real checkpoint.
It runs the loop's own :func:`genziqa.core.training.train_step` (the method's forward with
gradients, unmerged LoRA, the text encoder in the graph, checkpointing as configured) on 16
training samples at 512 px, with the latents cached first (the VAE encode is timed on its own:
it is what ``--latent-cache`` saves per image and epoch).

    python benchmarks/train_step.py                       # CPU float32, checkpointing on and off
    python benchmarks/train_step.py --device cuda --dtypes float16,bfloat16 --checkpointing on,off \\
        --micro-batch 16 --micro-batches 4                # GPU: 4 whole steps of 16 per configuration

``--micro-batch M --micro-batches K``: run K micro-batches of M images; a step of 16 is 16 / M of
them (gradient accumulation). On the 2-core CPU a whole step takes many minutes, so the default
runs part of a step and reports the step time as 16 / M micro-batches at the measured steady
rate; the first micro-batch of a process is slower (oneDNN builds its kernels) and is reported
apart. Peak memory of a step with accumulation is that of one micro-batch (plus 447 K gradients).

Each configuration runs in its own process so its peak memory is its own. Results are appended to
benchmarks/results.md.
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

from cpu_score import build_random_backbone  # this folder is the script's own, first on sys.path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
BATCH = 16


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def run_one(folder: Path, device: str, dtype: str, checkpointing: bool, micro_batch: int, micro_batches: int,
            cache: Path) -> dict:
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    from genziqa.core.api import prepare
    from genziqa.core.training import LatentSource, TrainConfig, build_model, train_step
    from genziqa.core.training.distributed import Processes
    from genziqa.core.training.schedule import draw

    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    plan = prepare(None, str(folder), device=device, dtype=dtype)
    model = build_model(plan, seed=0, gradient_checkpointing=checkpointing)
    load_s = time.perf_counter() - t0
    load_peak = peak_rss_gib()

    # Four photos, each used four times: 16 samples whose latents are cached before timing.
    images = cache.parent / "photos"
    images.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        path = images / f"{name}.png"
        if not path.exists():
            Image.fromarray(np.asarray(getattr(data, name)())).save(path)
        paths.append(str(path))
    latents = LatentSource(model.backbone, plan.config, cache)
    t0 = time.perf_counter()
    for path in paths:
        latents.one(path)
    encode_s = (time.perf_counter() - t0) / len(paths)
    fresh = latents.encoded == len(paths)

    config = TrainConfig(batch_size=micro_batch, accumulate=1, flips=False, gradient_checkpointing=checkpointing)
    optimizer = torch.optim.AdamW(list(model.params.values()), lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay, eps=config.adam_eps)
    scaler = torch.amp.GradScaler(plan.device.type, enabled=plan.dtype == torch.float16)
    procs = Processes(rank=0, world=1, device=plan.device)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for k in range(micro_batches):
        samples = [(paths[(k * micro_batch + i) % len(paths)], 50.0,
                    draw(0, 0, k * micro_batch + i, model.latent_shape, max_timestep=100, flips=False))
                   for i in range(micro_batch)]
        t0 = time.perf_counter()
        # global_batch=16 scales the loss as in a real step of 16 split into micro-batches.
        loss, _ = train_step(model, optimizer, scaler, samples, latents, config=config, procs=procs, global_batch=BATCH)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(loss)
    steady = times[1:] or times
    per_micro = sum(steady) / len(steady)
    return {
        "device": device, "dtype": dtype, "checkpointing": checkpointing, "micro_batch": micro_batch,
        "micro_batches": micro_batches, "load_s": round(load_s, 1), "encode_s_per_image": round(encode_s, 2) if fresh else None,
        "micro_batch_s": [round(t, 1) for t in times],
        "step_s": round(per_micro * BATCH / micro_batch, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2), "load_peak_gib": round(load_peak, 2),
        "cuda_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "trainable": model.counts()["total"], "threads": torch.get_num_threads(),
        "loss": losses[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "genziqa-bench-sd21base")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--checkpointing", default="on,off", help="on, off or on,off")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="images per micro-batch (default: 4 with checkpointing and 1 without on CPU, 16 on GPU)")
    parser.add_argument("--micro-batches", type=int, default=2, help="micro-batches to run per configuration")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = args.folder.parent / (args.folder.name + "-latents")
    if args.child:
        dtype, checkpointing, micro = args.child.split(":")
        print(json.dumps(run_one(args.folder, args.device, dtype, checkpointing == "on", int(micro),
                                 args.micro_batches, cache)))
        return 0
    build_random_backbone(args.folder)
    rows = []
    for dtype in args.dtypes.split(","):
        for checkpointing in args.checkpointing.split(","):
            micro = args.micro_batch or (BATCH if args.device != "cpu" else (4 if checkpointing == "on" else 1))
            command = [sys.executable, __file__, "--folder", str(args.folder), "--device", args.device,
                       "--micro-batches", str(args.micro_batches), "--child", f"{dtype}:{checkpointing}:{micro}"]
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"{dtype} checkpointing {checkpointing}: over {args.timeout} s, stopped", file=sys.stderr)
                continue
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    if rows:
        _append(rows)
    return 0 if rows else 1


def _append(rows: list[dict]) -> None:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with RESULTS.open("a") as f:
        f.write(f"\n### Training step · {time.strftime('%Y-%m-%d')} · {cpu} · {os.cpu_count()} cores · "
                f"torch {torch.__version__}\n\n")
        f.write("| device | dtype | checkpointing | images / micro-batch | s per micro-batch (each) | "
                "s per step of 16 | peak RSS GiB (after load) | GPU peak GiB | VAE s / image |\n")
        f.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['device']} | {r['dtype']} | {'on' if r['checkpointing'] else 'off'} | {r['micro_batch']} | "
                    f"{', '.join(map(str, r['micro_batch_s']))} | {r['step_s']} | {r['peak_rss_gib']} ({r['load_peak_gib']}) | "
                    f"{r['cuda_peak_gib'] if r['cuda_peak_gib'] is not None else '-'} | "
                    f"{r['encode_s_per_image'] if r['encode_s_per_image'] is not None else 'cached'} |\n")


if __name__ == "__main__":
    sys.exit(main())
