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


def test_seed_suite_sets_each_headline_figure_beside_the_seed_table():
    from keras_unsup.recipes.benchmark import SUITES, suite_methods, suite_table

    def row(method, **figures):
        summary = {k: {"median": v, "min": v, "max": v, "n": 1} for k, v in figures.items()}
        return {"method": method, "seeds": [0], "summary": summary}

    rows = [row("moco", acc=0.4, linear_probe_acc=0.97, wall_time_s=250.0),
            row("kmeans", acc=0.8, wall_time_s=3.0)]
    table, markdown = suite_table("seed", rows, "digits")
    # In the suite's order, judged by each method's own metric (MoCo: the linear probe).
    assert [r["method"] for r in table] == ["kmeans", "moco"]
    moco = table[1]
    assert moco["metric"] == "linear_probe_acc" and moco["ours"] == 0.97
    assert moco["seed"] == 0.969 and moco["seed_time_s"] == 300
    assert "| moco | linear_probe_acc | 0.970 | 4.2 min | 0.969 | 5.0 min |" in markdown
    assert "| kmeans | acc | 0.800 | 3 s | 0.752 | 22 s |" in markdown
    registered, missing = suite_methods("seed")
    assert {"kmeans", "gmm", "ae-gmm", "infogan", "moco", "dec"} <= set(registered)
    assert set(registered) | set(missing) == {r.method for r in SUITES["seed"]}
    with pytest.raises(ValueError, match=r"`suite` must be one of \['seed'\]\. Received: "
                                         r"suite='nope'"):
        suite_methods("nope")


def test_suite_and_methods_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["benchmark", "--suite", "seed", "--methods", "kmeans"])
    assert exit_info.value.code == 2
    assert "give `--suite` or `--methods`, not both" in capsys.readouterr().err


@pytest.mark.slow
def test_seed_suite_runs_in_quick_mode_and_writes_its_table(tmp_path, capsys):
    cli.main(["benchmark", "--suite", "seed", "--dataset", "digits", "--quick",
              "--out", str(tmp_path)])
    suite = json.loads((tmp_path / "suite_seed.json").read_text())
    methods = [r["method"] for r in suite["rows"]]
    assert methods[:5] == ["kmeans", "gmm", "ae-gmm", "infogan", "moco"]
    for r in suite["rows"]:
        assert 0.0 <= r["ours"] <= 1.0 and r["wall_time_s"] > 0
    assert "| kmeans | acc |" in capsys.readouterr().out
