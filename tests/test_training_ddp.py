"""Data parallelism: two CPU processes under torchrun (gloo) train the same weights as one process
with the same global batch, to float rounding (the batch's sums are only added in another order)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genziqa.core.training import BEST_DIR, METRICS_FILE, RECOVERY_FILE

ARGS = ["--dataset", "csv", "--batch-size", "4", "--epochs", "1", "--lr", "1e-3", "--device", "cpu",
        "--resolution", "64", "--no-progress"]


def _load_dataset_writer():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_training_loop_tests", Path(__file__).with_name("test_training_loop.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_dataset


def _gloo_env() -> dict:
    """The environment for CPU processes under torchrun: one thread each, offline, gloo on loopback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's default is the hostname's interface
    return env


def _tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / BEST_DIR / "genziqa.safetensors")), load_file(str(folder / RECOVERY_FILE))


def _records(folder):
    return [json.loads(line) for line in (folder / METRICS_FILE).read_text().splitlines()]


def test_two_processes_train_the_weights_of_one(tiny_sd2_dir, photos, tmp_path):
    data = _load_dataset_writer()(tmp_path / "data", photos)
    env = _gloo_env()
    common = ["train", "--data", str(data), "--backbone", str(tiny_sd2_dir), *ARGS]
    one, two = tmp_path / "one", tmp_path / "two"
    runs = [
        [sys.executable, "-m", "genziqa.core.cli", *common, "--out", str(one)],
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         "-m", "genziqa.core.cli", *common, "--out", str(two)],
    ]
    for command in runs:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    # Rank 0 alone talks and writes: one set of outputs, one summary line.
    assert done.stdout.count("best epoch") == 1
    assert "batch 4 (2 processes x 1 micro-batch of 2)" in done.stderr

    for a, b in zip(_tensors(one), _tensors(two)):  # exported weights, then the recovery state
        assert set(a) == set(b)
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=2e-5, msg=key)
    losses = [[r["loss"] for r in _records(f) if r["event"] == "step"] for f in (one, two)]
    assert len(losses[0]) == 3
    torch.testing.assert_close(torch.tensor(losses[1]), torch.tensor(losses[0]), rtol=1e-5, atol=0)
    val = [[r["val_srcc"] for r in _records(f) if r["event"] == "epoch"] for f in (one, two)]
    assert val[0] == pytest.approx(val[1], abs=1e-6)


RANKS_DISAGREE = """
import os, sys
from genziqa.core.api import prepare
from genziqa.core.data import open_dataset, split
from genziqa.core.training import TrainConfig, TrainData, TrainingSetupError, train

rows = tuple(split(open_dataset(sys.argv[1]), "train"))
if os.environ["RANK"] == "1":
    rows = rows[1:]  # as if this process could not read the first image
plan = prepare(None, sys.argv[2], device="cpu")
try:
    train(plan, TrainData(rows), sys.argv[3], TrainConfig(batch_size=2, epochs=1), progress=False)
except TrainingSetupError as err:  # one file per process: their stdout lines would interleave
    with open(os.path.join(sys.argv[4], "refused-" + os.environ["RANK"]), "w") as f:
        f.write(str(err))
"""


def test_processes_given_different_data_refuse_to_train(tiny_sd2_dir, photos, tmp_path):
    data = _load_dataset_writer()(tmp_path / "data", photos)
    script = tmp_path / "disagree.py"
    script.write_text(RANKS_DISAGREE)
    env = _gloo_env()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                           str(script), str(data), str(tiny_sd2_dir), str(tmp_path / "run"), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    refusals = [(tmp_path / f"refused-{rank}").read_text() for rank in (0, 1)]
    assert all("given different training data" in text for text in refusals), refusals
    assert not (tmp_path / "run" / BEST_DIR).exists()
