"""Per-token and spatial quality maps (METHOD 4)."""

import numpy as np
import pytest

import genziqa
from genziqa.core import heatmaps


@pytest.fixture(scope="module")
def analysis(trained_sd2, photos):
    return genziqa.load(trained_sd2).analyze(photos[1])  # chelsea: 451 x 300, not square


def test_maps_have_the_original_size(analysis, photos):
    height, width = photos[1].shape[:2]
    assert analysis.image_size == (width, height)
    assert analysis.token_map("Good").shape == (height, width)
    assert analysis.quality_map().shape == (height, width)
    assert analysis.token_maps.shape == (2, 77, 8, 8)


def test_token_maps_are_attention_probabilities(analysis):
    # Each is a mean of softmaxes over the 77 tokens, so the maps of one prompt sum to 1 per cell.
    np.testing.assert_allclose(analysis.token_maps.sum(axis=1), 1.0, rtol=1e-4)
    assert (analysis.token_maps >= 0).all()
    assert not np.allclose(analysis.token_maps[0, 17], analysis.token_maps[0, 17].mean())  # it has structure


def test_token_lookup(analysis):
    assert heatmaps.find_token(analysis.tokens, "Good") == (0, [17])
    assert heatmaps.find_token(analysis.tokens, "bad") == (1, [17])
    assert heatmaps.find_token(analysis.tokens, "Photo", prompt="bad") == (1, [18])
    assert heatmaps.find_token(analysis.tokens, "X") == (0, list(range(1, 17)))
    assert heatmaps.find_token(analysis.tokens, "<end>") == (0, [20])
    with pytest.raises(ValueError, match=r"not in the prompts; choose one of \['x', 'good', 'photo', 'bad', '<end>'\]"):
        analysis.token_map("sharp")
    assert analysis.token_choices() == ["x", "good", "photo", "bad", "<end>"]


def test_unknown_token_lists_only_the_chosen_prompts_words(analysis):
    # Asking for "good" in the bad prompt must not offer "good" as a choice.
    with pytest.raises(ValueError, match=r"not in the bad prompt; choose one of \['x', 'bad', 'photo', '<end>'\]") as err:
        analysis.token_map("good", prompt="bad")
    assert "'good'" not in str(err.value).split("choose one of")[1]
    assert analysis.token_choices("bad") == ["x", "bad", "photo", "<end>"]


def test_analysis_to_dict_is_json(analysis):
    import json

    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["score"] == analysis.score and data["zero_shot"] == analysis.zero_shot
    assert len(data["per_timestep"]) == len(analysis.timesteps) == len(data["error_gap"])
    assert len(data["layer_stats"]) == len(analysis.timesteps) and len(data["layer_stats"][0]) == len(analysis.layer_names)
    assert data["tokens"]["good"][:1] == ["<|startoftext|>"]
    with_maps = analysis.to_dict(maps=True)
    assert np.asarray(with_maps["token_maps"]).shape == analysis.token_maps.shape


def test_results_are_read_only(analysis):
    with pytest.raises(ValueError):
        analysis.token_maps[0, 0, 0, 0] = 1.0


def test_quality_map_differs_between_images(trained_sd2, photos):
    scorer = genziqa.load(trained_sd2)
    a, b = scorer.analyze(photos[0]), scorer.analyze(photos[2])
    assert not np.allclose(a.quality_latent, b.quality_latent)
    assert a.score == pytest.approx(scorer.score(photos[:1])[0], rel=1e-5)


def test_overlay_and_colours(analysis, photos):
    pil = heatmaps.overlay(photos[1], analysis.quality_map(), symmetric=True, cmap=heatmaps.QUALITY_CMAP)
    assert pil.size == analysis.image_size and pil.mode == "RGB"
    assert heatmaps.normalize(np.array([-2.0, 0.0, 1.0]), symmetric=True, clip=100).tolist() == [0.0, 0.5, 0.75]
    # One extreme cell saturates instead of washing every other cell out to "no effect".
    heat = np.linspace(-1, 1, 1000)
    heat[0] = -500.0
    robust = heatmaps.normalize(heat, symmetric=True)
    assert robust[0] == 0.0 and robust[-1] > 0.99 and robust[750] > 0.7
    with pytest.raises(ValueError, match="Did you mean 'inferno'"):
        heatmaps.colorize(np.zeros((2, 2)), cmap="infernoo")


def test_zero_shot_heatmaps(tiny_sd1_dir, tiny_config, photos):
    analysis = genziqa.load(backbone=str(tiny_sd1_dir), config=tiny_config).analyze(photos[0])
    assert analysis.zero_shot and analysis.model.startswith("zero-shot")
    assert analysis.token_map("good").shape == photos[0].shape[:2]
    assert analysis.score == pytest.approx(-float(analysis.error_gap.mean()), rel=1e-6)
