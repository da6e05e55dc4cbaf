"""``genziqa demo``: options, the localhost default, and what it says without Gradio."""

from __future__ import annotations

import builtins

import pytest

from genziqa.core.cli import main

pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'genziqa[demo]')")


@pytest.fixture()
def launched(monkeypatch):
    """Stand in for the server: record how the demo would be launched, and return at once."""
    import genziqa.gradio_app as gradio_app

    calls = []
    monkeypatch.setattr(gradio_app, "launch", lambda demo, **kwargs: calls.append((demo, kwargs)))
    return calls


def test_help_lists_the_server_and_model_options(capsys):
    assert main(["demo", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--backbone", "--weights", "--device", "--dtype", "--port", "--share", "--host"):
        assert option in text
    assert "127.0.0.1" in text


def test_demo_listens_on_localhost_unless_asked(launched, tiny_sd2_dir, capsys):
    model = ["--backbone", str(tiny_sd2_dir), "--device", "cpu", "--resolution", "64"]
    assert main(["demo", *model]) == 0
    demo, kwargs = launched[-1]
    assert kwargs == {"host": "127.0.0.1", "port": None, "share": False}
    assert not demo.genziqa_model.loaded, "the page must come up before the model loads"
    assert "zero-shot" in capsys.readouterr().err

    assert main(["demo", *model, "--host", "0.0.0.0", "--port", "7999", "--share"]) == 0
    assert launched[-1][1] == {"host": "0.0.0.0", "port": 7999, "share": True}


def test_bad_options_fail_before_any_server(launched, tmp_path, capsys):
    assert main(["demo", "--port", "70000"]) == 2
    assert "outside 1..65535" in capsys.readouterr().err
    assert main(["demo", "--backbone", str(tmp_path / "missing"), "--device", "cpu"]) == 2
    assert "missing" in capsys.readouterr().err
    assert launched == []


def test_without_gradio_it_says_how_to_install_it(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_gradio(name, *args, **kwargs):
        if name == "gradio" or name.startswith("gradio."):
            raise ImportError("No module named 'gradio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert main(["demo"]) == 2
    assert "pip install 'genziqa[demo]'" in capsys.readouterr().err
