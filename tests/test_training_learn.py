"""The loop learns: on a tiny random backbone, training moves the scores of photos with graded
synthetic distortions (Gaussian blur, JPEG, Gaussian noise; three levels each) from no relation to
their MOS to a strong rank correlation, as ``genziqa score`` measures it with the exported weights.

This shows that gradients reach the trainable parameters, the optimiser moves them the right way
and the exported weights carry what was learned. It is no accuracy claim, and it is measured on the
training photos: a *random* network has no notion of blur or noise that holds across photos (its
score moves up with a distortion on one photo and down on the next), so what a short run learns on
some photos does not transfer to unseen ones; transfer needs real Stable Diffusion weights.

Settings for this test only (the defaults stay the paper's):

- latent scale: SD's VAE ``scaling_factor`` (0.18215) gives its latents unit variance; the tiny
  random VAE's latents come out at std 0.09 with it, far under the training noise (std up to 0.3 at
  t = 99), so the image barely reaches the UNet. The test's copy of the backbone sets the factor
  that gives unit variance, as SD's was chosen.
- MOS scale: an untrained score is almost all the constant mean_l log(N_l) / lambda (METHOD 1.7),
  18.56 for the tiny UNet at 64 px (layers of 64, 16, 4 and 1 pixels). MOS is centred there, so
  the short run spends its steps on the ranking rather than on moving the constant.
- learning rate 1e-2 and 50 steps instead of 1e-4 over ten epochs of a large data set; flips off
  (for a random encoder a mirrored photo is another photo altogether).
"""

import io
import json
import shutil

import numpy as np
import pytest
import torch

LEVELS = {"blur": (1.0, 2.0, 4.0), "jpeg": (25, 8, 2), "noise": (15.0, 35.0, 70.0)}
CONSTANT = 18.56  # mean_l log(N_l) / 0.14 over the tiny UNet's 16 cross-attention layers at 64 px
SIDE = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def distort(image, kind: str, level: int, seed: int):
    """``image`` (PIL RGB) at distortion ``level`` 1..3 of ``kind``; level 0 is the photo itself."""
    from PIL import Image, ImageFilter

    if level == 0:
        return image
    value = LEVELS[kind][level - 1]
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(value))
    if kind == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=value)
        buffer.seek(0)
        return Image.open(buffer).convert("RGB")
    noisy = np.asarray(image, dtype=np.float64) + np.random.default_rng(seed).normal(0.0, value, (SIDE, SIDE, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))


def write_dataset(root, photos):
    """10 images a photo (the photo, and 3 kinds x 3 levels); MOS = CONSTANT + 1.5 - level."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,mos,split,content"]
    for index, photo in enumerate(photos):
        small = Image.fromarray(photo).convert("RGB").resize((SIDE, SIDE), Image.BICUBIC)
        for kind in LEVELS:
            for level in range(4):
                if level == 0 and kind != "blur":
                    continue  # one undistorted image per photo
                name = f"photo{index}_{kind}{level}.png"
                distort(small, kind, level, seed=100 * index + 10 * level).save(root / name)
                lines.append(f"{name},{CONSTANT + 1.5 - level},train,photo{index}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def calibrated_copy(backbone, folder, images):
    """The backbone with the VAE scaling factor that gives its latents unit variance on ``images``."""
    from diffusers import AutoencoderKL

    from genziqa.core.images import load_image, to_model_input

    shutil.copytree(backbone, folder)
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    pixels = to_model_input([load_image(p, p) for p in images], SIDE) * 2 - 1
    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.mode()
    config_file = folder / "vae" / "config.json"
    config = json.loads(config_file.read_text())
    config["scaling_factor"] = 1.0 / float(latents.std())
    config_file.write_text(json.dumps(config))
    return folder


def permutation_bound(mos, p=1e-3, draws=20_000, seed=0):
    """The (1 - p) quantile of |SRCC| between a random ordering and ``mos`` (ties kept): a score
    with no relation to the MOS exceeds it with probability p."""
    from scipy.stats import rankdata

    y = rankdata(mos)
    y = (y - y.mean()) / np.linalg.norm(y - y.mean())
    rng = np.random.default_rng(seed)
    x = np.argsort(rng.random((draws, len(y))), axis=1).astype(np.float64)  # random ranks
    x = (x - x.mean(axis=1, keepdims=True)) / np.linalg.norm(x - x.mean(axis=1, keepdims=True), axis=1, keepdims=True)
    return float(np.quantile(np.abs(x @ y), 1 - p))


def test_training_makes_the_scores_follow_the_mos(tiny_sd2_dir, tiny_config, photos, tmp_path):
    import genziqa
    from genziqa.core.api import prepare
    from genziqa.core.data import open_dataset, split
    from genziqa.core.evaluation import srcc
    from genziqa.core.training import TrainConfig, TrainData, build_model, train

    dataset = open_dataset(write_dataset(tmp_path / "data", photos))
    rows = split(dataset, "train")
    paths, mos = [r.path for r in rows], [r.mos for r in rows]
    backbone = calibrated_copy(tiny_sd2_dir, tmp_path / "tiny-calibrated", paths)

    config = TrainConfig(epochs=25, batch_size=16, lr=1e-2, flips=False, save_every=1000)
    plan = prepare(None, backbone, device="cpu", config=tiny_config)
    # The starting point, exported: the initial context vectors with LoRA B = 0.
    initial = build_model(plan, seed=config.seed).export(tmp_path / "initial", {"note": "before training"})
    result = train(plan, TrainData(tuple(rows), None, {"dataset": "synthetic distortions"}), tmp_path / "run",
                   config, progress=False)
    assert result.steps == 50

    scores = {name: genziqa.load(folder, backbone=str(backbone), device="cpu", unet_rows=64).score(paths)
              for name, folder in (("before", initial), ("after", result.best))}
    before, after = srcc(scores["before"], mos), srcc(scores["after"], mos)
    bound = permutation_bound(mos)
    print(f"SRCC on the {len(paths)} training images: {before:.3f} before training, {after:.3f} after; "
          f"chance bound (p = 0.001) {bound:.3f}")
    # 40 images, MOS tied in four levels: the bound is about 0.5.
    assert 0.4 < bound < 0.6
    assert after > max(bound, 0.75)
    assert after > before + 0.3
    losses = [r["loss"] for r in map(json.loads, (result.out / "metrics.jsonl").read_text().splitlines())
              if r["event"] == "step"]
    # MOS is centred on the untrained score, so the first losses are about the MOS variance (0.96).
    variance = float(np.var(mos))
    assert np.mean(losses[:4]) > 0.7 * variance
    assert np.mean(losses[-10:]) < 0.5 * variance
