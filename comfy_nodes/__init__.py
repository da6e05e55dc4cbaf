"""ComfyUI nodes for genziqa. Imports nothing heavy: nodes load core only when they run."""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
