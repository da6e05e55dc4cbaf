"""The example workflows: valid UI JSON naming only GenzIQA and core nodes, widgets in order."""

import json

import pytest

import comfy_host_fixtures as fx  # registered by conftest.py

harness = fx.harness
workflow_api = fx.load_helper("workflow_api")
comfy_root, host, pack, nodes = fx.comfy_root, fx.host, fx.pack, fx.nodes
EXAMPLES = sorted((harness.REPO / "example_workflows").glob("*.json"))


@pytest.fixture(scope="module")
def specs(nodes):
    ours = {node_id: workflow_api.spec_of(cls) for node_id, cls in nodes.items()}
    return {**workflow_api.core_specs(), **ours}


def test_the_three_examples_are_there():
    assert [p.name for p in EXAMPLES] == ["genziqa_heatmap.json", "genziqa_rank_top_k_save.json",
                                          "genziqa_score_filter_save.json"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_valid_workflow(path, specs, nodes):
    workflow = json.loads(path.read_text())
    assert workflow["version"] == 0.4 and workflow["last_node_id"] == max(n["id"] for n in workflow["nodes"])
    assert workflow_api.check(workflow, specs) == []
    prompt = workflow_api.to_prompt(workflow, specs)
    for node_id, node in prompt.items():
        if node["class_type"] in nodes:
            cls = nodes[node["class_type"]]
            widget_values = {k: v for k, v in node["inputs"].items() if not isinstance(v, list)}
            if node["class_type"] == "GenzIQALoader":  # what this install has instead of the user's files
                widget_values.update(backbone="tiny_sd1.safetensors")
            harness.validate(cls, {**{k: None for k in cls.INPUT_TYPES()["required"]}, **widget_values})
    assert any(n["class_type"].startswith("GenzIQA") for n in prompt.values())


def test_widget_order_is_checked(specs):
    workflow = json.loads((harness.REPO / "example_workflows" / "genziqa_heatmap.json").read_text())
    heatmap = next(n for n in workflow["nodes"] if n["type"] == "GenzIQAHeatmap")
    heatmap["widgets_values"] = ["auto", "quality", 0.5]  # map and colormap swapped
    assert workflow_api.check(workflow, specs) == [
        "node 3 (GenzIQAHeatmap): map='auto' does not fit its list",
        "node 3 (GenzIQAHeatmap): colormap='quality' does not fit its list",
    ]


def test_generation_example_keeps_latents_with_the_filter(specs):
    workflow = json.loads((harness.REPO / "example_workflows" / "genziqa_score_filter_save.json").read_text())
    prompt = workflow_api.to_prompt(workflow, specs)
    by_type = {n["class_type"]: (i, n) for i, n in prompt.items()}
    ksampler_id = by_type["KSampler"][0]
    filter_inputs = by_type["GenzIQAFilter"][1]["inputs"]
    assert filter_inputs["latent"] == [ksampler_id, 0]
    assert filter_inputs["genziqa_scores"] == [by_type["GenzIQAScore"][0], 2]  # scored once, not twice
    assert by_type["KSampler"][1]["inputs"]["seed"] == 42 and by_type["KSampler"][1]["inputs"]["steps"] == 20
