"""Stand-in for the parts of ComfyUI's ``comfy`` package the genziqa nodes use."""
