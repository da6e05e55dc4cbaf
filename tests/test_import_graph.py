"""The house rules that the import graph can check (see CRAFT.md): the kernel imports none of the
rooms, core imports no adapter, and the adapters never import each other."""

import ast
from pathlib import Path

import genziqa

ROOT = Path(genziqa.__file__).resolve().parent
ROOMS = ("cli", "data", "evaluation", "training", "engines")


def imports(path: Path) -> set[str]:
    """Absolute names of the genziqa modules (and others) that ``path`` imports, at any depth."""
    package = ["genziqa", *path.relative_to(ROOT).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def under(name: str, *prefixes: str) -> bool:
    """``name`` is one of ``prefixes`` or inside one (``genziqa.core.cli`` does not cover ``clip_vocab``)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_kernel_imports_none_of_the_rooms():
    for path in sorted((ROOT / "core").glob("*.py")):
        bad = {m for m in imports(path) if under(m, *(f"genziqa.core.{room}" for room in ROOMS))}
        assert not bad, f"{path.name} (kernel) imports {sorted(bad)}"


def test_core_imports_no_adapter():
    for path in modules("core"):
        names = imports(path)
        bad = {m for m in names if under(m, "genziqa.comfy_nodes", "comfy", "comfy_execution", "folder_paths")}
        if path.relative_to(ROOT).as_posix() != "core/cli/demo.py":  # the command that launches the demo
            bad |= {m for m in names if under(m, "genziqa.gradio_app", "gradio", "gradio_client")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_adapters_never_import_each_other():
    for folder, other in (("comfy_nodes", "genziqa.gradio_app"), ("gradio_app", "genziqa.comfy_nodes")):
        for path in modules(folder):
            bad = {m for m in imports(path) if under(m, other)}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_checker_sees_relative_imports():
    # The rules above are only as good as the resolution of relative imports.
    assert "genziqa.core.results" in imports(ROOT / "core" / "engines" / "local.py")
    assert "genziqa.core.method" in imports(ROOT / "core" / "scoring.py")
