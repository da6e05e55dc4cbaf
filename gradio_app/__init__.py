"""The genziqa Gradio demo: ``build_demo(scorer=None)`` and ``launch(demo)``.

Run it with ``genziqa demo`` or ``python app.py`` (the Hugging Face Space entry point at the
repository root). Importing this package imports Gradio (``pip install genziqa[demo]``).
"""

from .app import build_demo, launch

__all__ = ["build_demo", "launch"]
