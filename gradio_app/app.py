"""``build_demo``: the page, its events and its API; ``launch``: serve it with the demo's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import gradio as gr

from ..core.heatmaps import DEFAULT_ALPHA
from . import render
from .batch import MAX_BATCH_IMAGES
from .callbacks import Api, Batch, SingleImage
from .model import DemoModel, benchmark_source, format_seconds

EXAMPLES = Path(__file__).parent / "examples"

QUEUE_SIZE = 16
"""Requests that may wait for the model; past that a visitor is told the queue is full."""

MAX_FILE_SIZE = "50mb"  # Gradio's spelling
"""Largest upload Gradio accepts (a zip for the batch tab counts as one file)."""

DEFAULT_OPACITY = DEFAULT_ALPHA
PAPER = "https://arxiv.org/abs/2406.04654"

_INTRO = f"""\
# genziqa: how good is this photo, and where does the model look?

A frozen **Stable Diffusion** model denoises your image twice, once told *"Good Photo."* and once
*"Bad Photo."*. The **GenzIQA score** says how much better the good prompt explains the image
(**higher = better**); the maps show where in the image that happens.
Method: De, Mitra, Soundararajan, [GenzIQA]({PAPER}).
"""

def _swatch(colour: str) -> str:
    return (f'<span style="display:inline-block;width:.9em;height:.9em;background:{colour};'
            'vertical-align:-.1em;border-radius:2px"></span>')


_MAP_LEGEND = (
    f'<div style="font-size:.92rem"><b>Quality map</b>: {_swatch("#2166ac")} blue areas pull the score up (the '
    f'"Good Photo." prompt denoises them better), {_swatch("#b2182b")} red areas pull it down. <b>Word map</b>: '
    'where the cross-attention puts the chosen word (bright = much). Changing the word or the opacity redraws '
    'at once, without running the model again.</div>'
)

_PLOTS_HELP = """\
**Per timestep**: the score is the mean of s_t over eight low noise levels; b_t is how much
worse the "Good Photo." prompt denoises than "Bad Photo." (negative = better). **Per layer**: the
cross-attention statistic m_l of each UNet layer (trained weights add it to the score).
"""

_API_HELP = """\
### Use it from code

