"""core/data and core/evaluation import no torch (CRAFT: checkable in the import graph)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A plain import, as a user's script does it: genziqa.core resolves its names lazily, so only what
# core/data and core/evaluation import themselves gets loaded.
CHECK = """
import sys
import genziqa.core.data, genziqa.core.evaluation
import genziqa.core.data.koniq, genziqa.core.data.flive, genziqa.core.data.clive, genziqa.core.data.spaq
import genziqa.core.data.kadid, genziqa.core.data.agiqa, genziqa.core.data.generic
import genziqa.core.evaluation.metrics, genziqa.core.evaluation.plot, genziqa.core.evaluation.report
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "diffusers", "transformers", "peft"))
print(heavy)
"""


def test_data_and_evaluation_import_no_torch():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"core/data or core/evaluation pulled in: {done.stdout.strip()}"


def test_no_module_of_the_rooms_names_torch():
    for room in ("data", "evaluation"):
        for path in (ROOT / "core" / room).rglob("*.py"):
            text = path.read_text()
            assert "import torch" not in text and "from torch" not in text, path
