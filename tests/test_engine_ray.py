"""The Ray engine (core/engines/ray.py) on a local 2-CPU Ray instance with a tiny backbone.

Jobs run CPU actors (``device="cpu"``, one actor of one CPU) at 64 px. Tests that need only
pyarrow (sources, shards, compaction, remote decoding) run without Ray; the Ray ones skip
where Ray is not installed (``pip install -e ".[ray]"``).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

import genziqa
from genziqa.core.config import GenzIQAConfig
from genziqa.core.engines.rows import FIELDS
from genziqa.core.results import ScoredImage

pa = pytest.importorskip("pyarrow", reason="the Ray engine's shards need pyarrow: pip install -e '.[ray]'")
import pyarrow.parquet as pq  # noqa: E402

from genziqa.core.engines import ray as engine  # noqa: E402

CONFIG = replace(GenzIQAConfig(), resolution=64)
JOB = dict(config=CONFIG, device="cpu", unet_rows=64, concurrency=1, cpus_per_actor=1)
CLI_MODEL = ["--resolution", "64", "--unet-rows", "64", "--device", "cpu", "--concurrency", "1",
             "--cpus-per-actor", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance of 2 CPUs for the whole module; its address, for other processes."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def photos(folder: Path, names=("astronaut", "chelsea", "coffee")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.png"
        image = getattr(data, name)()
        Image.fromarray(image[::4, ::4]).save(path)  # a quarter size: decoding is not what is tested
        paths.append(path)
    return paths


def corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return path


def rows_of(out: Path) -> list[dict]:
    """Every row of every shard file, read straight with pyarrow (no deduplication)."""
    return [row for shard in sorted(out.glob("part-*.parquet")) for row in pq.read_table(shard).to_pylist()]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not (p.name.startswith("part-") and p.suffix == ".parquet"))


# -- with Ray --------------------------------------------------------------------------------


def test_scores_equal_the_local_engine_and_a_corrupt_file_is_one_error_row(cluster, tiny_sd2_dir, tmp_path):
    images = photos(tmp_path / "in")
    bad = corrupt(tmp_path / "in" / "broken.png")
    out = tmp_path / "shards"
    job = engine.prepare_job([tmp_path / "in"], out, backbone=str(tiny_sd2_dir), batch_size=2, **JOB)
    assert (len(job.paths), len(job.todo), job.actors) == (4, 4, 1)
    summary = job.run(progress=False)
    assert (summary.total, summary.scored, summary.failed, summary.skipped, summary.shards) == (4, 3, 1, 0, 2)
    assert summary.failures[0].source == str(bad)

    rows = rows_of(out)  # two shards of two images, nothing else in the folder
    assert leftovers(out) == [] and len(rows) == 4
    assert pq.read_table(next(out.glob("part-*.parquet"))).column_names == list(FIELDS)
    by_path = {r["path"]: r for r in rows}
    assert by_path[str(bad)]["score"] is None and "cannot be read as an image" in by_path[str(bad)]["error"]
    assert all(r["run"] == job.run_id and r["model"].startswith("zero-shot") for r in rows)

    local = genziqa.load(backbone=str(tiny_sd2_dir), config=CONFIG, device="cpu", unet_rows=64)
    assert local.run_id == job.run_id
    expected = local.score([str(p) for p in images])
    got = [by_path[str(p)]["score"] for p in images]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert all(by_path[str(p)]["error"] is None for p in images)


def test_a_list_file_and_a_parquet_table_are_sources_of_the_command(cluster, tiny_sd2_dir, tmp_path, capsys,
                                                                   monkeypatch):
    from genziqa.core.cli import main

    monkeypatch.chdir(tmp_path)  # --out relative to here, not to the Ray workers' folder

    images = photos(tmp_path / "in")
    listing = tmp_path / "in" / "todo.txt"  # relative paths: resolved from the list's own folder
    listing.write_text("astronaut.png\n\nchelsea.png\nastronaut.png\n")
    table = tmp_path / "todo.parquet"  # two of the same and one more, under another column name
    pq.write_table(pa.table({"file": [str(p) for p in images[1:]], "mos": [2.0, 3.0]}), table)
    out = tmp_path / "shards"
    argv = ["score", str(listing), str(table), "--path-column", "file", "--engine", "ray", "--out", "shards",
            "--backbone", str(tiny_sd2_dir), *CLI_MODEL]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "3 images (3 to score)" in err and "untrained scores, for ranking only" in err
    assert "1 actor x 1 CPU, cpu in float32, 4 images per shard" in err and "scored 3, failed 0" in err
    merged = engine.read_shards(out)
    assert merged.column("path").to_pylist() == sorted(str(p) for p in images)
    assert len(rows_of(out)) == 3 and leftovers(out) == []


def test_a_killed_job_and_a_dying_worker_end_with_exactly_one_row_per_image(cluster, tiny_sd2_dir, tmp_path,
                                                                          monkeypatch):
    import ray

    images = photos(tmp_path / "in", names=("astronaut", "chelsea", "coffee", "rocket", "camera"))
    out = tmp_path / "shards"
    # 1. A driver in another process, one image per shard, killed once its first shard exists.
    script = textwrap.dedent(f"""
        import dataclasses, ray
        from genziqa.core.config import GenzIQAConfig
        from genziqa.core.engines.ray import score_to_shards
        ray.init(address={cluster!r}, logging_level="warning")
        score_to_shards([{str(tmp_path / 'in')!r}], {str(out)!r}, backbone={str(tiny_sd2_dir)!r}, batch_size=1,
                        progress=False, config=dataclasses.replace(GenzIQAConfig(), resolution=64), device="cpu",
                        unet_rows=64, concurrency=1, cpus_per_actor=1)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", engine._TEST_FAULTS: json.dumps({"pause_s": 2.0})}
    job = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list(out.glob("part-*.parquet")) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    job.send_signal(signal.SIGKILL)  # the driver dies; Ray ends its actor
    job.wait()
    written = len(list(out.glob("part-*.parquet")))
    assert 1 <= written < len(images), job.stderr.read().decode()[-2000:]
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the dead driver's actor has let go of its CPU (and stopped writing)
    (out / ".part-0123.parquet.abc.tmp").write_bytes(b"PAR1 half a shard")  # as a kill mid-write leaves

    # 2. The rerun's actor writes its first shard, then its process exits before Ray hears of the
    # result: Ray restarts it and retries that batch, which rewrites the same shard.
    marker = tmp_path / "crashed"
    monkeypatch.setenv(engine._TEST_FAULTS, json.dumps({"crash_once": str(marker)}))
    summary = engine.score_to_shards([tmp_path / "in"], out, backbone=str(tiny_sd2_dir), batch_size=2,
                                     progress=False, **JOB)
    assert marker.exists()  # it did die
    assert summary.skipped == written and summary.scored == len(images) - written and summary.failed == 0
    rows = rows_of(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in images)  # exactly one row each
    assert all(r["score"] is not None for r in rows) and leftovers(out) == []


