"""ComfyUI-Manager runs this once after cloning genziqa into custom_nodes/.

It installs whatever in requirements.txt is missing or too old, into the Python that runs
ComfyUI, and nothing else: torch is never touched, and a second run installs nothing. Node code
itself never installs packages.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")


def requirements() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def missing(reqs: list[str]) -> list[str]:
    """The requirements not satisfied by what is installed now."""
    from packaging.requirements import Requirement

    todo = []
    for text in reqs:
        req = Requirement(text)
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            todo.append(text)
            continue
        if not req.specifier.contains(installed, prereleases=True):
            todo.append(text)
    return todo


def main() -> int:
    todo = missing(requirements())
    if not todo:
        print("genziqa: all requirements are already installed.")
        return 0
    print(f"genziqa: installing {', '.join(todo)}")
    return subprocess.call([sys.executable, "-m", "pip", "install", *todo])


if __name__ == "__main__":
    sys.exit(main())
