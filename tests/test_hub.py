"""The hub path, offline: a Hugging Face cache laid out by hand stands in for the hub.

Run in a subprocess so HF_HUB_CACHE is read fresh; with HF_HUB_OFFLINE=1 the libraries resolve
repo ids and revisions from the cache exactly as they do after a real download.
"""

import json
import shutil
import subprocess
import sys
import textwrap

from genziqa.core.backbone import PINNED_REVISIONS, SD21_BASE


def _snapshot(cache, repo, revision, source):
    root = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(source, root / "snapshots" / revision)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(revision)


def test_hub_ids_resolve_at_the_pinned_revision(tmp_path, tiny_sd2_dir, trained_sd2):
    cache = tmp_path / "hub"
    pinned = PINNED_REVISIONS[SD21_BASE]
    _snapshot(cache, SD21_BASE, pinned, tiny_sd2_dir)
    weights_rev = "0" * 40
    weights = tmp_path / "weights"
    shutil.copytree(trained_sd2, weights)
    meta = json.loads((weights / "config.json").read_text())
    meta["backbone"].update(id=SD21_BASE, revision=pinned)
    (weights / "config.json").write_text(json.dumps(meta))
    _snapshot(cache, "someone/genziqa-weights", weights_rev, weights)
    code = textwrap.dedent(f"""
        import json, genziqa
        from genziqa.core.backbone import load_backbone
        bb = load_backbone("sd21base")            # short name -> pinned mirror revision
        zero = genziqa.load(config=genziqa.GenzIQAConfig(resolution=64))
        trained = genziqa.load("someone/genziqa-weights")   # weights name their hub backbone
        try:
            load_backbone("{SD21_BASE}", revision="{'f' * 40}")
            other = "loaded"
        except genziqa.BackboneError as err:
            other = str(err)
        print(json.dumps({{"source": bb.source, "revision": bb.revision, "zero": zero.label,
                           "trained": trained.label, "other": other}}))
    """)
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["source"] == SD21_BASE and result["revision"] == pinned
    assert result["zero"].startswith(f"zero-shot · {SD21_BASE}@{pinned[:12]}")
    assert result["trained"].startswith(f"genziqa:someone/genziqa-weights · {SD21_BASE}@{pinned[:12]}")
    assert SD21_BASE in result["other"] and "not in the local cache" in result["other"]  # an uncached revision fails clearly
