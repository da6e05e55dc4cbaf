"""Stand-in for ``comfy_execution.graph_utils`` (ComfyUI 0.8.0): the execution blocker and links.

ComfyUI's executor checks every input of a node before running it: if one is an
``ExecutionBlocker``, the node does not run and all its outputs become that blocker (a message
of None blocks silently; a message is reported as an execution error). ``harness.call_node``
applies the same rule.
"""


class ExecutionBlocker:
    def __init__(self, message):
        self.message = message


def is_link(obj) -> bool:
    return (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], str)
            and isinstance(obj[1], int))