Every request goes through the same queue as the page. With
[`gradio_client`](https://www.gradio.app/guides/getting-started-with-the-python-client)
(`pip install gradio_client`):

```python
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")           # or the Space's name, e.g. "user/genziqa"
result = client.predict(handle_file("photo.jpg"), api_name="/score")
print(result["score"], result["model"])             # "model" starts with "zero-shot" when untrained

png = client.predict(handle_file("photo.jpg"), "good", 0.6, api_name="/heatmap")
print(png)                                          # path of the downloaded PNG
```

| endpoint | inputs | returns |
|---|---|---|
| `/score` | image | `{"score", "model", "zero_shot", "image"}` |
| `/heatmap` | image, token (`good`, `bad`, `photo`, `x`, `<end>`, or `quality`), opacity 0..1 | PNG: the image under that map |
| `/analyze` | image | JSON: score, per-timestep and per-layer numbers, prompt tokens |

A bad image raises an error whose message says what is wrong with it.
"""


def build_demo(scorer=None, *, plan=None,
               load: Literal["first-request", "background", "now"] = "first-request") -> gr.Blocks:
    """The demo page for ``scorer`` (loaded), or for ``plan`` (:func:`genziqa.core.api.prepare`),
    or, with neither, for the default zero-shot SD 2.1-base scorer.

    ``load``: when a planned model is loaded: by the first request that needs it (the page is
    up at once), in a background thread now, or now, before this returns (ZeroGPU needs that).
    """
    if scorer is not None:
        model = DemoModel(scorer)
    else:
        if plan is None:
            from ..core.api import prepare

            plan = prepare()
        model = DemoModel(plan=plan)
        if load == "now":
            model.load_now()
        elif load == "background":
            model.load_in_background()
    single, api, many = SingleImage(model), Api(model), Batch(model)
    examples = sorted(str(p) for p in EXAMPLES.glob("*.jpg"))

    with gr.Blocks(title="genziqa: image quality demo", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(_INTRO)
        banner = gr.HTML(render.model_banner(model.label, model.zero_shot, _speed(model)))

        with gr.Tab("Single image"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=5):
                    image = gr.Image(label="Your image (upload, drop or paste)", type="filepath", image_mode=None,
                                     sources=["upload", "clipboard"], height=340, elem_id="genziqa-image")
                    if examples:
                        gr.Examples(examples=examples, inputs=image, examples_per_page=8, cache_examples=False,
                                    label="Examples: two CC0 photos, clean and blurred / noisy / JPEG-compressed")
                with gr.Column(scale=6):
                    card = gr.HTML(render.idle_card(model.label, model.zero_shot), elem_id="genziqa-card")
                    with gr.Row():
                        quality = gr.Image(label="Quality map", interactive=False, height=260,
                                           elem_id="genziqa-quality")
                        word_map = gr.Image(label="Word map", interactive=False, height=260,
                                            elem_id="genziqa-token-map")
                    gr.HTML(_MAP_LEGEND)
                    token = gr.Radio(label="Word to map", choices=[], elem_id="genziqa-token")
                    opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Map opacity",
                                        elem_id="genziqa-opacity")
            gr.Markdown(_PLOTS_HELP)
            with gr.Row():
                per_timestep = gr.LinePlot(x="timestep", y="value", color="series", height=260,
                                           title="Per timestep (8 noise levels)", elem_id="genziqa-timesteps")
                per_layer = gr.BarPlot(x="layer", y="statistic", height=260, x_label_angle=-45,
                                       title="Cross-attention statistic per layer (mean over timesteps)",
                                       elem_id="genziqa-layers")
            shown = gr.State()

        with gr.Tab("Batch ranking"):
            gr.Markdown("Score many images at once and rank them. Unreadable files are listed with the "
                        "reason; the others are still scored.")
            with gr.Row():
                with gr.Column(scale=3):
                    files = gr.File(label=f"Images, or a .zip of images (up to {MAX_BATCH_IMAGES} per batch, 50 MB a file)",
                                    file_count="multiple", height=180, elem_id="genziqa-files")
                with gr.Column(scale=2):
                    estimate = gr.Markdown(elem_id="genziqa-estimate")
                    rank_button = gr.Button("Rank these images", variant="primary", elem_id="genziqa-rank")
                    if examples:
                        gr.Examples(examples=[[examples]], inputs=files, cache_examples=False,
                                    label="Or take the eight examples")
            gallery = gr.Gallery(label="Ranked, best first", columns=5, height="auto", object_fit="contain",
                                 elem_id="genziqa-gallery")
            with gr.Row():
                histogram = gr.Plot(label="Score histogram", show_label=False, elem_id="genziqa-histogram")
                with gr.Column():
                    stats = gr.Markdown(elem_id="genziqa-summary")
                    csv_file = gr.File(label="All scores as CSV (path, score, model, run, error)",
                                       interactive=False, elem_id="genziqa-csv")
            problems = gr.HTML(elem_id="genziqa-problems")

        with gr.Tab("API"):
            gr.Markdown(_API_HELP)

        # The named API endpoints take their inputs from components no visitor sees.
        with gr.Column(visible=False):
            api_image = gr.Image(type="filepath", image_mode=None, label="image")
            api_token = gr.Textbox(value="good", label="token")
            api_opacity = gr.Number(value=DEFAULT_OPACITY, minimum=0, maximum=1, label="opacity")
            api_json = gr.JSON(label="result")
            api_png = gr.Image(type="pil", format="png", label="heatmap")
            api_trigger = gr.Button()

        # Every event that runs the model shares one concurrency group of size 1.
        on_model = dict(concurrency_id="model", concurrency_limit=1)
        cheap = dict(concurrency_id="draw", concurrency_limit=4, show_progress="hidden")
        # Preprocessing off: the callbacks take the uploaded file itself (see callbacks.py).
        image.change(single.analyze, [image, token, opacity],
                     [card, quality, word_map, token, per_timestep, per_layer, shown],
                     preprocess=False, api_name="page_analyze", api_visibility="private", **on_model)
        gr.on([token.change, opacity.change], single.redraw, [shown, token, opacity], [quality, word_map],
              trigger_mode="always_last", api_name="page_redraw", api_visibility="private", **cheap)
        files.change(many.estimate, [files], [estimate], api_name="page_estimate", api_visibility="private", **cheap)
        rank_button.click(many.score, [files], [gallery, histogram, stats, problems, csv_file],
                          api_name="page_rank", api_visibility="private", **on_model)
        api_trigger.click(api.score, [api_image], [api_json], api_name="score", preprocess=False, **on_model)
        api_trigger.click(api.heatmap, [api_image, api_token, api_opacity], [api_png], api_name="heatmap",
                          preprocess=False, **on_model)
        api_trigger.click(api.analyze, [api_image], [api_json], api_name="analyze", preprocess=False, **on_model)
        demo.load(lambda: render.model_banner(model.label, model.zero_shot, _speed(model)), None, [banner],
                  api_name="page_banner", api_visibility="private", **cheap)

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    demo.genziqa_model = model  # for tests and hosts that want to warm it up or inspect it
    return demo


def _speed(model: DemoModel) -> str:
    """What one request costs on this hardware, in words."""
    where = f"{model.device_type.upper()} in {model.dtype_name}"
    seconds, measured = model.seconds_per_image()
    if seconds is None:
        cost = "no benchmark figure for this hardware yet"
    elif measured:
        cost = f"about {format_seconds(seconds)} per image (measured here)"
    else:
        cost = f"about {format_seconds(seconds)} per image ({benchmark_source(model.device_type)})"
    load = "" if model.loaded else " The first request also loads the model (a minute or more; longer if it must be downloaded)."
    return f"Runs on {where}: {cost}. One request at a time; up to {QUEUE_SIZE} wait in line.{load}"


def launch(demo: gr.Blocks, *, host: str | None = None, port: int | None = None, share: bool = False,
           prevent_thread_lock: bool = False, quiet: bool = False):
    """Serve ``demo`` with the demo's upload limit. ``host`` None: Gradio's default, 127.0.0.1
    unless ``GRADIO_SERVER_NAME`` says otherwise (Hugging Face Spaces set it to 0.0.0.0)."""
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_FILE_SIZE,
                       prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False,
                       theme=gr.themes.Soft(primary_hue="indigo"), footer_links=["api", "gradio"])
