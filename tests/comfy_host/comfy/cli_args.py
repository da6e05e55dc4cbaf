"""Stand-in for ``comfy.cli_args``: the parsed command line, with ComfyUI's defaults."""

import argparse

args = argparse.Namespace(disable_metadata=False, cpu=True, force_fp32=False, force_fp16=False,
                          highvram=False, gpu_only=False, base_directory=None)
