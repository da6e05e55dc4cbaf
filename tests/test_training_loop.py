"""The training loop on a tiny backbone: outputs and provenance, resume after an interruption,
gradient accumulation, the latent cache (with flips), and the refusals that protect a run."""

import json

import numpy as np
import pytest
import torch

from genziqa.core.api import prepare
from genziqa.core.training import (
    BEST_DIR, CURVES_FILE, METRICS_FILE, RECOVERY_FILE, VALIDATION_FILE, RecoveryError, TrainConfig, TrainData,
    TrainingSetupError, plan_run, train,
)
from genziqa.core.training import schedule
from genziqa.core.training.latents import LatentSource

# 12 training images (3 photos x 4 noise levels), 4 validation images: batch 4 -> 3 steps an epoch.
CONFIG = TrainConfig(epochs=2, batch_size=4, lr=1e-3, save_every=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny 64px models gain nothing from threads; on a shared 2-core machine oversubscribed
    # OpenMP threads made a step ten times slower. Equal thread counts also keep runs bit-equal.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_dataset(root, photos):
    """``labels.csv`` (path, mos, split, content) over noisy 64px versions of the photos; MOS falls
    with the noise level. The second photo is the validation split."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,mos,split,content"]
    for index, photo in enumerate(photos):
        small = np.asarray(Image.fromarray(photo).convert("RGB").resize((64, 64), Image.BICUBIC), dtype=np.float64)
        split = "validation" if index == 1 else "train"
        for level in range(4):
            noisy = small + np.random.default_rng(10 * index + level).normal(0.0, 18.0 * level, small.shape)
            name = f"photo{index}_noise{level}.png"
            Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(root / name)
            lines.append(f"{name},{5.0 - level},{split},photo{index}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def data(photos, tmp_path_factory):
    from genziqa.core.data import open_dataset, split

    dataset = open_dataset(write_dataset(tmp_path_factory.mktemp("noisy"), photos))
    return TrainData(train=tuple(split(dataset, "train")), validation=tuple(split(dataset, "validation")),
                     source={"dataset": dataset.name, "train_split": "train", "validation_split": "validation"})


@pytest.fixture(scope="module")
def plan(tiny_sd2_dir, tiny_config):
    return prepare(None, tiny_sd2_dir, device="cpu", config=tiny_config)


@pytest.fixture(scope="module")
def reference(plan, data, tmp_path_factory):
    """One uninterrupted, uncached run that other tests compare against."""
    out = tmp_path_factory.mktemp("reference")
    return train(plan, data, out, CONFIG, progress=False)


def tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / BEST_DIR / "genziqa.safetensors")), load_file(str(folder / RECOVERY_FILE))


def assert_same_weights(a, b, exact=True, atol=0.0):
    (best_a, rec_a), (best_b, rec_b) = tensors(a), tensors(b)
    for x, y in ((best_a, best_b), (rec_a, rec_b)):
        assert set(x) == set(y)
        for key in x:
            if exact:
                assert torch.equal(x[key], y[key]), key
            else:
                torch.testing.assert_close(x[key], y[key], rtol=0, atol=atol, msg=key)


def step_losses(folder):
    return [r["loss"] for r in map(json.loads, (folder / METRICS_FILE).read_text().splitlines()) if r["event"] == "step"]


def test_a_run_writes_weights_log_curves_and_provenance(reference, data):
    from genziqa import __version__
    from genziqa.core.checkpoint import load_weights

    out = reference.out
    assert reference.epochs == 2 and reference.steps == 6
    assert reference.trainable["total"] == reference.trainable["lora"] + reference.trainable["context"] > 0
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in steps)
    assert [r["epoch"] for r in epochs] == [1, 2] and all(r["val_images"] == 4 for r in epochs)
    srccs = [r["val_srcc"] for r in epochs]
    assert reference.best_epoch == 1 + int(np.argmax(srccs)) and reference.best_srcc == max(srccs)
    # The loss curve and validation curve, as a real PNG.
    png = (out / CURVES_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # The exported weights: the core format, provenance under "training".
    weights = load_weights(out / BEST_DIR)
    prov = weights.training
    assert prov["genziqa_version"] == __version__
    assert prov["data"] == data.source and prov["images"] == {"train": 12, "validation": 4}
    assert prov["epoch"] == reference.best_epoch and prov["epochs"] == 2 and prov["seed"] == 0
    assert prov["val_srcc"] == pytest.approx(reference.best_srcc)
    assert prov["settings"]["lr"] == 1e-3 and prov["trainable"] == reference.trainable
    # The validation scores of the best epoch.
    lines = (out / VALIDATION_FILE).read_text().splitlines()
    assert lines[0] == "path,mos,score" and len(lines) == 5


def test_training_changes_the_weights_from_their_start(reference, plan):
    from genziqa.core.checkpoint import load_weights
    from genziqa.core.training import build_model

    start = build_model(plan, seed=0)
    trained = load_weights(reference.out / BEST_DIR)
    assert not torch.equal(trained.ctx, start.params["prompt.ctx"].detach())
    b = [v for k, v in trained.lora.items() if ".lora_B." in k]
    assert all(t.abs().max() > 0 for t in b)  # B leaves zero


def test_resume_after_an_interruption_gives_the_same_weights(reference, plan, data, tmp_path):
    class Stop(Exception):
        pass

    def interrupt(info):
        if info.step == 3:  # the recovery file was last written at step 2
            raise Stop

    out = tmp_path / "interrupted"
    with pytest.raises(Stop):
        train(plan, data, out, CONFIG, progress=False, on_step=interrupt)
    assert (out / RECOVERY_FILE).is_file() and not (out / BEST_DIR).exists()
    assert len(step_losses(out)) == 3
    result = train(plan, data, out, CONFIG, resume=True, progress=False)
    assert result.steps == 6 and result.best_epoch == reference.best_epoch
    assert_same_weights(out, reference.out)
    # The log was cut back to the save point, so it holds each step once.
    assert step_losses(out) == step_losses(reference.out)


def test_gradient_accumulation_gives_the_same_steps(plan, data, tmp_path):
    once = TrainConfig(epochs=1, batch_size=4, accumulate=1, lr=1e-3)
    runs = {}
    for accumulate in (1, 4):
        cfg = TrainConfig(**{**once.to_dict(), "accumulate": accumulate})
        runs[accumulate] = tmp_path / f"acc{accumulate}"
        train(plan, TrainData(data.train, None, data.source), runs[accumulate], cfg, progress=False)
    # Micro-batches of 1 instead of one of 4: the same sums in another order.
    np.testing.assert_allclose(step_losses(runs[4]), step_losses(runs[1]), rtol=1e-5)
    assert_same_weights(runs[4], runs[1], exact=False, atol=2e-5)


def test_the_latent_cache_gives_the_same_weights(reference, plan, data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cfg = TrainConfig(**{**CONFIG.to_dict(), "latent_cache": str(cache)})
    cold = train(plan, data, tmp_path / "cold", cfg, progress=False)
    assert_same_weights(cold.out, reference.out)
    # The cache holds one entry per (image, flip) the run met, flipped ones included.
    shape = (4, 8, 8)
    met = set()
    for epoch in range(CONFIG.epochs):
        order = schedule.epoch_order(len(data.train), CONFIG.seed, epoch)
        for position in range(3 * CONFIG.batch_size):
            d = schedule.draw(CONFIG.seed, epoch, position, shape, max_timestep=100, flips=True)
            met.add((order[position], d.flip_h, d.flip_v))
    assert any(h or v for _, h, v in met)
    files = sorted(cache.rglob("*.safetensors"))
    assert len(files) == len(met) + len(data.validation)

    # A second run on the warm cache never encodes an image, and still gives the same weights.
    def no_encoding(*args, **kwargs):
        raise AssertionError("the VAE ran although every latent was cached")

    monkeypatch.setattr("genziqa.core.training.latents.encode_latents", no_encoding)
    warm = train(plan, data, tmp_path / "warm", cfg, progress=False)
    assert sorted(cache.rglob("*.safetensors")) == files
    assert_same_weights(warm.out, reference.out)


def test_flips_are_applied_to_pixels_not_latents(plan, data):
    """The VAE encoder is not mirror symmetric, so a cached latent cannot simply be flipped:
    the cache must key on the flip, and the flip must happen before encoding."""
    from genziqa.core.training import build_model

    model = build_model(plan, seed=0)
    source = LatentSource(model.backbone, plan.config)
    path = data.train[0].path
    plain, flipped = source.one(path), source.one(path, (True, False))
    assert not torch.allclose(flipped, plain.flip(-1), atol=1e-3)
    both = source.one(path, (True, True))
    assert not torch.allclose(both, plain.flip((-1, -2)), atol=1e-3)
    assert source.encoded == 3


def test_schedule_draws_depend_only_on_seed_epoch_and_position():
    shape = (4, 8, 8)
    a = schedule.draw(0, 1, 5, shape, max_timestep=100, flips=True)
    b = schedule.draw(0, 1, 5, shape, max_timestep=100, flips=True)
    assert (a.flip_h, a.flip_v, a.timestep) == (b.flip_h, b.flip_v, b.timestep) and torch.equal(a.noise, b.noise)
    others = [schedule.draw(0, 1, p, shape, max_timestep=100, flips=True) for p in range(64)]
    assert len({o.timestep for o in others}) > 20 and all(0 <= o.timestep < 100 for o in others)
    assert not torch.equal(others[0].noise, others[1].noise)
    assert 10 < sum(o.flip_h for o in others) < 54 and 10 < sum(o.flip_v for o in others) < 54
    off = schedule.draw(0, 1, 5, shape, max_timestep=100, flips=False)
    assert not off.flip_h and not off.flip_v and off.timestep == a.timestep and torch.equal(off.noise, a.noise)
    order = schedule.epoch_order(30, 0, 0)
    assert sorted(order) == list(range(30)) and order != schedule.epoch_order(30, 0, 1)
    assert order != schedule.epoch_order(30, 1, 0)


def test_a_finished_run_is_not_trained_again(reference, plan, data):
    run = plan_run(reference.out, CONFIG, data, model_id=plan.run_id, method=plan.config.to_dict(), resume=True)
    assert run.finished
    longer = TrainConfig(**{**CONFIG.to_dict(), "epochs": 3})
    assert not plan_run(reference.out, longer, data, model_id=plan.run_id, method=plan.config.to_dict(),
                        resume=True).finished


def test_refusals_name_the_problem(reference, plan, data, tmp_path):
    kw = {"model_id": plan.run_id, "method": plan.config.to_dict()}
    with pytest.raises(TrainingSetupError, match="already holds a training run.*--resume"):
        plan_run(reference.out, CONFIG, data, **kw)
    with pytest.raises(TrainingSetupError, match="nothing to resume"):
        plan_run(tmp_path / "empty", CONFIG, data, resume=True, **kw)
    other = TrainConfig(**{**CONFIG.to_dict(), "lr": 5e-4})
    with pytest.raises(RecoveryError, match=r"lr: 0.0005 now, 0.001 in the interrupted run"):
        plan_run(reference.out, other, data, resume=True, **kw)
    fewer = TrainData(data.train[:-1], data.validation, data.source)
    with pytest.raises(RecoveryError, match="training data"):
        plan_run(reference.out, CONFIG, fewer, resume=True, **kw)
    with pytest.raises(TrainingSetupError, match="fewer than one batch of 16"):
        plan_run(tmp_path / "new", TrainConfig(), data, **kw)
    with pytest.raises(TrainingSetupError, match="multiple of 3"):
        plan_run(tmp_path / "new", TrainConfig(batch_size=4), data, processes=3, **kw)
    with pytest.raises(TrainingSetupError, match="validation split has 2 images"):
        plan_run(tmp_path / "new", CONFIG, TrainData(data.train, data.validation[:2]), **kw)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        plan_run(tmp_path / "file", CONFIG, data, **kw)


def test_readable_drops_unreadable_images_from_both_splits_and_keeps_the_order(data, tmp_path):
    from dataclasses import replace

    broken_train, broken_val = data.train[1], data.validation[0]
    copies = {}
    for row in (broken_train, broken_val):
        copies[row.path] = tmp_path / f"broken-{len(copies)}.png"
        copies[row.path].write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut short")
    moved = replace(data, train=tuple(replace(r, path=str(copies.get(r.path, r.path))) for r in data.train),
                    validation=tuple(replace(r, path=str(copies.get(r.path, r.path))) for r in data.validation))
    kept, bad = moved.readable(workers=3)
    assert list(bad) == [str(copies[broken_train.path]), str(copies[broken_val.path])]
    assert all("truncated or damaged" in why for why in bad.values())
    assert [r.path for r in kept.train] == [r.path for r in data.train if r is not broken_train]
    assert [r.path for r in kept.validation] == [r.path for r in data.validation if r is not broken_val]
    assert kept.fingerprint() != moved.fingerprint() and kept.source == moved.source

    same, none = data.readable()
    assert same is data and none == {}
    without_validation, none = replace(data, validation=None).readable()
    assert without_validation.validation is None and none == {}
