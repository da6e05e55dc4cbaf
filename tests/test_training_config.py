"""TrainConfig: the paper's defaults (METHOD 2) and refusals that say what to change."""

import dataclasses

import pytest

from genziqa.core.training import TrainConfig
from genziqa.core.training.config import TRAJECTORY_KEYS


def test_defaults_are_the_papers():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.betas, cfg.weight_decay, cfg.adam_eps, cfg.grad_clip) == (1e-4, (0.9, 0.999), 0.01, 1e-8, 1.0)
    assert (cfg.batch_size, cfg.epochs, cfg.train_max_timestep) == (16, 10, 100)
    assert cfg.flips and cfg.gradient_checkpointing
    assert cfg.accumulate == 1 and cfg.latent_cache is None


def test_training_knobs_are_not_method_numbers():
    from genziqa.core.config import GenzIQAConfig

    method = {f.name for f in dataclasses.fields(GenzIQAConfig)}
    training = {f.name for f in dataclasses.fields(TrainConfig)}
    assert not method & training


@pytest.mark.parametrize("change, words", [
    ({"lr": 0}, "lr=0 must be a positive number"),
    ({"lr": float("nan")}, "lr=nan"),
    ({"betas": (0.9, 1.0)}, "betas"),
    ({"weight_decay": -1}, "weight_decay"),
    ({"batch_size": 0}, "batch_size=0 must be a whole number"),
    ({"batch_size": 16, "accumulate": 3}, "accumulate=3"),
    ({"epochs": 1.5}, "epochs=1.5"),
    ({"train_max_timestep": 0}, "train_max_timestep=0"),
    ({"seed": -1}, "seed=-1"),
])
def test_bad_values_are_refused_by_name(change, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        TrainConfig(**change)


def test_micro_batch_splits_the_global_batch():
    assert TrainConfig().micro_batch(1) == 16
    assert TrainConfig(accumulate=4).micro_batch(1) == 4
    assert TrainConfig(accumulate=2).micro_batch(2) == 4
    with pytest.raises(ValueError, match="multiple of 6"):
        TrainConfig(accumulate=2).micro_batch(3)


def test_trajectory_holds_what_a_resume_must_match():
    traj = TrainConfig(lr=3e-4).trajectory()
    assert set(traj) == set(TRAJECTORY_KEYS)
    assert traj["lr"] == 3e-4 and traj["betas"] == [0.9, 0.999]
    # Memory and bookkeeping knobs may change between an interruption and its resume.
    for free in ("accumulate", "epochs", "save_every", "latent_cache", "gradient_checkpointing"):
        assert free not in traj
