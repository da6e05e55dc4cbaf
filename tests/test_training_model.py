"""The model under training: exactly the context vectors and attn2 LoRA train, the score is the
scorer's score, gradients reach the context through the text encoder, checkpointing changes nothing."""

import dataclasses

import pytest
import torch

from genziqa.core.api import prepare
from genziqa.core.training import build_model, trainable_parameters
from genziqa.core.training.model import CTX_NAME


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny 64px models gain nothing from threads, and on a shared 2-core machine oversubscribed
    # OpenMP threads made a step ten times slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shared_model(tiny_sd2_dir, tiny_config):
    return build_model(prepare(None, tiny_sd2_dir, device="cpu", config=tiny_config), seed=0)


@pytest.fixture()
def model(shared_model):
    """One model for the module (loading is the slow part); each test starts without gradients."""
    for p in shared_model.params.values():
        p.grad = None
    shared_model.use_gradient_checkpointing(True)
    return shared_model


def _randomise_lora_b(model, seed=3):
    """B = 0 at the start makes the LoRA A gradients vanish; give B values to test every path."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.params.items():
            if ".lora_B." in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


def _inputs(model, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    c, h, w = model.latent_shape
    z0 = torch.randn(n, c, h, w, generator=gen)
    t = torch.randint(0, 100, (n, 1), generator=gen)
    noise = torch.randn(n, 1, c, h, w, generator=gen)
    return z0, t, noise


def test_trainable_are_exactly_the_context_and_attn2_lora(model):
    names = list(model.params)
    assert names[0] == CTX_NAME
    lora = names[1:]
    assert lora and all(".attn2." in n and (".lora_A." in n or ".lora_B." in n) for n in lora)
    assert {n.split(".attn2.")[1].rsplit(".lora_", 1)[0] for n in lora} == set(model.config.lora_targets)
    # 16 cross-attention layers x 4 projections x (A, B)
    assert len(lora) == 16 * 4 * 2
    trainable_ids = {id(p) for p in model.params.values()}
    bb = model.backbone
    for module in (bb.unet, bb.vae, bb.text_encoder):
        for name, p in module.named_parameters():
            assert p.requires_grad == (id(p) in trainable_ids), name
    assert all(p.dtype == torch.float32 for p in model.params.values())
    counts = model.counts()
    assert counts["context"] == model.config.n_ctx * bb.width
    assert counts["total"] == sum(p.numel() for p in model.params.values())


def test_names_match_the_weights_file(model, tmp_path):
    from genziqa.core.checkpoint import load_weights

    weights = load_weights(model.export(tmp_path / "w", {"note": "test"}))
    assert set("unet." + k for k in weights.lora) == set(model.params) - {CTX_NAME}
    for key, value in weights.lora.items():
        assert torch.equal(value, model.params["unet." + key].detach())
    assert torch.equal(weights.ctx, model.params[CTX_NAME].detach())


def test_full_size_sd21_base_trains_446976_values():
    """METHOD 2: LoRA 430,592 + context 16,384 on the shipped SD 2.1-base shapes (built on the meta
    device: shapes only, no memory)."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    from genziqa.core.backbone import FAMILY_CONFIGS
    from genziqa.core.clip_vocab import clip_tokenizer
    from genziqa.core.config import GenzIQAConfig
    from genziqa.core.lora import add_lora
    from genziqa.core.prompts import PromptLearner
    from genziqa.core.training import parameter_counts
    from transformers import CLIPTextConfig

    shipped = FAMILY_CONFIGS["sd2"]
    config = GenzIQAConfig()
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(shipped / "unet"))
    add_lora(unet, config)
    width = CLIPTextConfig.from_json_file(shipped / "text_encoder" / "config.json").hidden_size
    tokenizer = clip_tokenizer(shipped / "tokenizer" / "tokenizer_config.json")
    prompts = PromptLearner(tokenizer, width, config, zero_shot=False)
    counts = parameter_counts(trainable_parameters(unet, prompts))
    assert counts == {"lora": 430_592, "context": 16_384, "total": 446_976}


def test_gradient_reaches_the_context_through_the_text_encoder(model):
    z0, t, noise = _inputs(model)
    model.backward(model.scores(z0, t, noise).sum(), tuple(z0.shape[-2:]))
    assert model.params[CTX_NAME].grad is not None and model.params[CTX_NAME].grad.abs().sum() > 0
    b_grads = [p.grad for n, p in model.params.items() if ".lora_B." in n]
    assert all(g is not None and g.abs().sum() > 0 for g in b_grads)
    frozen = model.backbone.text_encoder.get_input_embeddings().weight
    assert frozen.grad is None


def test_gradient_checkpointing_gives_the_plain_gradients(model):
    """The oracle for the speed trick: the same gradients with and without recomputation (which
    also shows the statistic's processors are replayed in the backward pass)."""
    _randomise_lora_b(model)
    grads = {}
    for checkpointing in (False, True):
        model.use_gradient_checkpointing(checkpointing)
        for p in model.params.values():
            p.grad = None
        z0, t, noise = _inputs(model, n=2)
        loss = (model.scores(z0, t, noise) - 3.0).pow(2).mean()
        model.backward(loss, tuple(z0.shape[-2:]))
        grads[checkpointing] = torch.cat([p.grad.flatten() for p in model.params.values()])
    assert grads[False].abs().max() > 0
    torch.testing.assert_close(grads[True], grads[False], rtol=1e-5, atol=1e-6)


def test_checkpointing_without_the_replayed_processors_would_fail(model):
    """Why :meth:`TrainableModel.backward` reinstalls the statistic processors: a bare backward
    recomputes blocks with the plain processors, and torch refuses the mismatch."""
    z0, t, noise = _inputs(model, n=1)
    loss = model.scores(z0, t, noise).sum()
    with pytest.raises(Exception, match="different number of tensors|recomput"):
        loss.backward()


def test_the_training_forward_is_the_scorers_score(model, tmp_path, tiny_sd2_dir, photos):
    """At the scorer's fixed timesteps and noise bank, the differentiable training forward, the
    validation scores and `genziqa.load(weights)` give one number per image."""
    import genziqa
    from genziqa.core.images import load_image, to_model_input
    from genziqa.core.method import encode_latents, fixed_timesteps, noise_bank

    _randomise_lora_b(model)
    images = photos[:3]
    pixels = to_model_input([load_image(p, f"photo {i}") for i, p in enumerate(images)], model.config.resolution)
    with torch.no_grad():
        z0 = encode_latents(model.backbone, pixels, model.config)
    n = z0.shape[0]
    validation = model.validation_scores(z0, rows_per_call=16)
    bank = noise_bank(model.config, tuple(z0.shape[1:]))
    with torch.enable_grad():
        trained = model.scores(z0, fixed_timesteps(model.config, n, model.device),
                               bank.unsqueeze(0).expand(n, -1, -1, -1, -1))
    assert trained.requires_grad
    torch.testing.assert_close(trained.detach(), validation, rtol=0, atol=1e-5)

    folder = model.export(tmp_path / "weights", {"note": "test"})
    scorer = genziqa.load(folder, backbone=str(tiny_sd2_dir), device="cpu")
    scored = torch.tensor(scorer.score(images))
    # The scorer merges the LoRA into the weights; unmerged agrees to float rounding.
    torch.testing.assert_close(scored, validation, rtol=0, atol=1e-4)
    assert scored.std() > 1e-3  # the images really differ: the comparison is not between constants
    assert dataclasses.asdict(scorer.config) == dataclasses.asdict(model.config)
