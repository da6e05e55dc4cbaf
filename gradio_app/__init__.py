"""The genziqa Gradio demo (Hugging Face Space entry point: ``app.py`` at the repository root)."""
