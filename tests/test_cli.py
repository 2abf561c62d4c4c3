import json
import subprocess
import sys

import pytest

from keras_unsup import cli


def test_list_shows_every_family(capsys):
    cli.main(["list"])
    out = capsys.readouterr().out
    assert "autoencoders:" in out
    for name in ("dense-ae", "sparse-ae", "denoising-ae", "vae"):
        assert f"  {name} " in out


def test_unknown_method_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "nope"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("keras-unsup: error: METHOD must be one of")
    assert "Received: 'nope'" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_run_is_quiet_and_writes_metrics(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "keras_unsup.cli", "run", "dense-ae", "--epochs", "1",
         "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "oneDNN" not in proc.stderr and "cuda" not in proc.stderr.lower()
    assert "step - loss:" in proc.stdout  # Keras' progress bar is shown
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "dense-ae" and metrics["quick"] is True


@pytest.mark.slow
def test_benchmark_writes_markdown_and_json(tmp_path, capsys):
    cli.main(["benchmark", "--methods", "dense-ae,vae", "--epochs", "1", "--quick",
              "--seeds", "0,1", "--out", str(tmp_path)])
    table = (tmp_path / "results.md").read_text()
    assert "| method | ACC | NMI | ARI | training time | seeds |" in table
    assert "| dense-ae |" in table and "| vae |" in table
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["dense-ae", "vae"]
    acc = rows[0]["summary"]["acc"]
    runs = [r["acc"] for r in rows[0]["runs"]]
    assert acc["n"] == 2 and acc["min"] == min(runs) and acc["max"] == max(runs)


def test_set_values_are_parsed_by_the_declared_kind():
    from keras_unsup.recipes import get_recipe
    from keras_unsup.recipes.options import parse_set_flags, resolve_options

    texts = parse_set_flags(["queue_size=64", "momentum=0.99", "projection_dim=null",
                             "filters=[8, 16]", "crop_scale=[0.5, 1]", "plot=false"])
    options = resolve_options(get_recipe("moco"), texts, flag="--set", from_text=True)
    assert options["queue_size"] == 64 and options["momentum"] == 0.99
    assert options["projection_dim"] is None and options["filters"] == [8, 16]
    assert options["crop_scale"] == [0.5, 1.0] and options["plot"] is False
    assert options["temperature"] == 0.1  # a default fills what was not given
    # text options keep the text, "=" inside a value included
    assert parse_set_flags(["expr=a=b"]) == {"expr": "a=b"}
    with pytest.raises(ValueError, match=r"`--set` expects KEY=VALUE. Received: --set queue_size"):
        parse_set_flags(["queue_size"])
