"""ComfyUI workflows (the UI's saved JSON) checked and turned into API prompts, as the front end does.

The front end saves each node's widget values as a list, ``widgets_values``, in the order of the
node's declared widget inputs (required, then optional). Two widgets it adds itself also take a
place in that list: the "control after generate" value after a seed input, and the upload
button after Load Image's file list. :func:`to_prompt` maps the list back to input names and
the links to ``[source node id, output slot]``, which is what ``POST /prompt`` takes.
"""

from __future__ import annotations

import json
from pathlib import Path

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
CORE_NODES = Path(__file__).with_name("core_nodes.json")


def core_specs() -> dict:
    """What /object_info of ComfyUI 0.8.0 says about the core nodes the examples use."""
    return json.loads(CORE_NODES.read_text())["nodes"]


def spec_of(cls, file_lists=("backbone", "weights", "backbone_config")) -> dict:
    """The /object_info entry of a classic node class (what server.node_info builds); combos
    named in ``file_lists`` list what one install has on disk and become ``FILE_LIST``."""
    inputs = {section: {name: (["FILE_LIST", *spec[1:]] if name in file_lists and isinstance(spec[0], list) else spec)
                        for name, spec in entries.items()}
              for section, entries in cls.INPUT_TYPES().items()}
    return {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
            "output": list(cls.RETURN_TYPES), "output_name": list(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)),
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False))}


FILE_LISTS = ("ckpt_name", "image", "backbone", "weights", "backbone_config")


def relaxed(specs: dict) -> dict:
    """Live /object_info with the combos that list one install's files (checkpoints, input
    images, GenzIQA weights) marked ``FILE_LIST``: a shared workflow names the author's files."""
    out = {}
    for node, spec in specs.items():
        inputs = {section: {name: (["FILE_LIST", *entry[1:]] if name in FILE_LISTS and isinstance(entry[0], list) else entry)
                            for name, entry in entries.items()}
                  for section, entries in spec["input"].items()}
        out[node] = {**spec, "input": inputs}
    return out


def widgets(spec: dict) -> list[tuple[str, object, dict, int]]:
    """(input name, kind, options, places in widgets_values) for each widget input, in order."""
    out = []
    for section in ("required", "optional"):
        for name in spec["input_order"].get(section, []):
            kind, *rest = spec["input"][section][name]
            options = rest[0] if rest else {}
            if isinstance(kind, list) or kind in WIDGET_TYPES or kind == "FILE_LIST":
                extra = 1 if options.get("control_after_generate") or options.get("image_upload") else 0
                out.append((name, kind, options, 1 + extra))
    return out


def check(workflow: dict, specs: dict) -> list[str]:
    """Everything wrong with a UI workflow against the node specs; an empty list when valid."""
    problems = []
    nodes = {n["id"]: n for n in workflow["nodes"]}
    for link in workflow["links"]:
        lid, src, slot, dst, dst_slot, kind = link
        if src not in nodes or dst not in nodes:
            problems.append(f"link {lid} joins missing nodes")
            continue
        out, inp = nodes[src]["outputs"][slot], nodes[dst]["inputs"][dst_slot]
        if lid not in (out.get("links") or []) or inp.get("link") != lid:
            problems.append(f"link {lid} is not recorded on both ends")
        spec = specs[nodes[src]["type"]]
        if spec["output"][slot] != kind or out["type"] != kind or inp["type"] != kind:
            problems.append(f"link {lid}: {kind} does not match the output type {spec['output'][slot]}")
    for node in workflow["nodes"]:
        where = f"node {node['id']} ({node['type']})"
        if node["type"] not in specs:
            problems.append(f"{where}: not a core node or a GenzIQA node")
            continue
        spec = specs[node["type"]]
        declared = {**spec["input"].get("required", {}), **spec["input"].get("optional", {})}
        for inp in node.get("inputs", []):
            if inp["name"] not in declared:
                problems.append(f"{where}: no input named {inp['name']!r}")
        values = list(node.get("widgets_values", []))
        wanted = widgets(spec)
        if len(values) != sum(places for *_, places in wanted):
            problems.append(f"{where}: {len(values)} widget values for widgets {[w[0] for w in wanted]}")
            continue
        for name, kind, options, places in wanted:
            value, values = values[0], values[places:]
            if not _fits(value, kind, options):
                problems.append(f"{where}: {name}={value!r} does not fit {kind if not isinstance(kind, list) else 'its list'}")
    return problems


def to_prompt(workflow: dict, specs: dict) -> dict:
    """The API prompt for a UI workflow (what the front end's Queue button sends)."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0:
            continue  # muted or bypassed
        inputs = {}
        values = list(node.get("widgets_values", []))
        for name, _kind, _options, places in widgets(specs[node["type"]]):
            inputs[name], values = values[0], values[places:]
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                _, src, slot, *_ = links[inp["link"]]
                if nodes[src].get("mode", 0) == 0:
                    inputs[inp["name"]] = [str(src), slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def _fits(value, kind, options) -> bool:
    if isinstance(kind, list):
        return value in kind
    if kind == "FILE_LIST" or kind == "STRING":
        return isinstance(value, str)
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if kind in ("INT", "FLOAT"):
        ok_type = isinstance(value, int) if kind == "INT" else isinstance(value, (int, float))
        return (ok_type and not isinstance(value, bool) and options.get("min", value) <= value <= options.get("max", value))
    return True