def test_another_runs_folder_is_refused_before_any_model_loads(cluster, tiny_sd2_dir, tmp_path, capsys):
    from genziqa.core.cli import main

    [image] = photos(tmp_path / "in", names=("chelsea",))
    out = tmp_path / "shards"
    other = ("backbone=x;weights=zero-shot;method=y;resolution=512;dtype=float32;prediction=auto")
    engine._Folder(out).create()
    engine._Folder(out).write("part-old.parquet", engine._shard_table(
        [ScoredImage(source=str(image), score=0.5, model="m", run=other)]))
    before = time.monotonic()
    argv = ["score", str(image), "--engine", "ray", "--out", str(out), "--backbone", str(tiny_sd2_dir), *CLI_MODEL]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "resolution: 64 here, 512 in the file" in err and "Traceback" not in err
    assert time.monotonic() - before < 30  # no actor started, no model loaded
    assert [p.name for p in out.iterdir()] == ["part-old.parquet"]


# -- without Ray -----------------------------------------------------------------------------


def test_local_engine_and_default_score_command_never_import_ray(tiny_sd2_dir, tmp_path):
    [image] = photos(tmp_path, names=("coffee",))
    script = textwrap.dedent(f"""
        import sys
        import genziqa.core.engines.local
        from genziqa.core.cli import main
        code = main(["score", {str(image)!r}, "--out", {str(tmp_path / 's.csv')!r}, "--no-progress",
                     "--backbone", {str(tiny_sd2_dir)!r}, "--resolution", "64", "--device", "cpu"])
        print(code, sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "[]"]


@pytest.mark.parametrize("argv, message", [
    (["score", "{img}", "--out", "s.csv", "--address", "auto"], "--address applies to --engine ray only"),
    (["score", "{img}", "--out", "s.csv", "--batch-size", "8", "--concurrency", "2"], "apply to --engine ray only"),
    (["score", "{img}", "--engine", "ray", "--out", "{file}"], "is a file; --engine ray writes a folder"),
    (["score", "missing.txt", "--engine", "ray", "--out", "o"], "source not found: 'missing.txt'"),
    (["score", "{table}", "--engine", "ray", "--out", "o"], "has no column 'path' (its columns: file, mos)"),
    (["score", "{img}", "--engine", "ray", "--out", "o", "--device", "cuda:1"], "name no index"),
    (["score", "{img}", "--engine", "ray", "--out", "o", "--gpus-per-actor", "0"], "must be above 0"),
])
def test_ray_usage_errors_exit_2_before_reaching_ray(argv, message, tmp_path, monkeypatch, capsys):
    from genziqa.core.cli import main

    monkeypatch.chdir(tmp_path)
    [image] = photos(tmp_path, names=("chelsea",))
    (tmp_path / "results.csv").write_text("")
    pq.write_table(pa.table({"file": ["a.png"], "mos": [1.0]}), tmp_path / "t.parquet")
    argv = [a.format(img=image, file=tmp_path / "results.csv", table=tmp_path / "t.parquet") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_sources_lists_tables_and_folders(tmp_path):
    images = photos(tmp_path / "in" / "sub")
    (tmp_path / "in" / ".hidden.png").write_bytes(b"x")
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("sub/astronaut.png\n\n  sub/chelsea.png  \n/elsewhere/x.png\ns3://bucket/y.jpg\n")
    csv = tmp_path / "t.csv"
    csv.write_text(f"path,mos\nin/sub/coffee.png,3\n{images[0]},1\n")
    got = engine.list_sources([tmp_path / "in", listing, csv])
    assert got == [str(images[0]), str(images[1]), str(images[2]), "/elsewhere/x.png", "s3://bucket/y.jpg"]

    # The same folder through a URI: listed with pyarrow, paths kept as URIs.
    uri = (tmp_path / "in").as_uri()
    assert engine.list_sources([uri]) == [f"file://{p}" for p in sorted(map(str, images))]

    with pytest.raises(engine.ShardError, match="no column 'file'"):
        engine.list_sources([csv], path_column="file")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(engine.ShardError, match="cannot read .*bad.parquet"):
        engine.list_sources([bad])


def test_decoding_a_uri_gives_the_pixels_of_the_local_file_and_errors_name_it(tmp_path):
    [image] = photos(tmp_path, names=("astronaut",))
    bad = corrupt(tmp_path / "bad.png")
    paths = [str(image), image.as_uri(), bad.as_uri(), (tmp_path / "gone.png").as_uri()]
    batch = engine._decode({"path": np.array(paths, dtype=object)}, resolution=64, resize="torch")
    assert batch["pixels"].shape == (4, 3, 64, 64) and batch["pixels"].dtype == np.float32
    np.testing.assert_array_equal(batch["pixels"][0], batch["pixels"][1])
    assert list(batch["error"][:2]) == ["", ""]
    assert batch["error"][2].startswith(bad.as_uri()) and "cannot be read as an image" in batch["error"][2]
    assert batch["error"][3].startswith(f"{(tmp_path / 'gone.png').as_uri()}: cannot be read")


def test_compaction_keeps_one_row_per_path_a_score_beating_an_error(tmp_path):
    folder = engine._Folder(tmp_path / "out")
    folder.create()
    run = "backbone=b;weights=zero-shot;method=m;resolution=64;dtype=float32;prediction=auto"

    def row(path, score=None):
        return ScoredImage(source=path, score=score, error=None if score is not None else f"{path}: broken",
                           model="m", run=run)

    folder.write("part-a.parquet", engine._shard_table([row("/x.png"), row("/y.png", 0.25)]))
    time.sleep(0.05)  # later shards are newer
    folder.write("part-b.parquet", engine._shard_table([row("/x.png", 0.5)]))  # a retried failure
    folder.write("part-c.parquet", engine._shard_table([row("/y.png", 0.25)]))  # a duplicated batch
    merged = engine.read_shards(folder.name)
    assert merged.to_pylist() == [
        {"path": "/x.png", "score": 0.5, "model": "m", "run": run, "error": None},
        {"path": "/y.png", "score": 0.25, "model": "m", "run": run, "error": None},
    ]
    contents, dropped = engine._compact(folder)
    assert dropped == 2 and sorted(contents.tables) == ["part-b.parquet", "part-c.parquet"]
    assert sorted(r["path"] for r in rows_of(Path(folder.name))) == ["/x.png", "/y.png"]
    assert contents.done() == {"/x.png", "/y.png"}

    (Path(folder.name) / "part-d.parquet").write_bytes(b"PAR1 damaged")
    with pytest.raises(engine.ShardError, match="part-d.parquet cannot be read"):
        engine.read_shards(folder.name)
