"""Packaging: one import identity, light entry points, requirements in step."""

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import genziqa

ROOT = Path(genziqa.__file__).resolve().parent


def test_import_genziqa_is_light():
    # ComfyUI imports the root package at start-up: it must not pull torch or diffusers.
    code = "import sys, genziqa; print('torch' in sys.modules, 'diffusers' in sys.modules, genziqa.NODE_CLASS_MAPPINGS)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["False", "False"]


def test_public_api_resolves_lazily():
    assert genziqa.load is genziqa.core.load
    assert genziqa.GenzIQAConfig().lse_lambda == 0.14


def test_folder_works_under_another_module_name(tmp_path):
    # ComfyUI loads custom_nodes/<folder>/__init__.py under a name of its own choosing.
    spec = importlib.util.spec_from_file_location("custom_nodes_genziqa_copy", ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert isinstance(module.NODE_CLASS_MAPPINGS, dict)
        assert module.GenzIQAConfig().n_ctx == 16  # relative imports reach core under that name too
    finally:
        for name in [n for n in sys.modules if n.startswith(spec.name)]:
            del sys.modules[name]


def test_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = importlib.util.spec_from_file_location("genziqa_install", ROOT / "install.py")
    install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install)
    assert sorted(install.requirements()) == sorted(d for d in project if not d.startswith("torch"))
    assert install.missing(install.requirements()) == []  # idempotent: nothing left to install here
    assert install.missing(["surely-not-installed-genziqa-test-package>=1"]) == ["surely-not-installed-genziqa-test-package>=1"]
    assert install.missing(["numpy>=999"]) == ["numpy>=999"]


def test_every_package_folder_is_in_the_wheel():
    # setuptools is given an explicit package list (the repository root is the package), so a new
    # sub-folder would be silently left out of wheels: every folder with an __init__.py is listed.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"genziqa"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and not any(p.startswith(".") or p in ("tests", "build", "dist") or p.endswith(".egg-info")
                                 for p in rel.parts):
            found.add(".".join(("genziqa", *rel.parts)))
    assert found == listed


def test_the_suite_collects_from_a_folder_whose_name_is_no_identifier(tmp_path):
    # A ZIP download unpacks to genziqa-main/: pytest imports the root __init__.py there as a lone
    # file, without a package, and that must not fail collection.
    folder = tmp_path / "genziqa-main"
    folder.mkdir()
    (folder / "__init__.py").write_text((ROOT / "__init__.py").read_text())
    (folder / "tests").mkdir()
    (folder / "tests" / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                           "--rootdir", str(folder), str(folder / "tests")], capture_output=True, text=True, cwd=folder,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
