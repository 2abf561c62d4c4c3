"""Options declared once: the same declaration checks `run_recipe`, `--set`, `--help`
and fills metrics.json, for one method of each family."""

import json
import subprocess
import sys
import time

import pytest

from keras_unsup import cli
from keras_unsup.recipes import get_recipe, list_recipes, run_recipe
from keras_unsup.recipes.options import Option, option_names, options_help, resolve_options

ONE_PER_FAMILY = ["vae", "dec", "infogan", "moco"]
INTERNAL = ("default_epochs", "quick_epochs", "epochs")


def _cli_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_every_recipe_declares_each_option_once_with_help():
    for recipe in list_recipes():
        names = option_names(recipe)
        assert len(names) == len(set(names)), recipe.name
        assert not set(names) & set(INTERNAL), recipe.name
        for option in recipe.options:
            assert option.help and "\n" not in option.help
            # every default passes its own check
            assert option.check(option.default, option.name) == option.default or \
                option.kind in ("interval", "ints")


@pytest.mark.parametrize("method", ONE_PER_FAMILY)
def test_unknown_key_is_refused_before_any_work_and_lists_the_options(method, monkeypatch):
    from keras_unsup import recipes

    def no_data(config):  # the data must not even be loaded
        raise AssertionError("data loaded before the options were checked")

    monkeypatch.setattr(recipes, "load_run_data", no_data)
    with pytest.raises(ValueError) as info:
        run_recipe(method, "digits", foo=1)
    message = str(info.value)
    assert f"{method!r} has no option `foo`" in message
    for name in option_names(get_recipe(method)):
        assert name in message
    for internal in INTERNAL:
        assert internal not in message


@pytest.mark.parametrize("method, key, bad, expected", [
    ("vae", "code_size", "abc", "must be an integer >= 1"),
    ("dec", "tol", 2.0, "must be a number in [0.0, 1.0]"),
    ("infogan", "n_continuous", -1, "must be an integer >= 0"),
    ("moco", "momentum", "fast", "must be a number in [0.0, 1.0]"),
])
def test_value_of_the_wrong_kind_names_method_and_key(method, key, bad, expected, monkeypatch):
    from keras_unsup import recipes

    monkeypatch.setattr(recipes, "load_run_data", lambda config: pytest.fail("data loaded"))
    with pytest.raises(ValueError) as info:
        run_recipe(method, "digits", **{key: bad})
    message = str(info.value)
    assert message.startswith(f"{method}: `{key}` {expected}")
    assert f"Received: {key}={bad!r}" in message


@pytest.mark.parametrize("method", ONE_PER_FAMILY)
def test_set_flag_errors_exit_2_with_the_flag_as_typed(method, capsys):
    line = _cli_error(capsys, ["run", method, "--set", "foo=bar"])
    assert line.startswith("keras-unsup: error:") and "`--set foo`" in line
    assert "Valid options of" in line
    line = _cli_error(capsys, ["run", method, "--set", "foo"])
    assert line == "keras-unsup: error: `--set` expects KEY=VALUE. Received: --set foo"


def test_set_value_of_the_wrong_kind_names_the_flag(capsys):
    line = _cli_error(capsys, ["run", "vae", "--set", "code_size=abc"])
    assert line == ("keras-unsup: error: vae: `--set code_size` must be an integer >= 1. "
                    "Received: --set code_size='abc'")


def test_other_flags_are_named_as_typed(capsys, tmp_path):
    line = _cli_error(capsys, ["run", "vae", "--dataset", "nosuchdata"])
    assert "`--dataset` must be one of" in line and "Received: --dataset nosuchdata" in line
    line = _cli_error(capsys, ["run", "vae", "--epochs", "0"])
    assert line.startswith("keras-unsup: error:") and "--epochs" in line and "'0'" in line
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    line = _cli_error(capsys, ["run", "moco", "--quick", "--out", str(tmp_path / "run"),
                               "--set", f"init_model={bad}"])
    assert "`--set init_model` is not a readable Keras model file" in line
    assert "not found" not in line.lower()


def test_run_method_help_lists_its_options_fast_and_without_tensorflow():
    code = ("import sys, time; t = time.perf_counter()\n"
            "from keras_unsup import cli\n"
            "try:\n    cli.main(['run', 'moco', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "print('SECONDS', time.perf_counter() - t)\n"
            "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "TF False False" in out
    assert "queue_size=INT" in out and "keys in the queue of negatives" in out
    assert "--epochs EPOCHS" in out and "training epochs" in out
    assert "--seed SEED" in out and "seed of every random choice" in out
    assert wall < 3.0  # the interpreter's own start included; the help itself:
    assert float(out.split("SECONDS")[1].split()[0]) < 1.5


def test_metrics_json_records_every_resolved_option(tmp_path):
    metrics = run_recipe("kmeans", "digits", quick=True, out_dir=tmp_path, verbose=0,
                         n_init=2, plot_projection="pca")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["options"] == metrics["options"]
    assert saved["options"] == {"n_clusters": None, "plot_points": 1500,
                                "plot_projection": "pca", "n_init": 2}


def test_option_table_and_declaration_checks():
    recipe = get_recipe("vae")
    table = options_help(recipe)
    assert table.splitlines()[0] == "options of vae (--set KEY=VALUE, repeatable):"
    assert "code_size=INT" in table and "(default: 10)" in table
    with pytest.raises(ValueError, match="`kind` must be one of"):
        Option("x", "complex", 1, "help")
    resolved = resolve_options(recipe, {"code_size": 3})
    assert list(resolved) == option_names(recipe) and resolved["code_size"] == 3
